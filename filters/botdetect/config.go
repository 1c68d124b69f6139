package botdetect

import (
	"math"
	"net"
	"regexp"
	"time"

	"github.com/edgeguard/edgeguard/proxy/config/confnode"
)

// Config is the `config:` block of a bot-detection instance. allow and deny
// are Kong's; the rest are edgeguard extensions with defaults that keep
// Kong's behaviour except where the README says otherwise.
type Config struct {
	// Allow: a UA matching one of these regexps passes at once, overriding
	// deny, the built-in list and the score.
	Allow []string `yaml:"allow,omitempty"`
	// Deny: a UA matching one of these is rejected with 403.
	Deny []string `yaml:"deny,omitempty"`
	// Whitelist and Blacklist are Kong's names before 2.1, accepted with a
	// deprecation warning.
	Whitelist []string `yaml:"whitelist,omitempty"`
	Blacklist []string `yaml:"blacklist,omitempty"`

	// Builtin selects the groups of the built-in list that reject
	// (scanners, crawlers, clients, or kong for all). Default [scanners];
	// [] disables blocking by the built-in list.
	Builtin []string `yaml:"builtin,omitempty"`
	// MaxUserAgentLength: 0 (default) matches the whole UA, as Kong does
	// (the server's header size limit bounds it). Otherwise a UA longer
	// than this many bytes is not matched at all and fails closed: no
	// allow match, 403 as a deny match. Matching only a leading part would
	// let a long padding hide a denied name.
	MaxUserAgentLength int `yaml:"max_user_agent_length,omitempty"`
	// UACache is the number of slots of the per-instance cache of recent
	// User-Agent verdicts (default 4096, rounded up to a power of two;
	// 0 disables it).
	UACache *int `yaml:"ua_cache,omitempty"`

	// Score is the article's behavioural score (off by default).
	Score ScoreConfig `yaml:"score,omitempty"`
	// VerifyGoodBots checks Googlebot/Bingbot claims by DNS (off by default).
	VerifyGoodBots VerifyConfig `yaml:"verify_good_bots,omitempty"`
}

// ScoreConfig configures the behavioural score. A request's score is the
// sum of the weights of the signals it shows, capped at 1.
type ScoreConfig struct {
	Enabled bool `yaml:"enabled,omitempty"`
	// RejectScore: a score above it is rejected with 403 (default 0.9).
	RejectScore *float64 `yaml:"reject_score,omitempty"`
	// ChallengeScore: a score above it goes on with the request header
	// X-Bot-Score for the backend (default 0.7).
	ChallengeScore *float64     `yaml:"challenge_score,omitempty"`
	Weights        ScoreWeights `yaml:"weights,omitempty"`
	Frequency      FreqConfig   `yaml:"frequency,omitempty"`
}

// ScoreWeights are the points of each signal (defaults from the article).
type ScoreWeights struct {
	NoUserAgent      *float64 `yaml:"no_user_agent,omitempty"`      // 0.3
	HighFrequency    *float64 `yaml:"high_frequency,omitempty"`     // 0.3
	NoAcceptLanguage *float64 `yaml:"no_accept_language,omitempty"` // 0.1
	BotSignature     *float64 `yaml:"bot_signature,omitempty"`      // 0.5
}

// FreqConfig defines "high frequency": more than Threshold requests from
// one address (IPv6: its /64) within Window.
type FreqConfig struct {
	Threshold int           `yaml:"threshold,omitempty"` // default 100
	Window    time.Duration `yaml:"window,omitempty"`    // default 1m
	MaxIPs    int           `yaml:"max_ips,omitempty"`   // addresses tracked, default 100000
}

// VerifyConfig configures good-bot verification.
type VerifyConfig struct {
	Enabled bool `yaml:"enabled,omitempty"`
	// Resolver is host:port of the DNS server (default: /etc/resolv.conf).
	Resolver string `yaml:"resolver,omitempty"`
	// Timeout per DNS exchange (default 2s).
	Timeout time.Duration `yaml:"timeout,omitempty"`
	// CacheTTL of results (default 1h).
	CacheTTL time.Duration `yaml:"cache_ttl,omitempty"`
	// CacheSize: addresses cached (default 10000).
	CacheSize int `yaml:"cache_size,omitempty"`
	// Bots to verify (default DefaultGoodBots: Googlebot, Bingbot).
	Bots []GoodBot `yaml:"bots,omitempty"`
	// RejectSpoofed: a claim whose verification failed gets 403
	// (default true); false only ignores the claim.
	RejectSpoofed *bool `yaml:"reject_spoofed,omitempty"`
}

