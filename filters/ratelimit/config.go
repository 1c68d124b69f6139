package ratelimit

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/edgeguard/edgeguard/filters"
	"github.com/edgeguard/edgeguard/limiter"
	"github.com/edgeguard/edgeguard/proxy/config/confnode"
)

// Limits are the per-window limits (requests per period). At least one is
// required; a longer period may not have a lower limit (as in Kong). Month is
// a 30-day and year a 365-day token bucket (Kong uses calendar windows).
type Limits struct {
	Second *float64 `yaml:"second"`
	Minute *float64 `yaml:"minute"`
	Hour   *float64 `yaml:"hour"`
	Day    *float64 `yaml:"day"`
	Month  *float64 `yaml:"month"`
	Year   *float64 `yaml:"year"`
}

func (l *Limits) values() [limiter.MaxWindows]*float64 {
	return [...]*float64{l.Second, l.Minute, l.Hour, l.Day, l.Month, l.Year}
}

// RedisConfig is Kong's `redis:` record (Kong ≥ 3.6); the flat `redis_*`
// fields of Config set the same values.
type RedisConfig struct {
	Host       string `yaml:"host"`
	Port       *int   `yaml:"port"`     // default 6379
	Timeout    *int   `yaml:"timeout"`  // ms, default 2000; connect, read and write each
	Username   string `yaml:"username"` // Redis ≥ 6 ACL user
	Password   string `yaml:"password"` // also ${ENV}, {vault://env/name}, password_file
	Database   *int   `yaml:"database"` // default 0
	SSL        *bool  `yaml:"ssl"`
	SSLVerify  *bool  `yaml:"ssl_verify"` // default true here (false in Kong)
	ServerName string `yaml:"server_name"`
}

// Config is the `config:` block of a rate-limiting plugin instance, with
// Kong's field names plus the edgeguard extensions tiers, tier_source,
// default_tier and max_keys.
type Config struct {
	Limits `yaml:",inline"`

	// LimitBy is consumer (default), credential, ip, header, path or service.
	LimitBy    string `yaml:"limit_by"`
	HeaderName string `yaml:"header_name"`
	Path       string `yaml:"path"`
	// IPv6Prefix is the prefix length IPv6 clients are counted by when the
	// key is the client IP (limit_by ip, or the fallback of the others),
	// since one client usually holds a whole /64: as the abuse detector's
	// ipv6_prefix. Default 64; 128 counts single addresses (as Kong).
	IPv6Prefix int `yaml:"ipv6_prefix"`

	// Policy is local (default), redis or cluster (buckets shared with the
	// other gateways by gossip; needs the gateway's `cluster:` section).
	Policy string `yaml:"policy"`
	// FaultTolerant (default true): when Redis is unavailable, decide with
	// this node's buckets; false answers 500.
	FaultTolerant *bool `yaml:"fault_tolerant"`

	HideClientHeaders bool    `yaml:"hide_client_headers"`
	ErrorCode         *int    `yaml:"error_code"`    // default 429
	ErrorMessage      *string `yaml:"error_message"` // default "API rate limit exceeded"
	// SyncRate is accepted only as -1 (Kong's default: check Redis on every
	// request); batching is not implemented.
	SyncRate *float64 `yaml:"sync_rate"`

	Redis           *RedisConfig `yaml:"redis"`
	RedisHost       string       `yaml:"redis_host"`
	RedisPort       *int         `yaml:"redis_port"`
	RedisTimeout    *int         `yaml:"redis_timeout"`
	RedisUsername   string       `yaml:"redis_username"`
	RedisPassword   string       `yaml:"redis_password"`
	RedisDatabase   *int         `yaml:"redis_database"`
	RedisSSL        *bool        `yaml:"redis_ssl"`
	RedisSSLVerify  *bool        `yaml:"redis_ssl_verify"`
	RedisServerName string       `yaml:"redis_server_name"`

	// Tiers choose the limits per request by the tier of the caller.
	Tiers map[string]Limits `yaml:"tiers"`
	// TierSource is consumer.tier (default) or jwt.<claim>.
	TierSource string `yaml:"tier_source"`
	// DefaultTier is used when the request has no tier or an unknown one;
	// required with tiers.
	DefaultTier string `yaml:"default_tier"`

	// MaxKeys caps the number of keys this instance keeps in memory
	// (default limiter.DefaultMaxKeys, about 150 bytes each).
	MaxKeys int `yaml:"max_keys"`
}

// DefaultIPv6Prefix is the default of ipv6_prefix, the same as the abuse
// detector's (blocklist.DefaultAbuseIPv6Prefix).
const DefaultIPv6Prefix = 64

