// Package botdetect implements Kong's `bot-detection` plugin with
// edgeguard's extensions: allow and deny lists of User-Agent regexps plus a
// built-in list of known bots, the article's behavioural bot score, and
// DNS verification of Googlebot/Bingbot claims.
//
// Order of decisions for one request:
//
//  1. An inbound X-Bot-Score header is always removed (only the gateway
//     sets it).
//  2. Two or more User-Agent headers: 400 `Only one User-Agent header
//     allowed` (Kong).
//  3. With verify_good_bots, a UA claiming a good bot is checked against
//     its DNS: verified passes at once; failed is rejected (403); pending
//     (first sight, lookup in the background) is judged without the allow
//     list.
//  4. allow (passes at once) → deny (403 `Forbidden`) → built-in groups
//     that block (403). Matching is case-insensitive, unlike Kong (see
//     README); all patterns are compiled at load into one Matcher.
//  5. With score enabled: no UA, high request rate from the address,
//     missing Accept-Language and a known bot signature add their weights;
//     above reject_score 403, above challenge_score the request goes on
//     with X-Bot-Score.
//
// A Filter is immutable after New and safe for concurrent use; Access does
// not allocate (DNS lookups run in the background, see Verifier).
package botdetect

import (
	"bytes"
	"fmt"
	"net/netip"
	"regexp/syntax"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/edgeguard/edgeguard/filters"
	"github.com/edgeguard/edgeguard/filters/blocklist"
	"github.com/edgeguard/edgeguard/proxy/config/confnode"
)

// Name is the Kong plugin name.
const Name = "bot-detection"

// HeaderBotScore is the request header carrying the score to the backend.
const HeaderBotScore = "X-Bot-Score"

// Reasons recorded in Ctx.RejectReason.
const (
	ReasonMultipleUA = "bot_multiple_user_agents"
	ReasonDenied     = "bot_denied"  // deny list
	ReasonBuiltin    = "bot_builtin" // built-in list
	ReasonSpoofed    = "bot_spoofed" // good-bot claim failed DNS verification
	ReasonScore      = "bot_score"   // behavioural score above reject_score
	msgForbidden     = "Forbidden"   // Kong's default 403 message
	msgMultipleUA    = "Only one User-Agent header allowed"
	listAllow        = 0
	listDeny         = 1
	listBuiltin      = 2
	listSignature    = 3
)

var (
	headerBotScore      = []byte(HeaderBotScore)
	botScoreHeader      = filters.NewHeaderNames(HeaderBotScore)
	headerAcceptLang    = []byte("Accept-Language")
	headerUserAgentLine = []byte("user-agent")
)

func init() {
	filters.Register(&filters.Plugin{Name: Name, New: New})
}

// Filter is a compiled bot-detection instance.
type Filter struct {
	s        settings
	m        *Matcher // allow, deny, built-in blocking[, built-in signatures]
	claims   *Matcher // one list per good bot; nil without verification
	bots     []*compiledBot
	verifier *Verifier
	freq     *blocklist.Window // nil unless the score uses frequency
	cache    *uaCache          // nil when ua_cache is 0

	rejected    [5]*metrics.Counter // by reason index
	challenged  *metrics.Counter
	verifiedCnt *metrics.Counter
}

var reasons = [5]string{ReasonMultipleUA, ReasonDenied, ReasonBuiltin, ReasonSpoofed, ReasonScore}

