package botdetect_test

import (
	"bufio"
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/edgeguard/edgeguard/filters"
	"github.com/edgeguard/edgeguard/filters/botdetect"
	"github.com/edgeguard/edgeguard/filters/filtertest"
)

const (
	chrome    = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
	googlebot = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
	bingbot   = "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)"
)

// the article's snippet, as written
const articleConfig = `
deny:
  - curl
  - wget
  - python-requests
  - Go-http-client
allow:
  - GoogleBot
  - Bingbot
`

func build(t testing.TB, yaml string) filters.Filter {
	t.Helper()
	return filtertest.MustBuild(t, filtertest.Env(t), botdetect.Name, yaml)
}

// req builds a request with the given User-Agent ("" for none) and extra
// "Name: value" headers.
func req(ua string, headers ...string) *filtertest.Request {
	r := filtertest.NewRequest("GET", "/", "203.0.113.7")
	if ua != "" {
		r.RC.Request.Header.SetUserAgent(ua)
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ": ")
		r.RC.Request.Header.Add(k, v)
	}
	return r
}

// rawReq parses a request from its wire form, as the server would, so that
// repeated headers are visible.
func rawReq(t testing.TB, head string) *filtertest.Request {
	t.Helper()
	r := filtertest.NewRequest("GET", "/", "203.0.113.7")
	r.RC.Request.Reset()
	if err := r.RC.Request.Header.Read(bufio.NewReader(strings.NewReader(head))); err != nil {
		t.Fatal(err)
	}
	return r
}

func status(r *filtertest.Request, v filters.Verdict) int {
	if v == filters.Continue {
		return 0
	}
	return r.RC.Response.StatusCode()
}

func TestArticleConfig(t *testing.T) {
	f := build(t, articleConfig)
	cases := []struct {
		ua   string
		want int
	}{
		{"curl/8.4.0", 403},
		{"Wget/1.21.4", 403}, // Kong would let this through: `wget` is case-sensitive there
		{"python-requests/2.31.0", 403},
		{"Go-http-client/1.1", 403},
		{googlebot, 0}, // `GoogleBot` means Googlebot here (Kong: no match, then blocked by its list)
		{bingbot, 0},
		{chrome, 0},
		{"sqlmap/1.7.12#stable (https://sqlmap.org)", 403}, // built-in scanners
		{"Mozilla/5.0 (compatible; YandexBot/3.0)", 0},     // crawlers are opt-in
		{"okhttp/4.12.0", 0},                               // HTTP clients are opt-in
		{"  curl/8.4.0  ", 403},                            // trimmed as in Kong
		{"", 0},                                            // no User-Agent passes (Kong)
	}
	for _, tc := range cases {
		r := req(tc.ua)
		if got := status(r, r.Run(f)); got != tc.want {
			t.Errorf("%q: status %d, want %d", tc.ua, got, tc.want)
		}
	}
}

func TestRejectionBody(t *testing.T) {
	f := build(t, articleConfig)
	r := req("curl/8.4.0")
	r.Run(f)
	if b := string(r.RC.Response.Body()); b != `{"message":"Forbidden","request_id":"test-request-id"}` {
		t.Errorf("body %s", b)
	}
	if r.Ctx.RejectReason != botdetect.ReasonDenied {
		t.Errorf("reason %q", r.Ctx.RejectReason)
	}
	r = req("masscan/1.3")
	r.Run(f)
	if r.Ctx.RejectReason != botdetect.ReasonBuiltin {
		t.Errorf("reason %q", r.Ctx.RejectReason)
	}
}

func TestAllowWins(t *testing.T) {
	f := build(t, "allow: [\"^MyMonitor/\"]\ndeny: [monitor]\nbuiltin: [kong]\n")
	for ua, want := range map[string]int{
		"MyMonitor/1.0 (uptimerobot bot/2.0)":       0, // allow beats deny and the built-in list
		"SomeMonitor/1.0":                           403,
		"Mozilla/5.0 (compatible; UptimeRobot/2.0)": 403,
	} {
		r := req(ua)
		if got := status(r, r.Run(f)); got != want {
			t.Errorf("%q: %d, want %d", ua, got, want)
		}
	}
}