var windowNames = [limiter.MaxWindows]string{"second", "minute", "hour", "day", "month", "year"}
var windowTitles = [limiter.MaxWindows]string{"Second", "Minute", "Hour", "Day", "Month", "Year"}
var windowPeriods = [limiter.MaxWindows]time.Duration{
	time.Second, time.Minute, time.Hour, 24 * time.Hour, 30 * 24 * time.Hour, 365 * 24 * time.Hour,
}

const (
	byConsumer uint8 = iota
	byCredential
	byIP
	byHeader
	byPath
	byService
)

const (
	policyLocal uint8 = iota
	policyRedis
	policyCluster
)

const (
	tierFromConsumer uint8 = iota + 1
	tierFromClaim
)

// compiled is the validated, defaulted configuration.
type compiled struct {
	limitBy    uint8
	header     []byte
	path       []byte
	v6bits     int // ipv6_prefix
	policy     uint8
	faultTol   bool
	hide       bool
	errCode    int
	errMsg     string
	tierSrc    uint8
	claim      string
	tierNames  []string
	tierLimits [][limiter.MaxWindows]int64 // by tier; 0 = window unused
	defTier    int
	maxKeys    int
	redis      redisSettings
}

type redisSettings struct {
	addr       string
	username   string
	password   string
	db         int
	timeout    time.Duration
	ssl        bool
	sslVerify  bool
	serverName string
}

// id identifies a Redis client configuration (the password only as a digest).
func (r *redisSettings) id() string {
	sum := sha256.Sum256([]byte(r.password))
	return fmt.Sprintf("%s/%d/%s/%s/%v/%v/%s/%v", r.addr, r.db, r.username, hex.EncodeToString(sum[:8]),
		r.ssl, r.sslVerify, r.serverName, r.timeout)
}