// Defaults.
const (
	DefaultUACache        = 4096
	DefaultRejectScore    = 0.9
	DefaultChallengeScore = 0.7
	DefaultFreqThreshold  = 100
	DefaultFreqWindow     = time.Minute
	DefaultFreqMaxIPs     = 100_000
)

// Default weights (the article's).
const (
	DefaultWeightNoUserAgent      = 0.3
	DefaultWeightHighFrequency    = 0.3
	DefaultWeightNoAcceptLanguage = 0.1
	DefaultWeightBotSignature     = 0.5
)

// settings is the validated, defaulted form of Config.
type settings struct {
	allow, deny []string
	groups      map[string]bool
	maxUA       int // 0: no limit
	uaCache     int

	score               bool
	reject, challenge   int64 // thousandths
	wNoUA, wFreq, wNoAL int64 // thousandths
	wSig                int64
	freqThreshold       int64
	freqWindow          time.Duration
	freqMaxIPs          int

	verify        bool
	verifyOpts    VerifierOptions
	bots          []GoodBot
	rejectSpoofed bool

	deprecated            []deprecation
	allowField, denyField string
}

type deprecation struct {
	file, path string
	line       int
	old, repl  string
}

func milli(f float64) int64 { return int64(math.Round(f * 1000)) }

func orDefault(p *float64, d float64) float64 {
	if p == nil {
		return d
	}
	return *p
}