func TestBuiltinGroups(t *testing.T) {
	cases := []struct {
		cfg  string
		ua   string
		want int
	}{
		{"{}", "Go-http-client/1.1", 0},
		{"{}", "Scrapy/2.11 (+https://scrapy.org)", 403},
		{"builtin: []", "Scrapy/2.11 (+https://scrapy.org)", 0},
		{"builtin: [clients]", "Go-http-client/1.1", 403},
		{"builtin: [clients]", "Scrapy/2.11", 0},
		{"builtin: [crawlers]", googlebot, 403},
		{"builtin: [kong]", "okhttp/4.12.0", 403},
		{"builtin: [kong]", "curl/8.4.0", 0}, // Kong's list lets curl through too
		{"builtin: [kong]", chrome, 0},
	}
	for _, tc := range cases {
		f := build(t, tc.cfg)
		r := req(tc.ua)
		if got := status(r, r.Run(f)); got != tc.want {
			t.Errorf("%s / %q: %d, want %d", tc.cfg, tc.ua, got, tc.want)
		}
	}
}

func TestTwoUserAgents(t *testing.T) {
	f := build(t, "{}")
	r := rawReq(t, "GET / HTTP/1.1\r\nHost: api.example.com\r\nUser-Agent: curl/8\r\nAccept: */*\r\nuser-agent: Mozilla/5.0\r\n\r\n")
	if got := status(r, r.Run(f)); got != 400 {
		t.Fatalf("status %d", got)
	}
	if b := string(r.RC.Response.Body()); b != `{"message":"Only one User-Agent header allowed","request_id":"test-request-id"}` {
		t.Errorf("body %s", b)
	}
	one := rawReq(t, "GET / HTTP/1.1\r\nHost: api.example.com\r\nUser-Agent: curl/8\r\nX-User-Agent: x\r\n\r\n")
	if got := status(one, one.Run(f)); got != 0 {
		t.Errorf("one UA: %d", got)
	}
}

func TestScore(t *testing.T) {
	cfg := `
score:
  enabled: true
  frequency: {threshold: 3, window: 1m}
`
	cases := []struct {
		name    string
		ua      string
		lang    bool
		repeats int // requests sent before the measured one
		status  int
		header  string
	}{
		{"browser", chrome, true, 0, 0, ""},
		{"no ua, no accept-language: 0.4", "", false, 0, 0, ""},
		{"client library without language: 0.6", "Go-http-client/1.1", false, 0, 0, ""},
		{"no ua, frequent, no language: 0.7 is not above 0.7", "", false, 5, 0, ""},
		{"signature + frequent: 0.8", "okhttp/4.12", true, 5, 0, "0.8"},
		{"signature + frequent + no language: 0.9 is not above 0.9", "okhttp/4.12", false, 5, 0, "0.9"},
		{"allowed crawler skips the score", googlebot, false, 5, 0, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := build(t, cfg+"allow: [Googlebot]\n")
			var r *filtertest.Request
			for range tc.repeats + 1 {
				if tc.lang {
					r = req(tc.ua, "Accept-Language: en")
				} else {
					r = req(tc.ua)
				}
				r.Run(f)
			}
			if got := status(r, filters.Verdict(boolVerdict(r))); got != tc.status {
				t.Errorf("status %d, want %d", got, tc.status)
			}
			if got := string(r.RC.Request.Header.Peek(botdetect.HeaderBotScore)); got != tc.header {
				t.Errorf("X-Bot-Score %q, want %q", got, tc.header)
			}
		})
	}

	// a lower reject_score rejects the 0.9 case
	f := build(t, cfg+"  reject_score: 0.85\n")
	var r *filtertest.Request
	for range 5 {
		r = req("okhttp/4.12")
		r.Run(f)
	}
	if r.RC.Response.StatusCode() != 403 || r.Ctx.RejectReason != botdetect.ReasonScore {
		t.Errorf("reject_score 0.85: %d %q", r.RC.Response.StatusCode(), r.Ctx.RejectReason)
	}
	// custom weights
	g := build(t, "score:\n  enabled: true\n  challenge_score: 0.2\n  weights: {no_accept_language: 0.25}\n")
	r = req(chrome)
	r.Run(g)
	if got := string(r.RC.Request.Header.Peek(botdetect.HeaderBotScore)); got != "0.25" {
		t.Errorf("custom weight: X-Bot-Score %q", got)
	}
}

