package iprestrict_test

import (
	"bytes"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/edgeguard/edgeguard/filters"
	"github.com/edgeguard/edgeguard/filters/filtertest"
	"github.com/edgeguard/edgeguard/filters/iprestrict"
	"github.com/edgeguard/edgeguard/proxy/clientip"
)

func build(t *testing.T, yaml string) filters.Filter {
	t.Helper()
	return filtertest.MustBuild(t, filtertest.Env(t), iprestrict.Name, yaml)
}

// run sends one request from ip through f and returns the status (0 when
// the filter let it through) and the body.
func run(t *testing.T, f filters.Filter, ip string) (int, string) {
	t.Helper()
	r := filtertest.NewRequest("GET", "/admin", ip)
	if v := r.Run(f); v == filters.Continue {
		if r.Ctx.RejectedBy != "" {
			t.Fatalf("%s: continued but RejectedBy=%q", ip, r.Ctx.RejectedBy)
		}
		return 0, ""
	}
	return r.RC.Response.StatusCode(), string(r.RC.Response.Body())
}

func TestAllowDeny(t *testing.T) {
	f := build(t, `
allow:
  - 10.0.0.0/8
  - 192.168.1.100
  - 2001:db8::/32
  - "::ffff:172.16.0.0/108"   # mapped entry = 172.16.0.0/12
deny:
  - 10.66.0.0/16
  - 2001:db8:bad::/48
  - 10.1.2.3
`)
	cases := []struct {
		ip   string
		want int
	}{
		{"10.0.0.1", 0},
		{"10.255.255.255", 0},
		{"192.168.1.100", 0},
		{"192.168.1.101", 403},
		{"11.0.0.1", 403},
		{"10.66.1.1", 403},              // deny wins over the wider allow
		{"10.1.2.3", 403},               // single denied address inside allow
		{"10.1.2.4", 0},                 // its neighbour
		{"::ffff:10.0.0.1", 0},          // mapped client matches the IPv4 allow
		{"::ffff:10.66.0.9", 403},       // ... and the IPv4 deny
		{"::ffff:192.168.1.100", 0},     // mapped single address
		{"2001:db8::1", 0},              // IPv6 allow
		{"2001:db8:bad::1", 403},        // IPv6 deny inside IPv6 allow
		{"2001:db9::1", 403},            // outside
		{"172.20.1.1", 0},               // matched by the mapped entry
		{"::ffff:172.31.255.255", 0},    // mapped client, mapped entry
		{"172.32.0.1", 403},             //
		{"fe80::1", 403},                // link-local v6 not allowed
		{"::a00:1", 403},                // IPv4-compatible (not mapped) is IPv6
		{"0.0.0.0", 403},                //
		{"2001:db8::ffff:10.66.0.1", 0}, // v6 address that merely embeds v4 digits
	}
	for _, tc := range cases {
		got, body := run(t, f, tc.ip)
		if got != tc.want {
			t.Errorf("%s: status %d, want %d (%s)", tc.ip, got, tc.want, body)
		}
	}
}

func TestDenyOnlyAndAllowOnly(t *testing.T) {
	deny := build(t, "deny: [203.0.113.0/24]\n")
	if s, _ := run(t, deny, "203.0.113.7"); s != 403 {
		t.Errorf("deny-only: denied address got %d", s)
	}
	if s, _ := run(t, deny, "198.51.100.1"); s != 0 {
		t.Errorf("deny-only: other address got %d", s)
	}
	// allow with an explicit empty deny list: the article's admin route.
	allow := build(t, "allow:\n  - 10.0.0.0/8       # Internal network\n  - 192.168.1.100    # VPN exit\ndeny: []\n")
	for ip, want := range map[string]int{"10.20.30.40": 0, "192.168.1.100": 0, "192.168.1.1": 403, "8.8.8.8": 403, "::1": 403} {
		if s, _ := run(t, allow, ip); s != want {
			t.Errorf("article admin config: %s got %d, want %d", ip, s, want)
		}
	}
}

