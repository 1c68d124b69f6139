package botdetect

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// Good-bot verification: a User-Agent that claims to be Googlebot or
// Bingbot is trivially forged. The search engines document the check:
// the reverse (PTR) name of the client address must end in one of their
// domains, and that name must resolve forward (A/AAAA) to the same
// address.
//
// DNS never runs on the request path. The first request of an address
// starts a lookup in the background and is judged "pending"; later requests
// use the cached result (verified, failed, or unknown after a DNS error).
// See the README ("Good-bot verification") for what each state does.

// Verdict of a verification.
type Verdict uint8

const (
	// Pending: no result yet (lookup started or running), or DNS failed
	// (timeout, SERVFAIL), which is retried after a short time.
	Pending Verdict = iota
	// Verified: PTR in the bot's domains and forward-confirmed.
	Verified
	// Failed: the address is not the bot's (no PTR, foreign domain, or
	// the forward lookup does not give the address back).
	Failed
)

func (v Verdict) String() string {
	switch v {
	case Verified:
		return "verified"
	case Failed:
		return "failed"
	}
	return "pending"
}

// GoodBot is a crawler whose claim can be verified.
type GoodBot struct {
	// Name identifies the bot in logs and metrics.
	Name string `yaml:"name"`
	// UserAgent is a regexp (case-insensitive) that a claiming UA matches.
	UserAgent string `yaml:"user_agent"`
	// Domains are the DNS suffixes its reverse names end in.
	Domains []string `yaml:"domains"`
}

// DefaultGoodBots are Google's and Bing's published verification domains.
var DefaultGoodBots = []GoodBot{
	{Name: "googlebot", UserAgent: `googlebot|adsbot-google|mediapartners-google|google-inspectiontool|apis-google|feedfetcher-google`,
		Domains: []string{"googlebot.com", "google.com", "googleusercontent.com"}},
	{Name: "bingbot", UserAgent: `bingbot|adidxbot|bingpreview|msnbot`,
		Domains: []string{"search.msn.com"}},
}

// Verifier checks good-bot claims by reverse-then-forward DNS with a
// bounded cache and a bounded number of concurrent lookups. It is safe for
// concurrent use and outlives config reloads (one per resolver setting).
type Verifier struct {
	resolver string
	timeout  time.Duration
	ttl      time.Duration // of verified and failed results
	errTTL   time.Duration // of DNS errors
	max      int
	now      func() time.Time

	mu       sync.Mutex
	cache    map[verifyKey]verifyResult
	inflight map[verifyKey]bool
	sem      chan struct{}
	wg       sync.WaitGroup

	lookups atomic.Int64
}

type verifyKey struct {
	addr netip.Addr
	bot  string // bot name plus domains, so that a config change re-checks
}

type verifyResult struct {
	v       Verdict
	expires time.Time
	host    string
}