func boolVerdict(r *filtertest.Request) filters.Verdict {
	if r.Ctx.RejectedBy != "" {
		return filters.Respond
	}
	return filters.Continue
}

func TestClientCannotSetBotScore(t *testing.T) {
	for _, cfg := range []string{"{}", articleConfig, "score: {enabled: true, challenge_score: 0.05}"} {
		f := build(t, cfg)
		for _, ua := range []string{chrome, googlebot, ""} {
			r := req(ua, "X-Bot-Score: 0", "Accept-Language: de")
			r.Run(f)
			vals := r.RC.Request.Header.PeekAll(botdetect.HeaderBotScore)
			if strings.Contains(cfg, "challenge_score") {
				// the gateway's own value replaces the client's
				want := map[string]string{chrome: "", googlebot: "0.5", "": "0.3"}[ua]
				if (want == "" && len(vals) != 0) || (want != "" && (len(vals) != 1 || string(vals[0]) != want)) {
					t.Errorf("%s / %q: X-Bot-Score %q, want %q", cfg, ua, vals, want)
				}
				continue
			}
			if len(vals) != 0 {
				t.Errorf("%s / %q: client X-Bot-Score kept: %q", cfg, ua, vals)
			}
		}
	}
}

// TestWholeUserAgent: the whole UA is matched, as in Kong, so padding in
// front cannot hide a denied name, and `$` matches only at the real end.
func TestWholeUserAgent(t *testing.T) {
	pad := strings.Repeat("X", 1030)
	for _, cache := range []string{"", "ua_cache: 0\n"} {
		f := build(t, "deny: [curl, '(a+)+$']\n"+cache)
		cases := []struct {
			ua   string
			want int
		}{
			{pad + " curl/8.0", 403},                    // deny list
			{pad + " sqlmap/1.0", 403},                  // built-in scanners
			{strings.Repeat("a", 1024) + "!", 0},        // `$` is the end of the UA, not of a cut
			{strings.Repeat("a", 1030), 403},            // and does match there
			{strings.Repeat("X", 16000) + " curl", 403}, // up to the server's header limit
			{pad + " Firefox/126.0", 0},
		}
		for _, c := range cases {
			r := req(c.ua)
			if got := status(r, r.Run(f)); got != c.want {
				t.Errorf("%q %d-byte UA ending %q: status %d, want %d", cache, len(c.ua), c.ua[len(c.ua)-12:], got, c.want)
			}
		}
	}
}

// TestMaxUserAgentLength: a UA over the optional limit fails closed: it
// earns no allow match and is rejected like a deny match.
func TestMaxUserAgentLength(t *testing.T) {
	f := build(t, "allow: ['^Good']\nmax_user_agent_length: 64\n")
	at := "Good" + strings.Repeat("x", 60)
	for ua, want := range map[string]int{at: 0, at + "x": 403, "Good sqlmap/1.0": 0, "sqlmap/1.0": 403} {
		r := req(ua)
		if got := status(r, r.Run(f)); got != want {
			t.Errorf("%d-byte UA: status %d, want %d", len(ua), got, want)
		} else if want == 403 && len(ua) > 64 && (r.Ctx.RejectReason != "bot_denied" || !bytes.Contains(r.RC.Response.Body(), []byte("Forbidden"))) {
			t.Errorf("over the limit: reason %q body %s", r.Ctx.RejectReason, r.RC.Response.Body())
		}
	}
}

