package blocklist

import (
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/gaissmai/bart"

	"github.com/edgeguard/edgeguard/filters"
	"github.com/edgeguard/edgeguard/filters/iprestrict"
	"github.com/edgeguard/edgeguard/proxy/config/confnode"
)

// AbuseConfig is the global `abuse:` block: the article's
// AbuseDetectionService built in.
//
//	abuse:
//	  enabled: true
//	  threshold: 100        # points within window that trigger a block
//	  window: 1m
//	  block_ttl: 1h
//	  weights: {"401": 10, "403": 10, "429": 5, request-validator: 5, bot-detection: 20}
//	  exempt: [10.0.0.0/8]
//
// An IP whose points over the sliding window exceed threshold is added to
// the blocklist for block_ttl.
type AbuseConfig struct {
	Enabled bool `yaml:"enabled"`
	// Threshold: a block happens when the sum of weights over Window is
	// more than Threshold (the article's `> 100`). Default 100.
	Threshold float64 `yaml:"threshold"`
	// Window is the sliding window the points are summed over. Default 1m.
	Window time.Duration `yaml:"window"`
	// BlockTTL is how long an automatic block lasts. Default 1h.
	BlockTTL time.Duration `yaml:"block_ttl"`
	// Weights gives points per event. A key is either an HTTP status
	// ("401") that counts responses with that status, or a plugin name
	// ("request-validator", "bot-detection") that counts rejections by
	// that plugin whatever their status; a plugin key wins over the status
	// key for the same response. Absent: DefaultWeights. Given: only the
	// listed events count.
	Weights map[string]float64 `yaml:"weights"`
	// Exempt lists addresses and CIDRs that are never scored or blocked
	// (trusted networks, monitoring).
	Exempt []string `yaml:"exempt"`
	// MaxTracked caps the number of addresses scored at once (memory
	// bound). Default 100000.
	MaxTracked int `yaml:"max_tracked"`
	// IPv6Prefix is the prefix length IPv6 clients are scored and blocked
	// by, since one client usually holds a whole /64. Default 64; 128
	// scores single addresses.
	IPv6Prefix int `yaml:"ipv6_prefix"`
}

// DefaultWeights are the weights used when `weights` is absent.
var DefaultWeights = map[string]float64{
	"401":               10,
	"403":               10,
	"429":               5,
	"request-validator": 5,
	"bot-detection":     20,
}

// Defaults of AbuseConfig.
const (
	DefaultAbuseThreshold  = 100
	DefaultAbuseWindow     = time.Minute
	DefaultAbuseBlockTTL   = time.Hour
	DefaultAbuseMaxTracked = 100_000
	DefaultAbuseIPv6Prefix = 64
)

// SetDefaults fills in unset fields.
func (c *AbuseConfig) SetDefaults() {
	if c.Threshold == 0 {
		c.Threshold = DefaultAbuseThreshold
	}
	if c.Window == 0 {
		c.Window = DefaultAbuseWindow
	}
	if c.BlockTTL == 0 {
		c.BlockTTL = DefaultAbuseBlockTTL
	}
	if c.Weights == nil {
		c.Weights = make(map[string]float64, len(DefaultWeights))
		for k, v := range DefaultWeights {
			c.Weights[k] = v
		}
	}
	if c.MaxTracked == 0 {
		c.MaxTracked = DefaultAbuseMaxTracked
	}
	if c.IPv6Prefix == 0 {
		c.IPv6Prefix = DefaultAbuseIPv6Prefix
	}
}

// DecodeAbuseConfig decodes the `abuse:` node n strictly, applies defaults
// and validates; problems are recorded on n at their fields
// (`abuse.weights.40x`, `abuse.exempt[2]`). ok is false when there were
// any. An absent node gives a disabled config.
func DecodeAbuseConfig(n confnode.Node) (cfg AbuseConfig, ok bool) {
	if !n.Decode(&cfg) {
		return cfg, false
	}
	cfg.SetDefaults()
	return cfg, cfg.Validate(n)
}