// compile validates conf, recording problems on n; ok is false when any.
func compile(n confnode.Node, conf *Config) (c compiled, ok bool) {
	before := len(n.Errs.List)
	fail := func(field, format string, args ...any) { n.FieldErrorf(field, format, args...) }

	switch conf.LimitBy {
	case "", "consumer":
		c.limitBy = byConsumer
	case "credential":
		c.limitBy = byCredential
	case "ip":
		c.limitBy = byIP
	case "header":
		c.limitBy = byHeader
		if conf.HeaderName == "" {
			fail("header_name", "rate-limiting: is required with limit_by: header")
		}
		c.header = []byte(conf.HeaderName)
	case "path":
		c.limitBy = byPath
		if conf.Path == "" || conf.Path[0] != '/' {
			fail("path", "rate-limiting: is required with limit_by: path (a path starting with /)")
		}
		c.path = []byte(conf.Path)
	case "service":
		c.limitBy = byService
	default:
		fail("limit_by", "rate-limiting: must be one of consumer, credential, ip, header, path, service (got %q)", conf.LimitBy)
	}
	if conf.HeaderName != "" && conf.LimitBy != "header" {
		fail("header_name", "rate-limiting: is only used with limit_by: header")
	}
	if conf.Path != "" && conf.LimitBy != "path" {
		fail("path", "rate-limiting: is only used with limit_by: path")
	}
	c.v6bits = conf.IPv6Prefix
	if c.v6bits == 0 {
		c.v6bits = DefaultIPv6Prefix
	}
	if c.v6bits < 32 || c.v6bits > 128 {
		fail("ipv6_prefix", "rate-limiting: must be between 32 and 128")
	}

	c.faultTol = conf.FaultTolerant == nil || *conf.FaultTolerant
	c.hide = conf.HideClientHeaders
	c.errCode = 429
	if conf.ErrorCode != nil {
		c.errCode = *conf.ErrorCode
		if c.errCode < 100 || c.errCode > 599 {
			fail("error_code", "rate-limiting: must be an HTTP status (100-599)")
		}
	}
	c.errMsg = "API rate limit exceeded"
	if conf.ErrorMessage != nil {
		c.errMsg = *conf.ErrorMessage
	}
	if conf.SyncRate != nil && *conf.SyncRate != -1 {
		fail("sync_rate", "rate-limiting: not supported (edgeguard checks Redis atomically on every request); remove it or set -1")
	}
	c.maxKeys = conf.MaxKeys
	if conf.MaxKeys < 0 || conf.MaxKeys > 1<<26 {
		fail("max_keys", "rate-limiting: must be between 1 and %d (0: default %d)", 1<<26, limiter.DefaultMaxKeys)
	}

	// Limits: top level or tiers.
	maxPerWindow := func(w int) float64 { return float64(windowPeriods[w]) } // one per ns
	switch conf.Policy {
	case "", "local":
		c.policy = policyLocal
	case "redis":
		c.policy = policyRedis
		maxPerWindow = func(w int) float64 { return float64(windowPeriods[w] / time.Microsecond) } // one per µs
	case "cluster":
		c.policy = policyCluster
	default:
		fail("policy", "rate-limiting: must be one of local, redis, cluster (got %q)", conf.Policy)
	}
	checkLimits := func(at confnode.Node, l *Limits) (out [limiter.MaxWindows]int64) {
		vals := l.values()
		any := false
		for w, v := range vals {
			if v == nil {
				continue
			}
			any = true
			switch {
			case *v <= 0:
				at.FieldErrorf(windowNames[w], "rate-limiting: must be > 0")
			case *v != math.Trunc(*v):
				at.FieldErrorf(windowNames[w], "rate-limiting: must be a whole number")
			case *v > maxPerWindow(w):
				at.FieldErrorf(windowNames[w], "rate-limiting: must be at most %.0f", maxPerWindow(w))
			default:
				out[w] = int64(*v)
			}
		}
		if !any {
			// A limit whose value failed to decode (minute: x) has its own
			// error; this one would only repeat it.
			failed := false
			for _, name := range windowNames {
				failed = failed || at.Errs.Has(at.Field(name).Path)
			}
			if !failed {
				at.Errorf("rate-limiting: at least one of second, minute, hour, day, month, year is required")
			}
			return out
		}
		// Kong: a longer period may not have a lower limit.
		for w := range vals {
			for s := 0; s < w; s++ {
				if out[w] > 0 && out[s] > 0 && out[w] < out[s] {
					at.FieldErrorf(windowNames[w], "rate-limiting: the limit for %s(%d) cannot be lower than the limit for %s(%d)",
						windowNames[w], out[w], windowNames[s], out[s])
				}
			}
		}
		return out
	}
	hasTop := conf.Limits != (Limits{})
	if len(conf.Tiers) == 0 {
		if conf.TierSource != "" || conf.DefaultTier != "" {
			fail("tiers", "rate-limiting: tier_source and default_tier need tiers")
		}
		c.tierNames = []string{""}
		c.tierLimits = [][limiter.MaxWindows]int64{checkLimits(n, &conf.Limits)}
	} else {
		if hasTop {
			fail("tiers", "rate-limiting: set the limits either at the top level or in tiers, not both")
		}
		if len(conf.Tiers) > 64 {
			fail("tiers", "rate-limiting: at most 64 tiers")
		}
		names := make([]string, 0, len(conf.Tiers))
		for name := range conf.Tiers {
			names = append(names, name)
		}
		sort.Strings(names)
		c.defTier = -1
		for i, name := range names {
			if name == "" {
				fail("tiers", "rate-limiting: tier names must not be empty")
			}
			l := conf.Tiers[name]
			c.tierNames = append(c.tierNames, name)
			c.tierLimits = append(c.tierLimits, checkLimits(n.Field("tiers").Field(name), &l))
			if name == conf.DefaultTier {
				c.defTier = i
			}
		}
		switch {
		case conf.DefaultTier == "":
			fail("default_tier", "rate-limiting: is required with tiers")
		case c.defTier < 0:
			fail("default_tier", "rate-limiting: %q is not one of tiers (%s)", conf.DefaultTier, strings.Join(names, ", "))
		}
		switch src := conf.TierSource; {
		case src == "" || src == "consumer.tier":
			c.tierSrc = tierFromConsumer
		case strings.HasPrefix(src, "jwt.") && len(src) > 4:
			c.tierSrc = tierFromClaim
			c.claim = src[4:]
		default:
			fail("tier_source", "rate-limiting: must be consumer.tier or jwt.<claim>, not %q", src)
		}
	}

	c.redis = compileRedis(n, conf, c.policy == policyRedis)
	return c, len(n.Errs.List) == before
}