// New builds a bot-detection filter from its `config:` node. Problems are
// recorded on n with their place (a bad regexp at `config.deny[3]`) and New
// then returns nil, nil.
func New(n confnode.Node, env *filters.Env) (filters.Filter, error) {
	var cfg Config
	var s settings
	if !filters.DecodeConfig(n, &cfg, func() { s, _ = validate(n, &cfg) }) {
		return nil, nil
	}
	f, err := build(s, env)
	if err != nil {
		return nil, err
	}
	if env != nil && env.Logger != nil {
		for _, d := range s.deprecated {
			env.Logger.Warn(fmt.Sprintf("%s:%d: %s: bot-detection: %q is deprecated (removed in Kong 3.0), use %q",
				d.file, d.line, d.path, d.old, d.repl), "field", d.path)
		}
		for _, l := range []struct {
			list  int
			field string
			pats  []string
		}{{listAllow, s.allowField, s.allow}, {listDeny, s.denyField, s.deny}} {
			for _, i := range f.m.Always(l.list) {
				at := n.Field(l.field).Index(i)
				env.Logger.Warn(fmt.Sprintf("%s:%d: %s: bot-detection: pattern %q has no literal text and is run on every request",
					at.File, at.Line(), at.Path, l.pats[i]))
			}
			if s.maxUA > 0 {
				continue
			}
			for i, p := range l.pats {
				if size := progSize(p); size > largeProg {
					at := n.Field(l.field).Index(i)
					env.Logger.Warn(fmt.Sprintf("%s:%d: %s: bot-detection: pattern %q compiles to %d instructions: matching a long User-Agent costs up to that many steps per byte (milliseconds for 16 KiB); simplify it or set max_user_agent_length",
						at.File, at.Line(), at.Path, p, size))
				}
			}
		}
	}
	return f, nil
}

// largeProg is the program size above which New warns about a pattern:
// Go's regexp matches in time linear in the input, times up to the size
// of the program when it runs as an NFA (long inputs).
const largeProg = 1000

// progSize is the number of instructions pattern compiles to (0 if it
// does not parse; the matcher reports that).
func progSize(pattern string) int {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return 0
	}
	prog, err := syntax.Compile(re.Simplify())
	if err != nil {
		return 0
	}
	return len(prog.Inst)
}

func build(s settings, env *filters.Env) (*Filter, error) {
	f := &Filter{s: s}
	blocking, others := groupRules(s.groups)
	lists := [][]string{s.allow, s.deny, blocking}
	if s.score && s.wSig > 0 {
		lists = append(lists, others)
	}
	m, err := Compile(lists)
	if err != nil {
		return nil, fmt.Errorf("bot-detection: %w", err)
	}
	f.m = m
	f.cache = newUACache(s.uaCache)

	var shared *filters.Shared
	instance := ""
	if env != nil {
		shared, instance = env.Shared, env.InstanceName
	}
	if s.verify {
		var claimLists [][]string
		for _, b := range s.bots {
			claimLists = append(claimLists, []string{b.UserAgent})
			f.bots = append(f.bots, compileBot(b))
		}
		if f.claims, err = Compile(claimLists); err != nil {
			return nil, fmt.Errorf("bot-detection: verify_good_bots: %w", err)
		}
		o := s.verifyOpts
		key := fmt.Sprintf("botdetect.verifier|%s|%v|%v|%d", o.Resolver, o.Timeout, o.CacheTTL, o.CacheSize)
		f.verifier = sharedGet(shared, key, func() any { return NewVerifier(o) }).(*Verifier)
	}
	if s.score && s.wFreq > 0 {
		key := fmt.Sprintf("botdetect.freq|%s|%v|%d", instance, s.freqWindow, s.freqMaxIPs)
		f.freq = sharedGet(shared, key, func() any {
			return blocklist.NewWindow(int64(s.freqWindow), s.freqMaxIPs)
		}).(*blocklist.Window)
	}
	if env != nil && env.Metrics != nil {
		for i, r := range reasons {
			f.rejected[i] = env.Metrics.GetOrCreateCounter(
				fmt.Sprintf(`edgeguard_bot_detection_rejected_total{plugin=%q,reason=%q}`, instance, r))
		}
		f.challenged = env.Metrics.GetOrCreateCounter(
			fmt.Sprintf(`edgeguard_bot_detection_challenged_total{plugin=%q}`, instance))
		f.verifiedCnt = env.Metrics.GetOrCreateCounter(
			fmt.Sprintf(`edgeguard_bot_detection_verified_total{plugin=%q}`, instance))
	}
	return f, nil
}

func sharedGet(s *filters.Shared, key string, create func() any) any {
	if s == nil {
		return create()
	}
	return s.Get(key, create)
}

// Verifier returns the filter's good-bot verifier (nil when verification
// is off), for tests and shutdown.
func (f *Filter) Verifier() *Verifier { return f.verifier }

