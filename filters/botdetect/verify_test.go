package botdetect_test

import (
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/edgeguard/edgeguard/filters"
	"github.com/edgeguard/edgeguard/filters/botdetect"
	"github.com/edgeguard/edgeguard/filters/filtertest"
)

// fakeDNS serves a fixed zone on a loopback UDP port.
type fakeDNS struct {
	srv     *dns.Server
	addr    string
	ptr     map[string]string   // reverse name → host
	fwd     map[string][]string // host → addresses
	queries atomic.Int64
	delay   atomic.Int64 // nanoseconds
	mu      sync.Mutex   // guards ptr and fwd
}

func startDNS(t *testing.T) *fakeDNS {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeDNS{addr: pc.LocalAddr().String(), ptr: map[string]string{}, fwd: map[string][]string{}}
	f.srv = &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(f.serve)}
	started := make(chan struct{})
	f.srv.NotifyStartedFunc = func() { close(started) }
	go f.srv.ActivateAndServe()
	<-started
	t.Cleanup(func() { f.srv.Shutdown() })
	return f
}

func (f *fakeDNS) addPTR(ip, host string) {
	arpa, _ := dns.ReverseAddr(ip)
	f.mu.Lock()
	f.ptr[arpa] = host
	f.mu.Unlock()
}

func (f *fakeDNS) addA(host string, addrs ...string) {
	f.mu.Lock()
	f.fwd[host] = addrs
	f.mu.Unlock()
}

func (f *fakeDNS) serve(w dns.ResponseWriter, r *dns.Msg) {
	f.queries.Add(1)
	time.Sleep(time.Duration(f.delay.Load()))
	f.mu.Lock()
	defer f.mu.Unlock()
	m := new(dns.Msg)
	m.SetReply(r)
	q := r.Question[0]
	switch q.Qtype {
	case dns.TypePTR:
		if host, ok := f.ptr[q.Name]; ok {
			m.Answer = append(m.Answer, &dns.PTR{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypePTR, Class: dns.ClassINET, Ttl: 60}, Ptr: host})
		} else {
			m.Rcode = dns.RcodeNameError
		}
	case dns.TypeA, dns.TypeAAAA:
		for _, a := range f.fwd[q.Name] {
			ip := net.ParseIP(a)
			if q.Qtype == dns.TypeA && ip.To4() != nil {
				m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: ip})
			}
			if q.Qtype == dns.TypeAAAA && ip.To4() == nil {
				m.Answer = append(m.Answer, &dns.AAAA{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeAAAA, Class: dns.ClassINET, Ttl: 60}, AAAA: ip})
			}
		}
	}
	w.WriteMsg(m)
}

func verifyFilter(t *testing.T, resolver, extra string) *botdetect.Filter {
	t.Helper()
	f := build(t, "allow: [GoogleBot, Bingbot]\nbuiltin: [scanners, crawlers]\nverify_good_bots:\n  enabled: true\n  resolver: "+resolver+"\n  timeout: 300ms\n"+extra)
	return f.(*botdetect.Filter)
}

func claim(f *botdetect.Filter, ip, ua string) (int, string) {
	r := filtertest.NewRequest("GET", "/", ip)
	r.RC.Request.Header.SetUserAgent(ua)
	v := r.Run(f)
	if v == filters.Continue {
		return 0, ""
	}
	return r.RC.Response.StatusCode(), r.Ctx.RejectReason
}

