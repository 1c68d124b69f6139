package blocklist_test

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/edgeguard/edgeguard/filters/blocklist"
	"github.com/edgeguard/edgeguard/proxy/config/confnode"
)

func decodeAbuse(t *testing.T, yaml string) (blocklist.AbuseConfig, error) {
	t.Helper()
	root, errs := confnode.Parse("edgeguard.yaml", []byte(yaml))
	if err := errs.Err(); err != nil {
		return blocklist.AbuseConfig{}, err
	}
	cfg, _ := blocklist.DecodeAbuseConfig(root.Field("abuse"))
	return cfg, errs.Err()
}

func newDetector(t *testing.T, yaml string, c *clock) (*blocklist.Detector, *blocklist.List, *[]blocklist.AbuseBlock) {
	t.Helper()
	cfg, err := decodeAbuse(t, yaml)
	if err != nil {
		t.Fatal(err)
	}
	l := open(t, "", c)
	var blocks []blocklist.AbuseBlock
	d, err := blocklist.NewDetector(cfg, l, blocklist.DetectorOptions{OnBlock: func(b blocklist.AbuseBlock) { blocks = append(blocks, b) }})
	if err != nil {
		t.Fatal(err)
	}
	return d, l, &blocks
}

func TestAbuseBlocksRepeated401(t *testing.T) {
	c := newClock()
	d, l, blocks := newDetector(t, "abuse: {enabled: true}\n", c)
	ip := addr("203.0.113.7")
	// 10 failed logins = 100 points: not more than the threshold yet
	for i := range 10 {
		if d.Observe(ip, 401, "jwt", c.Now()) {
			t.Fatalf("blocked after %d events", i+1)
		}
		c.Advance(time.Second)
	}
	if got := d.Score(ip, c.Now()); got != 100 {
		t.Errorf("score %v, want 100", got)
	}
	// successes and unweighted statuses do not count
	d.Observe(ip, 200, "", c.Now())
	d.Observe(ip, 404, "", c.Now())
	d.Observe(ip, 500, "", c.Now())
	if l.Contains(ip) {
		t.Fatal("blocked too early")
	}
	if !d.Observe(ip, 401, "jwt", c.Now()) {
		t.Fatal("11th 401 did not block")
	}
	if !l.Contains(ip) {
		t.Fatal("not in the blocklist")
	}
	if len(*blocks) != 1 {
		t.Fatalf("callback called %d times", len(*blocks))
	}
	b := (*blocks)[0]
	if b.Addr != ip || b.Score != 110 || b.Threshold != 100 || b.Status != 401 || b.Entry.Source != blocklist.SourceAbuse ||
		!b.Entry.ExpiresAt.Equal(c.Now().Add(time.Hour)) || b.Entry.Prefix != netip.PrefixFrom(ip, 32) {
		t.Errorf("block %+v", b)
	}
	if !strings.Contains(b.Entry.Reason, "abuse score 110 > 100 within 1m0s (last event: jwt 401)") {
		t.Errorf("reason %q", b.Entry.Reason)
	}
	// further events of the blocked address do not block again
	for range 20 {
		d.Observe(ip, 401, "", c.Now())
	}
	if len(*blocks) != 1 || d.Blocks() != 1 {
		t.Errorf("blocked again: %d", len(*blocks))
	}
	// the block expires after block_ttl
	c.Advance(time.Hour)
	if l.Contains(ip) {
		t.Error("still blocked after block_ttl")
	}
}

func TestAbuseWindowDecay(t *testing.T) {
	c := newClock()
	d, l, _ := newDetector(t, "abuse: {enabled: true}\n", c)
	ip := addr("198.51.100.1")
	// 8 failures per minute forever: 80 points a minute never crosses 100
	for range 30 {
		for range 8 {
			d.Observe(ip, 401, "", c.Now())
			c.Advance(7500 * time.Millisecond)
		}
	}
	if l.Contains(ip) {
		t.Error("a steady rate under the threshold got blocked")
	}
	// but 15 in the next 30 seconds does
	for range 15 {
		d.Observe(ip, 401, "", c.Now())
		c.Advance(2 * time.Second)
	}
	if !l.Contains(ip) {
		t.Errorf("burst not blocked (score %v)", d.Score(ip, c.Now()))
	}
}