// Access applies the lists and the score. It does not allocate.
func (f *Filter) Access(c *filters.Ctx) filters.Verdict {
	h := &c.RC.Request.Header
	botScoreHeader.Del(h, 0)

	if countUserAgents(h.RawHeaders()) > 1 {
		return f.reject(c, 400, 0, msgMultipleUA)
	}
	// The whole UA is matched (Kong): a cut would let padding hide a
	// denied name and make `$` match at the cut. Over the optional limit,
	// fail closed.
	ua := bytes.TrimSpace(h.UserAgent())
	if f.s.maxUA > 0 && len(ua) > f.s.maxUA {
		return f.reject(c, 403, 1, msgForbidden)
	}

	sig := false
	if len(ua) > 0 {
		from := listAllow
		if f.claims != nil {
			if b := f.claims.Match(ua, 0); b >= 0 {
				switch f.verifier.Check(c.ClientIP, f.bots[b]) {
				case Verified:
					inc(f.verifiedCnt)
					return filters.Continue
				case Failed:
					if f.s.rejectSpoofed {
						return f.reject(c, 403, 3, msgForbidden)
					}
				}
				// pending or ignored: the claim does not earn the allow list
				from = listDeny
			}
		}
		switch f.cache.match(f.m, ua, from) {
		case listAllow:
			return filters.Continue
		case listDeny:
			return f.reject(c, 403, 1, msgForbidden)
		case listBuiltin:
			return f.reject(c, 403, 2, msgForbidden)
		case listSignature:
			sig = true
		}
	}
	if !f.s.score {
		return filters.Continue
	}

	score := int64(0)
	if len(ua) == 0 {
		score += f.s.wNoUA
	}
	if sig {
		score += f.s.wSig
	}
	if len(h.PeekBytes(headerAcceptLang)) == 0 {
		score += f.s.wNoAL
	}
	if f.freq != nil {
		now := c.Start
		if now.IsZero() {
			now = time.Now()
		}
		if f.freq.Add(freqKey(c.ClientIP), 1, now.UnixNano()) > f.s.freqThreshold {
			score += f.s.wFreq
		}
	}
	score = min(score, 1000)
	switch {
	case score > f.s.reject:
		return f.reject(c, 403, 4, msgForbidden)
	case score > f.s.challenge:
		inc(f.challenged)
		var buf [8]byte
		h.SetBytesKV(headerBotScore, AppendScore(buf[:0], score))
	}
	return filters.Continue
}

func (f *Filter) reject(c *filters.Ctx, status, reason int, msg string) filters.Verdict {
	inc(f.rejected[reason])
	return c.Reject(status, reasons[reason], msg)
}

// freqKey is the address requests are counted by: IPv4, or the /64 of an
// IPv6 address (one client usually holds a whole /64).
func freqKey(a netip.Addr) netip.Addr {
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.Addr()
	}
	return a
}

// AppendScore appends a score given in thousandths as a short decimal
// ("0.75", "0.8", "1").
func AppendScore(dst []byte, milli int64) []byte {
	if milli >= 1000 {
		return append(dst, '1')
	}
	if milli <= 0 {
		return append(dst, '0')
	}
	d := [3]byte{byte('0' + milli/100), byte('0' + milli/10%10), byte('0' + milli%10)}
	n := 3
	for n > 1 && d[n-1] == '0' {
		n--
	}
	dst = append(dst, '0', '.')
	return append(dst, d[:n]...)
}

// countUserAgents counts User-Agent lines in the raw request headers (as
// received; fasthttp keeps only the last value of a repeated User-Agent).
// It stops counting at 2.
func countUserAgents(raw []byte) int {
	n := 0
	for len(raw) > 0 {
		end := bytes.IndexByte(raw, '\n')
		line := raw
		if end >= 0 {
			line, raw = raw[:end], raw[end+1:]
		} else {
			raw = nil
		}
		k := len(headerUserAgentLine)
		if len(line) <= k || line[0]|0x20 != 'u' || !equalFoldASCII(line[:k], headerUserAgentLine) {
			continue
		}
		for k < len(line) && (line[k] == ' ' || line[k] == '\t') {
			k++
		}
		if k < len(line) && line[k] == ':' {
			if n++; n > 1 {
				return n
			}
		}
	}
	return n
}

func equalFoldASCII(a, lower []byte) bool {
	for i := range a {
		c := a[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

func inc(c *metrics.Counter) {
	if c != nil {
		c.Inc()
	}
}

var _ filters.Filter = (*Filter)(nil)
