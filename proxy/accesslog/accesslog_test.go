package accesslog

import (
	"bufio"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/edgeguard/edgeguard/filters"
	"github.com/edgeguard/edgeguard/filters/filtertest"
	"github.com/edgeguard/edgeguard/proxy/config/confnode"
)

type claims map[string]string

func (c claims) AppendClaim(dst []byte, path string) ([]byte, bool) {
	v, ok := c[path]
	return append(dst, v...), ok
}

func request() *filtertest.Request {
	r := filtertest.NewRequest("GET", "/v1/items?x=1", "203.0.113.7")
	h := &r.RC.Request.Header
	h.Set("Authorization", "Bearer secret-token")
	h.Set("Cookie", "sid=s3cr3t")
	h.Set("X-Api-Key", "k-123")
	h.Set("X-Tenant", "acme")
	h.SetUserAgent("curl/8")
	r.Ctx.Consumer = &filters.Consumer{Username: "alice", Tier: "gold"}
	r.Ctx.Claims = claims{"sub": "user-42"}
	return r
}

var testOptions = Options{
	Headers:       []string{"X-Tenant", "Authorization", "X-Api-Key", "X-Missing", "Cookie"},
	RedactHeaders: []string{"X-Api-Key"},
	CustomFields:  map[string]string{"user_id": "$(jwt.sub)", "tier": "$(consumer.tier)", "none": "$(jwt.nope)"},
}

func fill(e *Entry, c *filters.Ctx) {
	rc := c.RC
	e.Time = time.Date(2026, 11, 27, 10, 0, 0, 123456000, time.UTC)
	SetBytes(&e.RequestID, []byte("rid-1"))
	e.ClientIP = c.ClientIP
	SetBytes(&e.Method, rc.Request.Header.Method())
	SetBytes(&e.Host, []byte("api.example.com"))
	SetBytes(&e.Path, []byte("/v1/items"))
	SetBytes(&e.UserAgent, rc.Request.Header.UserAgent())
	e.Status = 413
	e.BytesIn, e.BytesOut = 12, 34
	e.Route, e.Service, e.Consumer = "items", "api", "alice"
	e.RejectedBy, e.Reason = "size", "size_exceeded"
	e.TotalUS, e.UpstreamUS, e.GatewayUS = 1500, 1000, 500
}

func readLines(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("invalid line %s: %v", sc.Bytes(), err)
		}
		out = append(out, m)
	}
	return out
}

func TestLineWithRedactionAndCustomFields(t *testing.T) {
	path := filepath.Join(t.TempDir(), "access.log")
	o := testOptions
	o.Path = path
	l, err := NewWithOptions(o)
	if err != nil {
		t.Fatal(err)
	}
	r := request()
	e := l.Acquire()
	fill(e, &r.Ctx)
	l.Capture(e, &r.Ctx)
	l.Submit(e)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	lines := readLines(t, path)
	if len(lines) != 1 {
		t.Fatalf("%d lines", len(lines))
	}
	m := lines[0]
	if m["time"] != "2026-11-27T10:00:00.123456Z" || m["status"] != 413.0 || m["client_ip"] != "203.0.113.7" ||
		m["rejected_by"] != "size" || m["reason"] != "size_exceeded" || m["consumer"] != "alice" || m["user_agent"] != "curl/8" {
		t.Errorf("line %v", m)
	}
	if lat := m["latency_ms"].(map[string]any); lat["gateway"] != 0.5 || lat["upstream"] != 1.0 || lat["total"] != 1.5 {
		t.Errorf("latency %v", lat)
	}
	hdr := m["headers"].(map[string]any)
	want := map[string]any{"x-tenant": "acme", "authorization": "REDACTED", "x-api-key": "REDACTED", "cookie": "REDACTED"}
	if len(hdr) != len(want) {
		t.Errorf("headers %v, want %v", hdr, want)
	}
	for k, v := range want {
		if hdr[k] != v {
			t.Errorf("headers[%s] = %v, want %v", k, hdr[k], v)
		}
	}
	if m["user_id"] != "user-42" || m["tier"] != "gold" {
		t.Errorf("custom fields %v", m)
	}
	if v, ok := m["none"]; !ok || v != nil {
		t.Errorf("absent custom field %v %v", v, ok)
	}
	raw, _ := os.ReadFile(path)
	for _, s := range []string{"secret-token", "s3cr3t", "k-123"} {
		if strings.Contains(string(raw), s) {
			t.Errorf("log leaks %q: %s", s, raw)
		}
	}
}