func TestAbuseWeightsAndEvents(t *testing.T) {
	c := newClock()
	d, l, blocks := newDetector(t, `
abuse:
  enabled: true
  threshold: 50
  block_ttl: 10m
  weights:
    401: 0          # failed logins do not count here
    "429": 10
    request-validator: 20
    bot-detection: 60
  exempt: [10.0.0.0/8, "2001:db8:1::/48"]
`, c)
	// a bot rejection alone is enough
	if !d.Observe(addr("203.0.113.1"), 403, "bot-detection", c.Now()) {
		t.Error("bot rejection (60 > 50) did not block")
	}
	// 400 from the validator weighs 20; 400 from the upstream nothing
	ip := addr("203.0.113.2")
	d.Observe(ip, 400, "", c.Now())
	d.Observe(ip, 400, "request-validator", c.Now())
	d.Observe(ip, 400, "request-validator", c.Now())
	if got := d.Score(ip, c.Now()); got != 40 {
		t.Errorf("validator score %v, want 40", got)
	}
	d.Observe(ip, 429, "rate-limiting", c.Now()) // no plugin weight: status weight
	if l.Contains(ip) {
		t.Error("50 points blocked, but only more than the threshold should")
	}
	d.Observe(ip, 429, "", c.Now())
	if !l.Contains(ip) {
		t.Error("validator + 429 did not block")
	}
	// 401 has weight 0 in this config
	for range 100 {
		d.Observe(addr("203.0.113.3"), 401, "jwt", c.Now())
	}
	if l.Contains(addr("203.0.113.3")) {
		t.Error("zero-weight events blocked")
	}
	// exempt networks are never blocked
	for range 10 {
		d.Observe(addr("10.1.2.3"), 403, "bot-detection", c.Now())
		d.Observe(addr("::ffff:10.1.2.4"), 403, "bot-detection", c.Now())
		d.Observe(addr("2001:db8:1::5"), 403, "bot-detection", c.Now())
	}
	if l.Contains(addr("10.1.2.3")) || l.Contains(addr("10.1.2.4")) || l.Contains(addr("2001:db8:1::5")) {
		t.Error("exempt address blocked")
	}
	// the blocklist's own rejections never count
	for range 10 {
		d.Observe(addr("203.0.113.4"), 403, blocklist.RejectedBy, c.Now())
	}
	if l.Contains(addr("203.0.113.4")) {
		t.Error("blocklist rejections counted")
	}
	if len(*blocks) != 2 {
		t.Errorf("%d blocks", len(*blocks))
	}
}

func TestAbuseIPv6Prefix(t *testing.T) {
	c := newClock()
	d, l, blocks := newDetector(t, "abuse: {enabled: true, threshold: 25}\n", c)
	// three addresses of one /64 add up
	d.Observe(addr("2001:db8:0:1::1"), 401, "", c.Now())
	d.Observe(addr("2001:db8:0:1::2"), 401, "", c.Now())
	d.Observe(addr("2001:db8:0:1:ffff::3"), 401, "", c.Now())
	if !l.Contains(addr("2001:db8:0:1::99")) {
		t.Fatal("/64 not blocked")
	}
	if l.Contains(addr("2001:db8:0:2::1")) {
		t.Error("neighbouring /64 blocked")
	}
	if got := (*blocks)[0].Entry.Prefix; got != netip.MustParsePrefix("2001:db8:0:1::/64") {
		t.Errorf("blocked %v", got)
	}
	// ipv6_prefix: 128 scores single addresses
	d2, l2, _ := newDetector(t, "abuse: {enabled: true, threshold: 25, ipv6_prefix: 128}\n", c)
	d2.Observe(addr("2001:db8:0:1::1"), 401, "", c.Now())
	d2.Observe(addr("2001:db8:0:1::2"), 401, "", c.Now())
	d2.Observe(addr("2001:db8:0:1::3"), 401, "", c.Now())
	if l2.Len() != 0 {
		t.Error("separate /128s added up")
	}
}

func TestAbuseDisabled(t *testing.T) {
	cfg, err := decodeAbuse(t, "abuse: {enabled: false, threshold: 1}\n")
	if err != nil {
		t.Fatal(err)
	}
	d, err := blocklist.NewDetector(cfg, nil, blocklist.DetectorOptions{})
	if err != nil || d != nil {
		t.Fatalf("disabled: %v %v", d, err)
	}
	if d.Observe(addr("203.0.113.1"), 401, "", time.Now()) {
		t.Error("nil detector blocked")
	}
	// absent block: disabled, no errors
	if cfg, err := decodeAbuse(t, "other: 1\n"); err != nil || cfg.Enabled {
		t.Errorf("absent: %+v %v", cfg, err)
	}
}