func compileRedis(n confnode.Node, conf *Config, used bool) redisSettings {
	r := conf.Redis
	if r == nil {
		r = &RedisConfig{}
	}
	rn := n.Field("redis")
	// Each Kong field exists flat (deprecated in 3.6, still accepted) and in
	// the redis record; setting both is ambiguous.
	str := func(flatName, flat, nested, nestedName string) string {
		if flat != "" && nested != "" {
			n.FieldErrorf(flatName, "rate-limiting: redis.%s is also set; use one", nestedName)
		}
		if flat != "" {
			return flat
		}
		return nested
	}
	num := func(flatName string, flat, nested *int, nestedName string, def int) int {
		if flat != nil && nested != nil {
			n.FieldErrorf(flatName, "rate-limiting: redis.%s is also set; use one", nestedName)
		}
		switch {
		case flat != nil:
			return *flat
		case nested != nil:
			return *nested
		}
		return def
	}
	boolean := func(flatName string, flat, nested *bool, nestedName string, def bool) bool {
		if flat != nil && nested != nil {
			n.FieldErrorf(flatName, "rate-limiting: redis.%s is also set; use one", nestedName)
		}
		switch {
		case flat != nil:
			return *flat
		case nested != nil:
			return *nested
		}
		return def
	}
	host := str("redis_host", conf.RedisHost, r.Host, "host")
	port := num("redis_port", conf.RedisPort, r.Port, "port", 6379)
	timeout := num("redis_timeout", conf.RedisTimeout, r.Timeout, "timeout", 2000)
	db := num("redis_database", conf.RedisDatabase, r.Database, "database", 0)
	s := redisSettings{
		username:   str("redis_username", conf.RedisUsername, r.Username, "username"),
		password:   str("redis_password", conf.RedisPassword, r.Password, "password"),
		db:         db,
		timeout:    time.Duration(timeout) * time.Millisecond,
		ssl:        boolean("redis_ssl", conf.RedisSSL, r.SSL, "ssl", false),
		sslVerify:  boolean("redis_ssl_verify", conf.RedisSSLVerify, r.SSLVerify, "ssl_verify", true),
		serverName: str("redis_server_name", conf.RedisServerName, r.ServerName, "server_name"),
	}
	anySet := host != "" || conf.Redis != nil || conf.RedisPort != nil || conf.RedisTimeout != nil ||
		conf.RedisDatabase != nil || conf.RedisPassword != "" || conf.RedisUsername != "" ||
		conf.RedisSSL != nil || conf.RedisSSLVerify != nil || conf.RedisServerName != ""
	if !used {
		if anySet {
			n.FieldErrorf("policy", "rate-limiting: redis settings need policy: redis")
		}
		return s
	}
	if host == "" {
		n.FieldErrorf("redis_host", "rate-limiting: policy redis needs redis_host (or redis.host)")
	}
	if port < 1 || port > 65535 {
		rn.Errorf("rate-limiting: redis port must be 1-65535")
	}
	if timeout < 1 || timeout > 60_000 {
		rn.Errorf("rate-limiting: redis timeout must be 1-60000 ms")
	}
	if db < 0 {
		rn.Errorf("rate-limiting: redis database must be >= 0")
	}
	pw, err := resolveSecret(s.password)
	if err != nil {
		n.FieldErrorf("redis_password", "rate-limiting: %v", err)
	}
	s.password = pw
	s.addr = joinHostPort(host, port)
	return s
}

func joinHostPort(host string, port int) string {
	if strings.IndexByte(host, ':') >= 0 && !strings.HasPrefix(host, "[") {
		return "[" + host + "]:" + strconv.Itoa(port)
	}
	return host + ":" + strconv.Itoa(port)
}

// resolveSecret resolves Kong's env vault reference `{vault://env/name}`
// (variable NAME: name upper-cased, - replaced by _). The config loader
// already expands `${NAME}` and reads `redis_password_file: PATH`.
func resolveSecret(v string) (string, error) {
	if !strings.HasPrefix(v, "{vault://env/") || !strings.HasSuffix(v, "}") {
		return v, nil
	}
	name := strings.ToUpper(strings.ReplaceAll(v[len("{vault://env/"):len(v)-1], "-", "_"))
	val, ok := os.LookupEnv(name)
	if !ok || name == "" {
		return "", fmt.Errorf("environment variable %q for the redis password is not set", name)
	}
	return val, nil
}

// newPlugin is the plugin's New.
func newPlugin(n confnode.Node, env *filters.Env) (filters.Filter, error) {
	var conf Config
	var c compiled
	ok := filters.DecodeConfig(n, &conf, func() {
		c, _ = compile(n, &conf)
		if c.policy == policyCluster && clusterNode(env) == nil {
			n.FieldErrorf("policy", "rate-limiting: cluster needs a cluster: section in the gateway config (none is configured)")
		}
	})
	if !ok {
		return nil, nil
	}
	return build(c, env)
}

func init() {
	filters.Register(&filters.Plugin{Name: "rate-limiting", New: newPlugin})
}