// Validate checks a decoded config (after SetDefaults) and records problems
// on n, the node it was decoded from. It reports whether c is valid.
func (c *AbuseConfig) Validate(n confnode.Node) bool {
	before := len(n.Errs.List)
	if c.Threshold <= 0 || math.IsNaN(c.Threshold) || math.IsInf(c.Threshold, 0) {
		n.FieldErrorf("threshold", "must be > 0")
	}
	if c.Window < time.Second {
		n.FieldErrorf("window", "must be at least 1s (a duration such as 1m)")
	}
	if c.BlockTTL < MinTTL {
		n.FieldErrorf("block_ttl", "must be at least %s (a duration such as 1h)", MinTTL)
	} else if c.BlockTTL > MaxTTL {
		n.FieldErrorf("block_ttl", "must be at most %s (100 years)", fmtHours(MaxTTL))
	}
	if c.MaxTracked < 1 {
		n.FieldErrorf("max_tracked", "must be > 0")
	}
	if c.IPv6Prefix < 32 || c.IPv6Prefix > 128 {
		n.FieldErrorf("ipv6_prefix", "must be between 32 and 128")
	}
	wn := n.Field("weights")
	for _, k := range sortedKeys(c.Weights) {
		w := c.Weights[k]
		if _, err := parseEventKey(k); err != nil {
			wn.FieldErrorf(k, "%v", err)
		}
		if w < 0 || math.IsNaN(w) || math.IsInf(w, 0) {
			wn.FieldErrorf(k, "weight must be >= 0")
		}
	}
	en := n.Field("exempt")
	for i, s := range c.Exempt {
		if _, err := iprestrict.ParsePrefix(s); err != nil {
			en.Index(i).Errorf("invalid IP address or CIDR %q: %v", s, err)
		}
	}
	return len(n.Errs.List) == before
}

// parseEventKey returns the status of a status key, or 0 for a plugin key.
func parseEventKey(k string) (int, error) {
	if s, err := strconv.Atoi(k); err == nil {
		if s < 100 || s > 599 {
			return 0, fmt.Errorf("status %d out of range (100-599)", s)
		}
		return s, nil
	}
	if filters.OrderOf(k) >= 0 {
		return 0, nil
	}
	return 0, fmt.Errorf("unknown event %q: use an HTTP status (\"401\") or a plugin name (%s)",
		k, strings.Join(filters.Order, ", "))
}