func TestNoExtras(t *testing.T) {
	l := &Logger{}
	r := request()
	e := new(Entry)
	fill(e, &r.Ctx)
	l.Capture(e, &r.Ctx)
	line := AppendJSON(nil, e)
	if !json.Valid(line) || strings.Contains(string(line), "headers") {
		t.Errorf("%s", line)
	}
	e.ClientIP = netip.Addr{}
	e.Route = "a\"b\n"
	if line := AppendJSON(nil, e); !json.Valid(line) {
		t.Errorf("%s", line)
	}
}

func TestCheckOptions(t *testing.T) {
	for _, tc := range []struct {
		o    Options
		want string
	}{
		{Options{Headers: []string{"bad name"}}, "access_log.headers[0]: invalid header name"},
		{Options{Headers: []string{"X-A", "x-a"}}, "access_log.headers[1]: x-a is listed twice"},
		{Options{RedactHeaders: []string{"a:b"}}, "access_log.redact_headers[0]: invalid header name"},
		{Options{CustomFields: map[string]string{"status": "x"}}, `access_log.custom_fields.status: "status" is a built-in field`},
		{Options{CustomFields: map[string]string{"a b": "x"}}, "access_log.custom_fields.a b: field names may contain only"},
		{Options{CustomFields: map[string]string{"u": "$(jwt)"}}, `access_log.custom_fields.u: template "$(jwt)"`},
		{Options{CustomFields: map[string]string{"t": "$(header.Authorization)"}}, "reads header authorization, which is redacted"},
		{Options{RedactHeaders: []string{"X-Key"}, CustomFields: map[string]string{"t": "$(headers.x_key)"}}, "reads header x-key"},
		{Options{CustomFields: map[string]string{"t": "$(cookie.sid)"}}, "reads a cookie"},
	} {
		probs := CheckOptions(tc.o)
		if len(probs) == 0 || !strings.Contains(problemsError(probs).Error(), tc.want) {
			t.Errorf("%+v: got %v, want %q", tc.o, probs, tc.want)
		}
	}
	if p := CheckOptions(testOptions); len(p) != 0 {
		t.Errorf("valid options refused: %v", p)
	}
	if _, err := NewWithOptions(Options{Path: "stdout", CustomFields: map[string]string{"status": "x"}}); err == nil {
		t.Error("NewWithOptions accepted bad options")
	}
}

func TestDroppedWhenFull(t *testing.T) {
	c := metrics.NewSet().NewCounter("edgeguard_access_log_dropped_total")
	l := &Logger{queue: make(chan *Entry, 2), mDrop: c} // no writer: the queue only fills
	for i := 0; i < 5; i++ {
		l.Submit(l.Acquire())
	}
	if l.Dropped() != 3 || c.Get() != 3 {
		t.Errorf("dropped %d (counter %d), want 3", l.Dropped(), c.Get())
	}
}

func TestReopen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "access.log")
	l, err := New(path, 16)
	if err != nil {
		t.Fatal(err)
	}
	r := request()
	submit := func() {
		e := l.Acquire()
		fill(e, &r.Ctx)
		l.Submit(e)
	}
	submit()
	waitWritten(t, l, 1)
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	l.Reopen()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := os.Stat(path); err == nil || time.Now().After(deadline) {
			break
		}
		submit() // the reopen is handled between lines
		time.Sleep(5 * time.Millisecond)
	}
	submit()
	l.Close()
	if old := readLines(t, path+".1"); len(old) < 1 {
		t.Errorf("rotated file has %d lines", len(old))
	}
	if cur := readLines(t, path); len(cur) < 1 {
		t.Errorf("new file has %d lines", len(cur))
	}
}

func waitWritten(t *testing.T, l *Logger, n uint64) {
	deadline := time.Now().Add(5 * time.Second)
	for l.Written() < n {
		if time.Now().After(deadline) {
			t.Fatalf("written %d, want %d", l.Written(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestReportOptions(t *testing.T) {
	root, errs := confnode.Parse("edgeguard.yaml", []byte(`access_log:
  headers: [X-Ok, "bad name"]
  custom_fields:
    user_id: "$(jwt)"
`))
	var o struct {
		AccessLog struct {
			Headers      []string          `yaml:"headers"`
			CustomFields map[string]string `yaml:"custom_fields"`
		} `yaml:"access_log"`
	}
	root.Decode(&o)
	ReportOptions(root.Field("access_log"), Options{Headers: o.AccessLog.Headers, CustomFields: o.AccessLog.CustomFields})
	got := errs.Err().Error()
	for _, want := range []string{
		`edgeguard.yaml:2:19: access_log.headers[1]: invalid header name "bad name"`,
		`edgeguard.yaml:4:14: access_log.custom_fields.user_id: template "$(jwt)"`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("got\n%s\nwant %s", got, want)
		}
	}
}