func TestGoodBotVerification(t *testing.T) {
	d := startDNS(t)
	// the real crawler: PTR in googlebot.com, forward-confirmed
	d.addPTR("66.249.66.1", "crawl-66-249-66-1.googlebot.com.")
	d.addA("crawl-66-249-66-1.googlebot.com.", "66.249.66.1")
	d.addPTR("2001:4860:4801:10::1", "crawl-2001-4860-4801-10--1.googlebot.com.")
	d.addA("crawl-2001-4860-4801-10--1.googlebot.com.", "2001:4860:4801:10::1")
	d.addPTR("157.55.39.1", "msnbot-157-55-39-1.search.msn.com.")
	d.addA("msnbot-157-55-39-1.search.msn.com.", "157.55.39.1")
	// spoofers: a foreign domain, a look-alike suffix, a PTR that does not
	// resolve back, and no PTR at all
	d.addPTR("203.0.113.5", "host5.example.net.")
	d.addPTR("203.0.113.6", "crawl.googlebot.com.evil.example.")
	d.addPTR("203.0.113.7", "crawl-fake.googlebot.com.")
	d.addA("crawl-fake.googlebot.com.", "66.249.66.99")

	f := verifyFilter(t, d.addr, "")
	cases := []struct {
		ip, ua string
		want   int
		reason string
	}{
		{"66.249.66.1", googlebot, 0, ""},
		{"::ffff:66.249.66.1", googlebot, 0, ""}, // mapped client, same cache entry
		{"2001:4860:4801:10::1", googlebot, 0, ""},
		{"157.55.39.1", bingbot, 0, ""},
		{"203.0.113.5", googlebot, 403, botdetect.ReasonSpoofed},
		{"203.0.113.6", googlebot, 403, botdetect.ReasonSpoofed},
		{"203.0.113.7", googlebot, 403, botdetect.ReasonSpoofed},
		{"203.0.113.8", googlebot, 403, botdetect.ReasonSpoofed},
		{"66.249.66.1", bingbot, 403, botdetect.ReasonSpoofed}, // Google's address claiming Bing
	}
	// First sight: pending. The allow list does not apply to an unverified
	// claim, so with crawlers blocking, a claim is rejected by the built-in
	// list (not as spoofed) while DNS runs in the background.
	for _, tc := range cases {
		if s, reason := claim(f, tc.ip, tc.ua); s != 403 || reason != botdetect.ReasonBuiltin {
			t.Errorf("first sight %s %q: %d %s, want 403 %s", tc.ip, tc.ua[:20], s, reason, botdetect.ReasonBuiltin)
		}
	}
	f.Verifier().Wait()
	for _, tc := range cases {
		if s, reason := claim(f, tc.ip, tc.ua); s != tc.want || reason != tc.reason {
			t.Errorf("%s %q: %d %q, want %d %q", tc.ip, tc.ua[:25], s, reason, tc.want, tc.reason)
		}
	}
	// results are cached: no more queries
	n := d.queries.Load()
	for _, tc := range cases {
		claim(f, tc.ip, tc.ua)
	}
	f.Verifier().Wait()
	if d.queries.Load() != n {
		t.Errorf("cached results queried again (%d → %d)", n, d.queries.Load())
	}
	// a UA that claims nothing is not looked up
	claim(f, "198.51.100.1", chrome)
	f.Verifier().Wait()
	if d.queries.Load() != n {
		t.Error("a browser UA triggered a DNS lookup")
	}
}

func TestVerificationNeverBlocksOnDNS(t *testing.T) {
	d := startDNS(t)
	d.delay.Store(int64(time.Second)) // slower than the 300ms timeout
	d.addPTR("66.249.66.1", "crawl-66-249-66-1.googlebot.com.")
	d.addA("crawl-66-249-66-1.googlebot.com.", "66.249.66.1")
	f := verifyFilter(t, d.addr, "")
	start := time.Now()
	// crawlers are blocking here, so the unverified claim gets 403 builtin
	s, reason := claim(f, "66.249.66.1", googlebot)
	if el := time.Since(start); el > 100*time.Millisecond {
		t.Errorf("request waited %v for DNS", el)
	}
	if s != 403 || reason != botdetect.ReasonBuiltin {
		t.Errorf("pending claim: %d %s", s, reason)
	}
	f.Verifier().Wait()
	// a DNS timeout is not proof of spoofing: still judged as unverified
	if s, reason := claim(f, "66.249.66.1", googlebot); s != 403 || reason != botdetect.ReasonBuiltin {
		t.Errorf("after DNS timeout: %d %s", s, reason)
	}
}

func TestVerificationWithoutBlockingCrawlers(t *testing.T) {
	d := startDNS(t)
	f := build(t, "verify_good_bots: {enabled: true, resolver: \""+d.addr+"\", reject_spoofed: false}\n").(*botdetect.Filter)
	// default builtin (scanners only): a pending Googlebot claim passes as
	// any other UA would, and with reject_spoofed false a failed one too
	if s, _ := claim(f, "203.0.113.9", googlebot); s != 0 {
		t.Errorf("pending: %d", s)
	}
	f.Verifier().Wait()
	if s, _ := claim(f, "203.0.113.9", googlebot); s != 0 {
		t.Errorf("failed with reject_spoofed false: %d", s)
	}
}

func TestVerifierCustomBots(t *testing.T) {
	d := startDNS(t)
	d.addPTR("192.0.2.10", "probe1.monitor.example.com.")
	d.addA("probe1.monitor.example.com.", "192.0.2.10")
	f := verifyFilter(t, d.addr, "  bots:\n    - name: ourmonitor\n      user_agent: OurMonitor\n      domains: [monitor.example.com]\n")
	claim(f, "192.0.2.10", "OurMonitor/1.0")
	f.Verifier().Wait()
	if s, _ := claim(f, "192.0.2.10", "OurMonitor/1.0"); s != 0 {
		t.Errorf("verified custom bot: %d", s)
	}
	if s, r := claim(f, "192.0.2.11", "OurMonitor/1.0"); s != 0 || r != "" {
		t.Errorf("pending custom bot (not a crawler): %d %s", s, r)
	}
	f.Verifier().Wait()
	if s, r := claim(f, "192.0.2.11", "OurMonitor/1.0"); s != 403 || !strings.Contains(r, "spoofed") {
		t.Errorf("spoofed custom bot: %d %s", s, r)
	}
	// Googlebot is not verified with a custom list: it is an ordinary UA
	// (allowed by the allow list)
	if s, _ := claim(f, "203.0.113.1", googlebot); s != 0 {
		t.Errorf("googlebot with custom bots: %d", s)
	}
}