func sortedKeys(m map[string]float64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// AbuseBlock describes an automatic block, for the callback (warning log,
// metric, audit entry).
type AbuseBlock struct {
	// Addr is the client address whose event crossed the threshold.
	Addr netip.Addr
	// Entry is what was added to the blocklist (for IPv6 the /IPv6Prefix
	// around Addr).
	Entry Entry
	// Score is the sum of points over the window, Threshold the limit.
	Score, Threshold float64
	// Status and RejectedBy are those of the triggering event.
	Status     int
	RejectedBy string
}

// Detector scores client addresses from response events and blocks those
// that cross the threshold. Observe is cheap for events that carry no
// weight (most responses) and allocation-free for scored events of known
// addresses. A nil *Detector ignores everything. Safe for concurrent use.
type Detector struct {
	list      *List
	onBlock   func(AbuseBlock)
	threshold int64 // milli-points
	ttl       time.Duration
	v6bits    int
	statusW   [600]int64 // milli-points by status
	pluginW   []pluginWeight
	exempt    *bart.Lite // nil when empty
	window    *Window

	blocks       atomic.Int64
	blocksMetric *metrics.Counter
}

type pluginWeight struct {
	name string
	w    int64
}

// DetectorOptions are the optional parts of a Detector.
type DetectorOptions struct {
	// OnBlock is called after every automatic block, on the goroutine that
	// called Observe; it must not block (log, count, hand to the audit log).
	OnBlock func(AbuseBlock)
	// Metrics, when set, receives edgeguard_abuse_blocks_total and
	// edgeguard_abuse_tracked_ips.
	Metrics *metrics.Set
}

// NewDetector builds a detector that adds blocks to list. cfg must have
// been validated (DecodeAbuseConfig); an invalid cfg gives an error. A
// disabled cfg gives a nil *Detector, which is valid and does nothing.
func NewDetector(cfg AbuseConfig, list *List, opts DetectorOptions) (*Detector, error) {
	if !cfg.Enabled {
		return nil, nil
	}
	if list == nil {
		return nil, fmt.Errorf("abuse: no blocklist")
	}
	cfg.SetDefaults()
	d := &Detector{
		list:      list,
		onBlock:   opts.OnBlock,
		threshold: milli(cfg.Threshold),
		ttl:       cfg.BlockTTL,
		v6bits:    cfg.IPv6Prefix,
	}
	if cfg.Threshold <= 0 || cfg.Window <= 0 || cfg.BlockTTL <= 0 || cfg.IPv6Prefix < 32 || cfg.IPv6Prefix > 128 {
		return nil, fmt.Errorf("abuse: invalid config (validate it with DecodeAbuseConfig)")
	}
	for _, k := range sortedKeys(cfg.Weights) {
		w := cfg.Weights[k]
		status, err := parseEventKey(k)
		if err != nil {
			return nil, fmt.Errorf("abuse: weights: %w", err)
		}
		if w < 0 {
			return nil, fmt.Errorf("abuse: weights.%s: weight must be >= 0", k)
		}
		if status > 0 {
			d.statusW[status] = milli(w)
		} else {
			d.pluginW = append(d.pluginW, pluginWeight{name: k, w: milli(w)})
		}
	}
	if len(cfg.Exempt) > 0 {
		t, err := iprestrict.NewTable(cfg.Exempt)
		if err != nil {
			return nil, fmt.Errorf("abuse: exempt: %w", err)
		}
		d.exempt = t
	}
	d.window = NewWindow(int64(cfg.Window), cfg.MaxTracked)
	if m := opts.Metrics; m != nil {
		d.blocksMetric = m.GetOrCreateCounter(`edgeguard_abuse_blocks_total`)
		m.GetOrCreateGauge(`edgeguard_abuse_tracked_ips`, func() float64 { return float64(d.window.Len()) })
	}
	return d, nil
}

func milli(f float64) int64 { return int64(math.Round(f * 1000)) }

// Observe records one finished request: the client address, the response
// status, and the plugin name (Kong name such as "request-validator", not
// the instance name) of the filter that produced the response, or "" when
// it came from the upstream. It returns true when this event blocked the
// address. Responses produced by the blocklist itself are ignored.
//
// now is the event time (pass Ctx.Start or time.Now()); it is an argument
// so that tests can step through time.
func (d *Detector) Observe(ip netip.Addr, status int, rejectedBy string, now time.Time) bool {
	if d == nil {
		return false
	}
	w := d.weight(status, rejectedBy)
	if w == 0 {
		return false
	}
	ip = ip.Unmap()
	if !ip.IsValid() || (d.exempt != nil && d.exempt.Contains(ip)) {
		return false
	}
	bits := 32
	if ip.Is6() {
		bits = d.v6bits
	}
	pfx := netip.PrefixFrom(ip, bits).Masked()
	key := pfx.Addr()
	sum := d.window.Add(key, w, now.UnixNano())
	if sum <= d.threshold {
		return false
	}
	d.window.Reset(key)
	if d.list.Contains(ip) {
		return false // already blocked (for instance by a wider entry)
	}
	score := float64(sum) / 1000
	thr := float64(d.threshold) / 1000
	what := strconv.Itoa(status)
	if rejectedBy != "" {
		what = rejectedBy + " " + what
	}
	reason := fmt.Sprintf("abuse score %g > %g within %s (last event: %s)", score, thr,
		time.Duration(d.window.window), what)
	e, err := d.list.Add(pfx, d.ttl, reason, SourceAbuse)
	if err != nil {
		// list full: nothing more to do here; the list reports ErrFull
		return false
	}
	d.blocks.Add(1)
	if d.blocksMetric != nil {
		d.blocksMetric.Inc()
	}
	if d.onBlock != nil {
		d.onBlock(AbuseBlock{Addr: ip, Entry: e, Score: score, Threshold: thr, Status: status, RejectedBy: rejectedBy})
	}
	return true
}

// weight returns the milli-points of an event.
func (d *Detector) weight(status int, rejectedBy string) int64 {
	if rejectedBy != "" {
		if rejectedBy == RejectedBy {
			return 0
		}
		for i := range d.pluginW {
			if d.pluginW[i].name == rejectedBy {
				return d.pluginW[i].w
			}
		}
	}
	if status < 0 || status >= len(d.statusW) {
		return 0
	}
	return d.statusW[status]
}

// Score returns the current points of ip (its IPv6 prefix for IPv6).
func (d *Detector) Score(ip netip.Addr, now time.Time) float64 {
	if d == nil {
		return 0
	}
	ip = ip.Unmap()
	bits := 32
	if ip.Is6() {
		bits = d.v6bits
	}
	return float64(d.window.Sum(netip.PrefixFrom(ip, bits).Masked().Addr(), now.UnixNano())) / 1000
}

// Blocks returns the number of automatic blocks so far.
func (d *Detector) Blocks() int64 {
	if d == nil {
		return 0
	}
	return d.blocks.Load()
}