func TestConfigErrors(t *testing.T) {
	cases := []struct{ yaml, want string }{
		{"deny:\n  - curl\n  - \"(?<!x)bot\"\n", "test.yaml:3:5: config.deny[1]: invalid regular expression \"(?<!x)bot\""},
		{"allow: [\"a(b\"]\n", "config.allow[0]: invalid regular expression \"a(b\": missing closing )"},
		{"builtin: [scanners, robots]\n", "config.builtin[1]: unknown group \"robots\""},
		{"score: {reject_score: 1.5}\n", "config.score.reject_score: must be between 0 and 1, got 1.5"},
		{"score: {reject_score: 0.5, challenge_score: 0.6}\n", "config.score.challenge_score: must not be above reject_score"},
		{"score: {weights: {bot_signature: -1}}\n", "config.score.weights.bot_signature: must be between 0 and 1"},
		{"score: {frequency: {window: 5ms}}\n", "config.score.frequency.window: must be at least 1s"},
		{"verify_good_bots: {resolver: \"127.0.0.1\"}\n", "config.verify_good_bots.resolver: must be host:port"},
		{"verify_good_bots:\n  bots:\n    - name: x\n      user_agent: \"(\"\n", "config.verify_good_bots.bots[0].user_agent"},
		{"verify_good_bots:\n  bots:\n    - {name: x, user_agent: x}\n", "config.verify_good_bots.bots[0].domains: needs at least one domain"},
		{"allow: [a]\nwhitelist: [b]\n", "config.whitelist: cannot be combined with allow"},
		{"max_user_agent_length: 10\n", "config.max_user_agent_length: must be 0 (no limit) or between 64 and 65536"},
		{"ua_cache: -1\n", "config.ua_cache: must be between 0 (off) and 1048576"},
		{"denny: [curl]\n", "config.denny: unknown field (did you mean \"deny\"?)"},
	}
	for _, tc := range cases {
		_, err := filtertest.Build(filtertest.Env(t), botdetect.Name, tc.yaml)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.yaml, err, tc.want)
		}
	}
}

func TestDeprecatedNamesAndWarnings(t *testing.T) {
	env := filtertest.Env(t)
	var logs bytes.Buffer
	env.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	f, err := filtertest.Build(env, botdetect.Name, "whitelist: [GoodClient]\nblacklist: [client, \"^\\\\w+\\\\d$\"]\n")
	if err != nil {
		t.Fatal(err)
	}
	for ua, want := range map[string]int{"GoodClient/1": 0, "BadClient 1": 403, "Foo1": 403, "Foo/1": 0} {
		r := req(ua)
		if got := status(r, r.Run(f)); got != want {
			t.Errorf("%q: %d want %d", ua, got, want)
		}
	}
	for _, w := range []string{`\"whitelist\" is deprecated`, `use \"deny\"`, `test.yaml:2: config.blacklist[1]: bot-detection: pattern \"^\\\\w+\\\\d$\" has no literal text`} {
		if !strings.Contains(logs.String(), w) {
			t.Errorf("logs %q lack %q", logs.String(), w)
		}
	}
}