func TestRejectionBody(t *testing.T) {
	f := build(t, "deny: [203.0.113.0/24, \"2001:db8::/32\"]\n")
	for _, tc := range []struct{ ip, shown string }{
		{"203.0.113.7", "203.0.113.7"},
		{"::ffff:203.0.113.8", "203.0.113.8"}, // shown as the address that was matched
		{"2001:db8::7", "2001:db8::7"},
	} {
		r := filtertest.NewRequest("GET", "/", tc.ip)
		if v := r.Run(f); v != filters.Respond {
			t.Fatalf("%s: verdict %v", tc.ip, v)
		}
		want := `{"message":"IP address not allowed: ` + tc.shown + `","request_id":"test-request-id"}`
		if got := string(r.RC.Response.Body()); got != want {
			t.Errorf("%s: body %s, want %s", tc.ip, got, want)
		}
		if ct := string(r.RC.Response.Header.ContentType()); !strings.HasPrefix(ct, "application/json") {
			t.Errorf("content type %q", ct)
		}
		if r.Ctx.RejectReason != iprestrict.ReasonDenied || r.Ctx.RejectedBy != "test" {
			t.Errorf("reason %q by %q", r.Ctx.RejectReason, r.Ctx.RejectedBy)
		}
	}

	// allow miss has its own reason
	g := build(t, "allow: [10.0.0.0/8]\n")
	r := filtertest.NewRequest("GET", "/", "8.8.8.8")
	r.Run(g)
	if r.Ctx.RejectReason != iprestrict.ReasonNotAllowed {
		t.Errorf("reason %q", r.Ctx.RejectReason)
	}
}

func TestCustomStatusAndMessage(t *testing.T) {
	f := build(t, "deny: [203.0.113.0/24]\nstatus: 401\nmessage: \"Go away \\\"now\\\"\"\n")
	s, body := run(t, f, "203.0.113.9")
	if s != 401 {
		t.Errorf("status %d", s)
	}
	if want := `{"message":"Go away \"now\"","request_id":"test-request-id"}`; body != want {
		t.Errorf("body %s, want %s", body, want)
	}
}

func TestNoClientAddress(t *testing.T) {
	f := build(t, "deny: [203.0.113.0/24]\nstatus: 418\n")
	r := filtertest.NewRequest("GET", "/", "127.0.0.1")
	r.Ctx.ClientIP = netip.Addr{} // unix socket peer: no address
	if v := r.Run(f); v != filters.Respond {
		t.Fatalf("verdict %v", v)
	}
	// Kong answers 403 with a fixed message here, whatever `status` says.
	if s := r.RC.Response.StatusCode(); s != 403 {
		t.Errorf("status %d", s)
	}
	if !bytes.Contains(r.RC.Response.Body(), []byte("unix domain sockets are not supported")) {
		t.Errorf("body %s", r.RC.Response.Body())
	}
}

func TestConfigErrors(t *testing.T) {
	cases := []struct {
		yaml string
		want []string // substrings of the error
	}{
		{"{}", []string{"config: at least one of allow or deny must be non-empty"}},
		{"allow: []\ndeny: []\n", []string{"at least one of allow or deny"}},
		{"allow:\n  - 10.0.0.0/8\n  - 10.0.0.300/8\n", []string{"test.yaml:3:5: config.allow[1]: invalid IP address or CIDR \"10.0.0.300/8\": IPv4 field has value >255"}},
		{"deny:\n  - 1.2.3.4/33\n", []string{"config.deny[0]: invalid IP address or CIDR \"1.2.3.4/33\": prefix length out of range"}},
		{"deny: [\"fe80::1%eth0\"]\n", []string{"config.deny[0]", "zones are not allowed"}},
		{"deny: [\"010.0.0.1\"]\n", []string{"config.deny[0]", "leading zero"}},
		{"deny: [\"\"]\n", []string{"config.deny[0]", "empty address"}},
		{"deny: [\"10.0.0.0 /8\"]\n", []string{"config.deny[0]", "spaces"}},
		{"deny: [example.com]\n", []string{"config.deny[0]", "unexpected character"}},
		{"deny: [10.0.0.1]\nstatus: 200\n", []string{"config.status: must be an HTTP error status (400-599), got 200"}},
		{"deny: [10.0.0.1]\nstatus: forbidden\n", []string{"test.yaml:2:9: config.status: must be a whole number in range (got \"forbidden\")"}},
		{"deny: [10.0.0.1]\nallowed: [10.0.0.2]\n", []string{"config.allowed: unknown field (did you mean \"allow\"?)"}},
		{"allow: [10.0.0.1]\nwhitelist: [10.0.0.2]\n", []string{"config.whitelist: cannot be combined with allow"}},
		{"deny: [10.0.0.1]\nblacklist: [10.0.0.2]\n", []string{"config.blacklist: cannot be combined with deny"}},
		{"whitelist: [bogus]\n", []string{"config.whitelist[0]: invalid IP address"}},
		// IPv4-mapped prefixes shorter than /96 are refused (they would be
		// IPv6 ::/8, matching no IPv4 client: a deny typo would fail open)
		{"allow:\n  - \"::ffff:10.0.0.0/8\"\n", []string{`test.yaml:2:5: config.allow[0]: invalid IP address or CIDR "::ffff:10.0.0.0/8": an IPv4-mapped prefix needs a length of at least /96`, "write the IPv4 form, such as 10.0.0.0/8"}},
		{"deny: [10.0.0.1, \"::ffff:192.168.0.0/16\"]\n", []string{`test.yaml:1:18: config.deny[1]: invalid IP address or CIDR "::ffff:192.168.0.0/16"`, "such as 192.168.0.0/16"}},
		// host bits: the same rule as the admin API and trusted_proxies
		{"deny:\n  - 127.0.0.111/24\n", []string{`test.yaml:2:5: config.deny[0]: invalid IP address or CIDR "127.0.0.111/24": host bits are set: write 127.0.0.0/24 for the network or 127.0.0.111/32 for the single address`}},
		{"allow: [\"::ffff:10.1.2.3/104\"]\n", []string{"config.allow[0]", "host bits are set: write 10.0.0.0/8 for the network or 10.1.2.3/32"}},
		// every bad entry is reported, not only the first
		{"deny:\n  - x\n  - 10.0.0.1\n  - y\n", []string{"config.deny[0]", "config.deny[2]"}},
	}
	for _, tc := range cases {
		_, err := filtertest.Build(filtertest.Env(t), iprestrict.Name, tc.yaml)
		if err == nil {
			t.Errorf("%q: no error", tc.yaml)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%q: error %q does not contain %q", tc.yaml, err, w)
			}
		}
	}
}