// validate checks cfg, decoded from n, records problems at their fields
// and returns the settings; ok is false when there were problems.
func validate(n confnode.Node, cfg *Config) (s settings, ok bool) {
	before := len(n.Errs.List)

	s.allow, s.deny = cfg.Allow, cfg.Deny
	s.allowField, s.denyField = "allow", "deny"
	if n.Field("whitelist").Present() {
		if n.Field("allow").Present() {
			n.FieldErrorf("whitelist", "cannot be combined with allow: whitelist is the old name of allow, keep only allow")
		} else {
			s.allow, s.allowField = cfg.Whitelist, "whitelist"
			s.deprecated = append(s.deprecated, dep(n, "whitelist", "allow"))
		}
	}
	if n.Field("blacklist").Present() {
		if n.Field("deny").Present() {
			n.FieldErrorf("blacklist", "cannot be combined with deny: blacklist is the old name of deny, keep only deny")
		} else {
			s.deny, s.denyField = cfg.Blacklist, "blacklist"
			s.deprecated = append(s.deprecated, dep(n, "blacklist", "deny"))
		}
	}
	checkPatterns(n.Field(s.allowField), s.allow)
	checkPatterns(n.Field(s.denyField), s.deny)

	s.groups = map[string]bool{GroupScanners: true}
	if n.Field("builtin").Present() {
		s.groups = map[string]bool{}
		for i, g := range cfg.Builtin {
			if !knownGroup(g) {
				n.Field("builtin").Index(i).Errorf("unknown group %q (known: %s, %s, %s, %s)", g,
					GroupScanners, GroupCrawlers, GroupClients, GroupKong)
			}
			s.groups[g] = true
		}
	}

	s.maxUA = cfg.MaxUserAgentLength
	if s.maxUA != 0 && (s.maxUA < 64 || s.maxUA > 65536) {
		n.FieldErrorf("max_user_agent_length", "must be 0 (no limit) or between 64 and 65536")
	}

	s.uaCache = DefaultUACache
	if cfg.UACache != nil {
		s.uaCache = *cfg.UACache
		if s.uaCache < 0 || s.uaCache > 1<<20 {
			n.FieldErrorf("ua_cache", "must be between 0 (off) and 1048576")
		}
	}

	sc, sn := cfg.Score, n.Field("score")
	s.score = sc.Enabled
	reject := orDefault(sc.RejectScore, DefaultRejectScore)
	challenge := orDefault(sc.ChallengeScore, DefaultChallengeScore)
	checkUnit(sn, "reject_score", reject)
	checkUnit(sn, "challenge_score", challenge)
	if challenge > reject {
		sn.FieldErrorf("challenge_score", "must not be above reject_score (%g)", reject)
	}
	s.reject, s.challenge = milli(reject), milli(challenge)
	wn := sn.Field("weights")
	w := sc.Weights
	for _, x := range []struct {
		name string
		p    *float64
		d    float64
		dst  *int64
	}{
		{"no_user_agent", w.NoUserAgent, DefaultWeightNoUserAgent, &s.wNoUA},
		{"high_frequency", w.HighFrequency, DefaultWeightHighFrequency, &s.wFreq},
		{"no_accept_language", w.NoAcceptLanguage, DefaultWeightNoAcceptLanguage, &s.wNoAL},
		{"bot_signature", w.BotSignature, DefaultWeightBotSignature, &s.wSig},
	} {
		v := orDefault(x.p, x.d)
		checkUnit(wn, x.name, v)
		*x.dst = milli(v)
	}
	fq, fn := sc.Frequency, sn.Field("frequency")
	s.freqThreshold = int64(fq.Threshold)
	if fq.Threshold == 0 {
		s.freqThreshold = DefaultFreqThreshold
	} else if fq.Threshold < 0 {
		fn.FieldErrorf("threshold", "must be > 0")
	}
	s.freqWindow = fq.Window
	if fq.Window == 0 {
		s.freqWindow = DefaultFreqWindow
	} else if fq.Window < time.Second {
		fn.FieldErrorf("window", "must be at least 1s (a duration such as 1m)")
	}
	s.freqMaxIPs = fq.MaxIPs
	if fq.MaxIPs == 0 {
		s.freqMaxIPs = DefaultFreqMaxIPs
	} else if fq.MaxIPs < 0 {
		fn.FieldErrorf("max_ips", "must be > 0")
	}

	vc, vn := cfg.VerifyGoodBots, n.Field("verify_good_bots")
	s.verify = vc.Enabled
	s.rejectSpoofed = vc.RejectSpoofed == nil || *vc.RejectSpoofed
	if vc.Resolver != "" {
		if _, _, err := net.SplitHostPort(vc.Resolver); err != nil {
			vn.FieldErrorf("resolver", "must be host:port (for example 127.0.0.1:53): %v", err)
		}
	}
	if vc.Timeout < 0 || (vc.Timeout > 0 && vc.Timeout < time.Millisecond) {
		vn.FieldErrorf("timeout", "must be at least 1ms")
	}
	if vc.CacheTTL < 0 || (vc.CacheTTL > 0 && vc.CacheTTL < time.Second) {
		vn.FieldErrorf("cache_ttl", "must be at least 1s")
	}
	if vc.CacheSize < 0 {
		vn.FieldErrorf("cache_size", "must be > 0")
	}
	s.verifyOpts = VerifierOptions{Resolver: vc.Resolver, Timeout: vc.Timeout, CacheTTL: vc.CacheTTL, CacheSize: vc.CacheSize}
	s.bots = vc.Bots
	if !vn.Field("bots").Present() {
		s.bots = DefaultGoodBots
	}
	bn := vn.Field("bots")
	for i, b := range vc.Bots {
		en := bn.Index(i)
		if b.Name == "" {
			en.FieldErrorf("name", "is required")
		}
		if b.UserAgent == "" {
			en.FieldErrorf("user_agent", "is required")
		} else if _, err := regexp.Compile("(?i)" + b.UserAgent); err != nil {
			en.FieldErrorf("user_agent", "%v", cleanRegexpError(err))
		}
		if len(b.Domains) == 0 {
			en.FieldErrorf("domains", "needs at least one domain")
		}
	}
	return s, len(n.Errs.List) == before
}

func dep(n confnode.Node, old, repl string) deprecation {
	f := n.Field(old)
	return deprecation{file: f.File, path: f.Path, line: f.Line(), old: old, repl: repl}
}

func checkUnit(n confnode.Node, field string, v float64) {
	if v < 0 || v > 1 || math.IsNaN(v) {
		n.FieldErrorf(field, "must be between 0 and 1, got %g", v)
	}
}

func checkPatterns(n confnode.Node, pats []string) {
	if len(pats) > MaxPatterns/2 {
		n.Errorf("too many patterns (%d, at most %d)", len(pats), MaxPatterns/2)
		return
	}
	for i, p := range pats {
		if _, err := regexp.Compile("(?i)" + p); err != nil {
			n.Index(i).Errorf("%v", &PatternError{Pattern: p, Err: cleanRegexpError(err)})
		}
	}
}