func TestAbuseConfigErrors(t *testing.T) {
	cases := []struct{ yaml, want string }{
		{"abuse: {enabled: true, threshold: -1}\n", "edgeguard.yaml:1:35: abuse.threshold: must be > 0"},
		{"abuse: {enabled: true, window: 10ms}\n", "abuse.window: must be at least 1s"},
		{"abuse: {enabled: true, window: 60}\n", "abuse.window: a duration needs a unit, such as 60ms or 60s (got 60)"},
		{"abuse: {enabled: true, block_ttl: 0s}\n", ""},                                                          // 0 means default
		{"abuse: {enabled: true, block_ttl: 900000h}\n", "abuse.block_ttl: must be at most 876000h (100 years)"}, // Add would refuse every block
		{"abuse:\n  exempt: [\"::ffff:10.0.0.0/8\"]\n", "abuse.exempt[0]: invalid IP address or CIDR \"::ffff:10.0.0.0/8\": an IPv4-mapped prefix needs a length of at least /96"},
		{"abuse:\n  exempt: [10.1.2.3/8]\n", "abuse.exempt[0]: invalid IP address or CIDR \"10.1.2.3/8\": host bits are set: write 10.0.0.0/8"},
		{"abuse:\n  enabled: true\n  weights:\n    \"401\": 10\n    40x: 5\n", "edgeguard.yaml:5:10: abuse.weights.40x: unknown event \"40x\": use an HTTP status"},
		{"abuse:\n  weights:\n    700: 5\n", "abuse.weights.700: status 700 out of range"},
		{"abuse:\n  weights:\n    jwt: -5\n", "abuse.weights.jwt: weight must be >= 0"},
		{"abuse:\n  exempt:\n    - 10.0.0.0/8\n    - 10.0.0/8\n", "edgeguard.yaml:4:7: abuse.exempt[1]: invalid IP address or CIDR \"10.0.0/8\""},
		{"abuse: {ipv6_prefix: 16}\n", "abuse.ipv6_prefix: must be between 32 and 128"},
		{"abuse: {treshold: 5}\n", "abuse.treshold: unknown field (did you mean \"threshold\"?)"},
	}
	for _, tc := range cases {
		_, err := decodeAbuse(t, tc.yaml)
		if tc.want == "" {
			if err != nil {
				t.Errorf("%q: %v", tc.yaml, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.yaml, err, tc.want)
		}
	}
	cfg, err := decodeAbuse(t, "abuse: {enabled: true}\n")
	if err != nil || cfg.Threshold != 100 || cfg.Window != time.Minute || cfg.BlockTTL != time.Hour ||
		cfg.Weights["401"] != 10 || cfg.MaxTracked != 100000 || cfg.IPv6Prefix != 64 {
		t.Errorf("defaults %+v %v", cfg, err)
	}
}

func TestObserveDoesNotAllocate(t *testing.T) {
	c := newClock()
	d, _, _ := newDetector(t, "abuse: {enabled: true, threshold: 1000000}\n", c)
	ip := addr("203.0.113.7")
	v6 := addr("2001:db8::7")
	now := c.Now()
	d.Observe(ip, 401, "", now)
	d.Observe(v6, 401, "", now)
	for name, f := range map[string]func(){
		"unweighted": func() { d.Observe(ip, 200, "", now) },
		"scored-v4":  func() { d.Observe(ip, 401, "jwt", now) },
		"scored-v6":  func() { d.Observe(v6, 429, "", now) },
	} {
		if n := testing.AllocsPerRun(500, f); n != 0 {
			t.Errorf("%s: %.1f allocs", name, n)
		}
	}
}

func TestWindowBounded(t *testing.T) {
	w := blocklist.NewWindow(int64(time.Minute), 640)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	heavy := addr("192.0.2.1")
	for range 50 {
		w.Add(heavy, 1, now)
	}
	for i := range 100_000 {
		w.Add(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), 1, now)
	}
	if n := w.Len(); n > 640 {
		t.Errorf("tracking %d keys, cap 640", n)
	}
	// the heavy hitter survives random-sample eviction (smallest goes first)
	if got := w.Sum(heavy, now); got != 50 {
		t.Errorf("heavy hitter sum %d, want 50 (evicted?)", got)
	}
}

func TestWindowSliding(t *testing.T) {
	w := blocklist.NewWindow(int64(time.Minute), 100)
	k := addr("192.0.2.1")
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano() // a window boundary
	w.Add(k, 60, t0+int64(50*time.Second))
	// 15 s into the next window: 3/4 of the previous window still counts
	if got := w.Add(k, 10, t0+int64(75*time.Second)); got != 55 {
		t.Errorf("sum %d, want 45+10", got)
	}
	// two windows later everything is gone
	if got := w.Sum(k, t0+int64(181*time.Second)); got != 0 {
		t.Errorf("sum %d after two windows", got)
	}
}