// TestParsePrefixAgreesWithClientIP: the plugin's lists, the admin API and
// trusted_proxies (clientip.ParsePrefix) accept the same entries as the same
// prefixes.
func TestParsePrefixAgreesWithClientIP(t *testing.T) {
	for _, s := range []string{
		"10.0.0.0/8", "10.1.2.3/8", "127.0.0.111/24", "192.168.1.100", "::ffff:1.2.3.4",
		"::ffff:10.0.0.0/104", "::ffff:10.1.0.0/104", "::ffff:10.0.0.0/8", "::ffff:0:0/96",
		"::ffff:0:0/95", "::/0", "::/8", "2001:db8::/32", "2001:db8::1/32", "fe80::1%eth0",
		"1.2.3.4/33", "bogus", "",
	} {
		p, err := iprestrict.ParsePrefix(s)
		q, err2 := clientip.ParsePrefix(s)
		if p != q || (err == nil) != (err2 == nil) {
			t.Errorf("%q: ip-restriction %v, %v; clientip %v, %v", s, p, err, q, err2)
		}
	}
}

func TestDeprecatedNames(t *testing.T) {
	env := filtertest.Env(t)
	var logs bytes.Buffer
	env.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	f, err := filtertest.Build(env, iprestrict.Name, "whitelist: [10.0.0.0/8]\nblacklist: [10.9.0.0/16]\n")
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := run(t, f, "10.1.1.1"); s != 0 {
		t.Errorf("whitelisted: %d", s)
	}
	if s, _ := run(t, f, "10.9.1.1"); s != 403 {
		t.Errorf("blacklisted: %d", s)
	}
	if s, _ := run(t, f, "8.8.8.8"); s != 403 {
		t.Errorf("not whitelisted: %d", s)
	}
	out := logs.String()
	for _, w := range []string{`test.yaml:1: config.whitelist: ip-restriction: \"whitelist\" is deprecated (removed in Kong 3.0), use \"allow\"`, `use \"deny\"`, "level=WARN"} {
		if !strings.Contains(out, w) {
			t.Errorf("log %q does not contain %q", out, w)
		}
	}
}

func TestNewFromConfig(t *testing.T) {
	f, err := iprestrict.NewFromConfig(iprestrict.Config{Allow: []string{"10.0.0.0/8"}, Status: 451}, filtertest.Env(t))
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := f.Check(netip.MustParseAddr("10.3.3.3")); !ok {
		t.Error("10.3.3.3 should pass")
	}
	if ok, reason := f.Check(netip.MustParseAddr("11.3.3.3")); ok || reason != iprestrict.ReasonNotAllowed {
		t.Errorf("11.3.3.3: %v %s", ok, reason)
	}
	s, _ := run(t, f, "11.0.0.1")
	if s != 451 {
		t.Errorf("status %d", s)
	}
	_, err = iprestrict.NewFromConfig(iprestrict.Config{Deny: []string{"ok", "10.0.0.1"}}, nil)
	if err == nil || !strings.Contains(err.Error(), "config.deny[0]") {
		t.Errorf("err %v", err)
	}
}