// TestLargePatternWarning: a pattern whose program makes long UAs costly
// is named at load, unless max_user_agent_length bounds the UA.
func TestLargePatternWarning(t *testing.T) {
	for cfg, warn := range map[string]bool{"": true, "max_user_agent_length: 1024\n": false} {
		env := filtertest.Env(t)
		var logs bytes.Buffer
		env.Logger = slog.New(slog.NewTextHandler(&logs, nil))
		if _, err := filtertest.Build(env, botdetect.Name, cfg+"deny:\n  - curl\n  - '[\\w\\s]{1000}\\d{1000}$'\n"); err != nil {
			t.Fatal(err)
		}
		w := "compiles to 2003 instructions: matching a long User-Agent costs up to that many steps per byte"
		if strings.Contains(logs.String(), w) != warn || strings.Count(logs.String(), "compiles to") > 1 {
			t.Errorf("%q: logs %q, want warning %v", cfg, logs.String(), warn)
		}
	}
}

func TestMetrics(t *testing.T) {
	env := filtertest.Env(t)
	env.InstanceName = "bots"
	f := filtertest.MustBuild(t, env, botdetect.Name, articleConfig)
	for _, ua := range []string{"curl/8", "curl/8", "masscan/1", chrome} {
		req(ua).Run(f)
	}
	var b bytes.Buffer
	env.Metrics.WritePrometheus(&b)
	for _, w := range []string{
		`edgeguard_bot_detection_rejected_total{plugin="bots",reason="bot_denied"} 2`,
		`edgeguard_bot_detection_rejected_total{plugin="bots",reason="bot_builtin"} 1`,
	} {
		if !strings.Contains(b.String(), w) {
			t.Errorf("metrics lack %q:\n%s", w, b.String())
		}
	}
}

// TestCacheConsistent checks that the UA verdict cache never changes an
// answer: the same requests give the same results with and without it,
// also when the same UA is seen first with and then without the allow list
// (good-bot claims start matching from the deny list).
func TestCacheConsistent(t *testing.T) {
	cached := build(t, articleConfig+"builtin: [kong]\nua_cache: 8\n")
	plain := build(t, articleConfig+"builtin: [kong]\nua_cache: 0\n")
	uas := []string{chrome, googlebot, bingbot, "curl/8", "Wget/1.2", "okhttp/4", "sqlmap/1", "", "Go-http-client/1.1", "x"}
	for round := range 3 {
		for i, ua := range uas {
			a, b := req(ua), req(ua)
			sa, sb := status(a, a.Run(cached)), status(b, b.Run(plain))
			if sa != sb || a.Ctx.RejectReason != b.Ctx.RejectReason {
				t.Errorf("round %d, %d %q: cached %d %s, plain %d %s", round, i, ua, sa, a.Ctx.RejectReason, sb, b.Ctx.RejectReason)
			}
		}
	}
}

func TestAppendScore(t *testing.T) {
	for milli, want := range map[int64]string{0: "0", 5: "0.005", 300: "0.3", 750: "0.75", 900: "0.9", 999: "0.999", 1000: "1", 1200: "1"} {
		if got := string(botdetect.AppendScore(nil, milli)); got != want {
			t.Errorf("%d: %q, want %q", milli, got, want)
		}
	}
}

// TestAccessDoesNotAllocate guards the request path: passing, denied,
// challenged and two-User-Agent requests.
func TestAccessDoesNotAllocate(t *testing.T) {
	f := build(t, articleConfig+"score: {enabled: true, challenge_score: 0.3}\n")
	cases := map[string]*filtertest.Request{
		"browser":       req(chrome, "Accept-Language: en"),
		"denied":        req("curl/8.4.0"),
		"allowed":       req(googlebot),
		"challenged":    req("okhttp/4.12"),
		"no-ua":         req(""),
		"spoofed-score": req(chrome, "X-Bot-Score: 0"),
		"two-ua":        rawReq(t, "GET / HTTP/1.1\r\nHost: x\r\nUser-Agent: a\r\nUser-Agent: b\r\n\r\n"),
	}
	for name, r := range cases {
		r.Run(f)
		r.Reset()
		if n := testing.AllocsPerRun(300, func() {
			r.Run(f)
			r.Reset()
		}); n != 0 {
			t.Errorf("%s: %.1f allocs per request", name, n)
		}
	}
}