// VerifierOptions configure NewVerifier.
type VerifierOptions struct {
	// Resolver is host:port of the DNS server (default: the first
	// nameserver of /etc/resolv.conf, else 127.0.0.1:53).
	Resolver string
	// Timeout of each DNS exchange (default 2s).
	Timeout time.Duration
	// CacheTTL of verified and failed results (default 1h).
	CacheTTL time.Duration
	// CacheSize bounds the cached addresses (default 10000).
	CacheSize int
	// Concurrency bounds parallel lookups (default 8); claims beyond it
	// stay pending until a later request.
	Concurrency int
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// NewVerifier returns a Verifier.
func NewVerifier(o VerifierOptions) *Verifier {
	if o.Resolver == "" {
		o.Resolver = systemResolver()
	}
	if o.Timeout <= 0 {
		o.Timeout = 2 * time.Second
	}
	if o.CacheTTL <= 0 {
		o.CacheTTL = time.Hour
	}
	if o.CacheSize <= 0 {
		o.CacheSize = 10_000
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 8
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Verifier{
		resolver: o.Resolver,
		timeout:  o.Timeout,
		ttl:      o.CacheTTL,
		errTTL:   min(o.CacheTTL, time.Minute),
		max:      o.CacheSize,
		now:      o.Now,
		cache:    make(map[verifyKey]verifyResult),
		inflight: make(map[verifyKey]bool),
		sem:      make(chan struct{}, o.Concurrency),
	}
}

func systemResolver() string {
	if cc, err := dns.ClientConfigFromFile("/etc/resolv.conf"); err == nil && len(cc.Servers) > 0 {
		return net.JoinHostPort(cc.Servers[0], cc.Port)
	}
	return "127.0.0.1:53"
}

// Check returns the cached verdict for addr claiming bot, and starts a
// background lookup when there is none (then it returns Pending). It never
// waits for DNS. bot is identified by key (see botKey).
func (v *Verifier) Check(addr netip.Addr, bot *compiledBot) Verdict {
	addr = addr.Unmap()
	k := verifyKey{addr: addr, bot: bot.key}
	now := v.now()
	v.mu.Lock()
	r, ok := v.cache[k]
	if ok && now.Before(r.expires) {
		v.mu.Unlock()
		return r.v
	}
	if v.inflight[k] {
		v.mu.Unlock()
		return Pending
	}
	select {
	case v.sem <- struct{}{}:
	default:
		v.mu.Unlock()
		return Pending // too many lookups running; a later request retries
	}
	v.inflight[k] = true
	v.wg.Add(1)
	v.mu.Unlock()

	go func() {
		defer v.wg.Done()
		res := v.lookup(addr, bot)
		v.mu.Lock()
		delete(v.inflight, k)
		if len(v.cache) >= v.max {
			v.evict(v.now())
		}
		v.cache[k] = res
		v.mu.Unlock()
		<-v.sem
	}()
	return Pending
}

// Wait blocks until the lookups started so far have finished (for tests
// and shutdown).
func (v *Verifier) Wait() { v.wg.Wait() }

// Lookups returns how many DNS verifications were started.
func (v *Verifier) Lookups() int64 { return v.lookups.Load() }

// evict drops expired results, then arbitrary ones down to 90% (v.mu held).
func (v *Verifier) evict(now time.Time) {
	for k, r := range v.cache {
		if !now.Before(r.expires) {
			delete(v.cache, k)
		}
	}
	for k := range v.cache {
		if len(v.cache) < v.max*9/10 {
			break
		}
		delete(v.cache, k)
	}
}

// lookup does the reverse-then-forward check.
func (v *Verifier) lookup(addr netip.Addr, bot *compiledBot) verifyResult {
	v.lookups.Add(1)
	now := v.now()
	fail := verifyResult{v: Failed, expires: now.Add(v.ttl)}
	unknown := verifyResult{v: Pending, expires: now.Add(v.errTTL)}

	arpa, err := dns.ReverseAddr(addr.String())
	if err != nil {
		return fail
	}
	names, rcode, err := v.query(arpa, dns.TypePTR)
	if err != nil {
		return unknown
	}
	if rcode == dns.RcodeNameError || len(names) == 0 {
		return fail
	}
	if rcode != dns.RcodeSuccess {
		return unknown
	}
	qtype := dns.TypeA
	if addr.Is6() {
		qtype = dns.TypeAAAA
	}
	sawError := false
	for i, host := range names {
		if i == 4 {
			break // a PTR set this long is not a search engine's
		}
		if !bot.inDomains(host) {
			continue
		}
		addrs, rcode, err := v.query(host, qtype)
		if err != nil || (rcode != dns.RcodeSuccess && rcode != dns.RcodeNameError) {
			sawError = true
			continue
		}
		for _, a := range addrs {
			if ip, err := netip.ParseAddr(a); err == nil && ip.Unmap() == addr {
				return verifyResult{v: Verified, expires: now.Add(v.ttl), host: strings.TrimSuffix(host, ".")}
			}
		}
	}
	if sawError {
		return unknown
	}
	return fail
}

// query asks the resolver and returns the PTR targets or addresses of the
// answer section.
func (v *Verifier) query(name string, qtype uint16) ([]string, int, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	m.RecursionDesired = true
	c := &dns.Client{Net: "udp", Timeout: v.timeout}
	ctx, cancel := context.WithTimeout(context.Background(), v.timeout)
	defer cancel()
	r, _, err := c.ExchangeContext(ctx, m, v.resolver)
	if err == nil && r.Truncated {
		c.Net = "tcp"
		r, _, err = c.ExchangeContext(ctx, m, v.resolver)
	}
	if err != nil {
		return nil, 0, err
	}
	if r == nil {
		return nil, 0, errors.New("no answer")
	}
	var out []string
	for _, rr := range r.Answer {
		switch rr := rr.(type) {
		case *dns.PTR:
			out = append(out, rr.Ptr)
		case *dns.A:
			out = append(out, rr.A.String())
		case *dns.AAAA:
			out = append(out, rr.AAAA.String())
		}
	}
	return out, r.Rcode, nil
}

// compiledBot is a GoodBot ready for matching.
type compiledBot struct {
	name    string
	domains []string // lower case, no leading or trailing dots
	key     string
}

func compileBot(b GoodBot) *compiledBot {
	cb := &compiledBot{name: b.Name}
	for _, d := range b.Domains {
		cb.domains = append(cb.domains, strings.ToLower(strings.Trim(d, ".")))
	}
	cb.key = b.Name + "|" + strings.Join(cb.domains, ",")
	return cb
}

// inDomains reports whether host (a DNS name, maybe with a trailing dot)
// is one of the domains or below one.
func (b *compiledBot) inDomains(host string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for _, d := range b.domains {
		if host == d || strings.HasSuffix(host, "."+d) {
			return true
		}
	}
	return false
}