func TestMetrics(t *testing.T) {
	env := filtertest.Env(t)
	env.InstanceName = "admin-ips"
	f := filtertest.MustBuild(t, env, iprestrict.Name, "allow: [10.0.0.0/8]\ndeny: [10.9.0.0/16]\n")
	run(t, f, "10.9.0.1")
	run(t, f, "10.9.0.2")
	run(t, f, "8.8.8.8")
	run(t, f, "10.1.1.1")
	var b bytes.Buffer
	env.Metrics.WritePrometheus(&b)
	for _, w := range []string{
		`edgeguard_ip_restriction_rejected_total{plugin="admin-ips",reason="ip_denied"} 2`,
		`edgeguard_ip_restriction_rejected_total{plugin="admin-ips",reason="ip_not_allowed"} 1`,
	} {
		if !strings.Contains(b.String(), w) {
			t.Errorf("metrics missing %q:\n%s", w, b.String())
		}
	}
}

// TestAccessDoesNotAllocate guards the zero-allocation request path, for
// passing and for rejected requests (a flood from a denied network must not
// create garbage either).
func TestAccessDoesNotAllocate(t *testing.T) {
	f := build(t, "allow: [10.0.0.0/8, \"2001:db8::/32\"]\ndeny: [10.9.0.0/16]\n")
	for _, ip := range []string{"10.1.1.1", "10.9.1.1", "8.8.8.8", "2001:db8::1", "::ffff:10.9.0.1"} {
		// The request ID stays at filtertest's 15 bytes: Ctx.Reject converts
		// it with string(), which allocates for IDs over 32 bytes (reported
		// to the filters package owner; not this filter's allocation).
		r := filtertest.NewRequest("GET", "/", ip)
		r.Run(f)
		r.Reset()
		if n := testing.AllocsPerRun(200, func() {
			r.Run(f)
			r.Reset()
		}); n != 0 {
			t.Errorf("%s: %.1f allocs per request", ip, n)
		}
	}
}

// TestMatchesKongSemantics compares the merged decision table with Kong's
// rule written out naively (any deny contains → reject; allow non-empty and
// none contains → reject) on random, heavily overlapping lists.
func TestMatchesKongSemantics(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	randPrefix := func() netip.Prefix {
		if r.IntN(4) == 0 {
			var b [16]byte
			copy(b[:], netip.MustParseAddr("2001:db8::").AsSlice())
			b[14], b[15] = byte(r.IntN(4)), byte(r.Uint32())
			return netip.PrefixFrom(netip.AddrFrom16(b), 110+r.IntN(19)).Masked()
		}
		a := netip.AddrFrom4([4]byte{10, 0, byte(r.IntN(4)), byte(r.Uint32())})
		return netip.PrefixFrom(a, 20+r.IntN(13)).Masked()
	}
	for round := range 200 {
		var allow, deny []string
		var allowP, denyP []netip.Prefix
		for range r.IntN(12) {
			p := randPrefix()
			allow, allowP = append(allow, p.String()), append(allowP, p)
		}
		for range r.IntN(12) {
			p := randPrefix()
			deny, denyP = append(deny, p.String()), append(denyP, p)
		}
		if len(allow)+len(deny) == 0 {
			continue
		}
		f, err := iprestrict.NewFromConfig(iprestrict.Config{Allow: allow, Deny: deny}, nil)
		if err != nil {
			t.Fatal(err)
		}
		for range 300 {
			var a netip.Addr
			if r.IntN(4) == 0 {
				a = randPrefix().Addr().Next()
			} else {
				a = netip.AddrFrom4([4]byte{10, 0, byte(r.IntN(4)), byte(r.Uint32())})
			}
			want := ""
			if slices.ContainsFunc(denyP, func(p netip.Prefix) bool { return p.Contains(a) }) {
				want = iprestrict.ReasonDenied
			} else if len(allowP) > 0 && !slices.ContainsFunc(allowP, func(p netip.Prefix) bool { return p.Contains(a) }) {
				want = iprestrict.ReasonNotAllowed
			}
			if _, got := f.Check(a); got != want {
				t.Fatalf("round %d: allow %v deny %v: %v → %q, want %q", round, allow, deny, a, got, want)
			}
		}
	}
}
