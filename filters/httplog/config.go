package httplog

import (
	"encoding/base64"
	"fmt"
	"net"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/edgeguard/edgeguard/filters"
	"github.com/edgeguard/edgeguard/filters/template"
	"github.com/edgeguard/edgeguard/proxy/config/confnode"
)

// Name is the Kong plugin name.
const Name = "http-log"

// Config is the plugin's `config:` block, with Kong's field names and units
// (milliseconds for timeout and keepalive, seconds inside queue).
type Config struct {
	// HTTPEndpoint is the collector URL (http or https, required). Userinfo
	// (`https://user:pass@host/path`) becomes a Basic Authorization header.
	HTTPEndpoint string `yaml:"http_endpoint"`
	// Method is POST (default), PUT or PATCH.
	Method string `yaml:"method"`
	// Timeout bounds one send, in milliseconds (default 10000).
	Timeout *float64 `yaml:"timeout"`
	// Keepalive is how long an idle connection to the collector is kept, in
	// milliseconds (default 60000).
	Keepalive *float64 `yaml:"keepalive"`
	// ContentType is application/json (default) or application/json; charset=utf-8.
	ContentType string `yaml:"content_type"`
	// Headers are sent with every batch (not Host, Content-Type, Content-Length).
	Headers map[string]string `yaml:"headers"`
	// Queue configures batching, the bounded queue and retries (Kong ≥ 3.3).
	Queue QueueConfig `yaml:"queue"`

	// Deprecated Kong fields, still accepted: queue_size is
	// queue.max_batch_size, flush_timeout (seconds) is
	// queue.max_coalescing_delay, retry_count is ignored (retries are bounded
	// by queue.max_retry_time), as in Kong 3.x.
	QueueSize    *int     `yaml:"queue_size"`
	FlushTimeout *float64 `yaml:"flush_timeout"`
	RetryCount   *int     `yaml:"retry_count"`

	// CustomFields adds fields to every entry from templates
	// (`user_id: "$(jwt.sub)"`, see filters/template). Dotted names nest
	// (`auth.sub` → {"auth":{"sub":…}}). An absent value is written as null.
	CustomFields map[string]string `yaml:"custom_fields"`
	// CustomFieldsByLua is Kong's Lua form; edgeguard runs no Lua, so it is
	// refused with a hint to use custom_fields.
	CustomFieldsByLua map[string]string `yaml:"custom_fields_by_lua"`
	// RedactHeaders names request/response headers whose values are logged
	// as "REDACTED", in addition to Authorization, Proxy-Authorization,
	// Cookie and Set-Cookie, which always are.
	RedactHeaders []string `yaml:"redact_headers"`
	// RedactQuery names query parameters whose values are logged as
	// "REDACTED" in request.uri, request.url, request.querystring and
	// upstream_uri (names compared decoded and case-insensitively).
	// Default: jwt, access_token, token, api_key, apikey (the jwt and
	// key-auth plugins' defaults among them); [] redacts none. Kong's
	// http-log logs them in clear.
	RedactQuery *[]string `yaml:"redact_query"`
}

// QueueConfig is Kong's `queue` record. Times are in seconds.
type QueueConfig struct {
	// MaxBatchSize is the number of entries per request (default 1: one
	// JSON object per request; above 1 a JSON array is sent).
	MaxBatchSize *int `yaml:"max_batch_size"`
	// MaxCoalescingDelay is how long a partial batch waits for more
	// entries (default 1).
	MaxCoalescingDelay *float64 `yaml:"max_coalescing_delay"`
	// MaxEntries bounds the queue (default 10000); beyond it the oldest
	// entries are dropped and counted.
	MaxEntries *int `yaml:"max_entries"`
	// MaxBytes bounds the memory held by queued entries, in bytes (default
	// 64 MiB, defaultMaxBytes); beyond it new entries are dropped and
	// counted. An entry counts what it holds: its buffers' capacity, up to
	// ~20 KB for a request with large headers.
	MaxBytes *int64 `yaml:"max_bytes"`
	// MaxRetryTime is how long a batch is retried before it is dropped
	// (default 60).
	MaxRetryTime *float64 `yaml:"max_retry_time"`
	// InitialRetryDelay is the first backoff (default 0.01), doubled after
	// each failure up to MaxRetryDelay (default 60).
	InitialRetryDelay *float64 `yaml:"initial_retry_delay"`
	MaxRetryDelay     *float64 `yaml:"max_retry_delay"`
	// ConcurrencyLimit is the number of batches in flight at once (default
	// 1); -1 means up to 16.
	ConcurrencyLimit *int `yaml:"concurrency_limit"`
	// Name is accepted for Kong compatibility and ignored.
	Name string `yaml:"name"`
}

// settings are the resolved transport and queue settings of a worker; two
// instances with equal settings (and name) share a worker across reloads.
type settings struct {
	instance    string
	endpoint    string // without userinfo
	addr        string // host:port
	tls         bool
	serverName  string
	method      string
	contentType string
	headers     [][2]string // sorted, Authorization from userinfo included
	timeout     time.Duration
	keepalive   time.Duration
	batch       int
	delay       time.Duration
	maxEntries  int
	maxBytes    int64
	retryTime   time.Duration
	retryDelay  time.Duration
	maxDelay    time.Duration
	concurrency int
}

func (s *settings) key() string { return fmt.Sprintf("httplog\x00%#v", *s) }

// defaultMaxBytes is queue.max_bytes when not given: 64 MiB, room for the
// default 10000 entries of ~6 KB each.
const defaultMaxBytes = 64 << 20

// defaultRedactQuery are the query parameters redacted when redact_query
// is not given: where tokens and API keys travel in a URL.
var defaultRedactQuery = []string{"jwt", "access_token", "token", "api_key", "apikey"}

// always redacted, lower case
var alwaysRedacted = []string{"authorization", "proxy-authorization", "cookie", "set-cookie"}

func msDur(ms float64) time.Duration { return time.Duration(ms * float64(time.Millisecond)) }
func sDur(s float64) time.Duration   { return time.Duration(s * float64(time.Second)) }

// parse decodes and checks cfg; it returns nil settings when errors were
// recorded.
func parse(cfg confnode.Node, env *filters.Env) (*settings, *layout) {
	var c Config
	var s *settings
	var lay *layout
	if !filters.DecodeConfig(cfg, &c, func() { s, lay = check(cfg, c, env) }) {
		return nil, nil
	}
	return s, lay
}

// check validates c (decoded from cfg), recording problems on cfg, and
// returns the settings and log layout it gives.
func check(cfg confnode.Node, c Config, env *filters.Env) (*settings, *layout) {
	s := &settings{instance: env.InstanceName, method: "POST", contentType: "application/json",
		timeout: 10 * time.Second, keepalive: 60 * time.Second, batch: 1, delay: time.Second,
		maxEntries: 10000, maxBytes: defaultMaxBytes, retryTime: 60 * time.Second, retryDelay: 10 * time.Millisecond,
		maxDelay: 60 * time.Second, concurrency: 1}

	if c.HTTPEndpoint == "" {
		cfg.FieldErrorf("http_endpoint", "%s: required", Name)
	} else if u, err := url.Parse(c.HTTPEndpoint); err != nil {
		cfg.FieldErrorf("http_endpoint", "%s: cannot parse URL: %v", Name, redactURLError(err))
	} else if u.Scheme != "http" && u.Scheme != "https" {
		cfg.FieldErrorf("http_endpoint", "%s: scheme must be http or https, got %q", Name, u.Scheme)
	} else if u.Host == "" {
		cfg.FieldErrorf("http_endpoint", "%s: missing host", Name)
	} else if u.Fragment != "" {
		cfg.FieldErrorf("http_endpoint", "%s: must not have a fragment", Name)
	} else {
		s.tls = u.Scheme == "https"
		host, port := u.Hostname(), u.Port()
		if port == "" {
			port = "80"
			if s.tls {
				port = "443"
			}
		}
		s.serverName = host
		s.addr = net.JoinHostPort(host, port)
		if u.User != nil {
			pass, _ := u.User.Password()
			s.headers = append(s.headers, [2]string{"Authorization",
				"Basic " + base64.StdEncoding.EncodeToString([]byte(u.User.Username()+":"+pass))})
		}
		u.User = nil
		if u.Path == "" {
			u.Path = "/"
		}
		s.endpoint = u.String()
	}
	switch c.Method {
	case "", "POST", "PUT", "PATCH":
		if c.Method != "" {
			s.method = c.Method
		}
	default:
		cfg.FieldErrorf("method", "%s: must be POST, PUT or PATCH, got %q", Name, c.Method)
	}
	switch strings.ToLower(c.ContentType) {
	case "":
	case "application/json", "application/json; charset=utf-8":
		s.contentType = c.ContentType
	default:
		cfg.FieldErrorf("content_type", "%s: must be application/json or application/json; charset=utf-8, got %q", Name, c.ContentType)
	}
	if c.Timeout != nil {
		if *c.Timeout <= 0 {
			cfg.FieldErrorf("timeout", "%s: must be > 0 (milliseconds)", Name)
		} else {
			s.timeout = msDur(*c.Timeout)
		}
	}
	if c.Keepalive != nil {
		if *c.Keepalive <= 0 {
			cfg.FieldErrorf("keepalive", "%s: must be > 0 (milliseconds)", Name)
		} else {
			s.keepalive = msDur(*c.Keepalive)
		}
	}
	hn := cfg.Field("headers")
	for name, v := range c.Headers {
		switch {
		case !template.IsHeaderName(name):
			hn.FieldErrorf(name, "%s: invalid header name %q", Name, name)
		case strings.EqualFold(name, "host"), strings.EqualFold(name, "content-type"), strings.EqualFold(name, "content-length"):
			hn.FieldErrorf(name, "%s: cannot be set (it is set by the plugin)", Name)
		case strings.EqualFold(name, "authorization") && len(s.headers) > 0 && s.headers[0][0] == "Authorization":
			hn.FieldErrorf(name, "%s: Authorization is also given by the userinfo of http_endpoint", Name)
		case strings.ContainsAny(v, "\r\n\x00"):
			hn.FieldErrorf(name, "%s: value contains control characters", Name)
		default:
			s.headers = append(s.headers, [2]string{name, v})
		}
	}
	sort.Slice(s.headers, func(i, j int) bool { return s.headers[i][0] < s.headers[j][0] })

	q, qn := c.Queue, cfg.Field("queue")
	if c.QueueSize != nil {
		if q.MaxBatchSize != nil {
			cfg.FieldErrorf("queue_size", "%s: deprecated alias of queue.max_batch_size; give only one", Name)
		} else if *c.QueueSize < 1 || *c.QueueSize > 1000000 {
			cfg.FieldErrorf("queue_size", "%s: must be between 1 and 1000000", Name)
		} else {
			s.batch = *c.QueueSize
		}
	}
	if c.FlushTimeout != nil {
		if q.MaxCoalescingDelay != nil {
			cfg.FieldErrorf("flush_timeout", "%s: deprecated alias of queue.max_coalescing_delay; give only one", Name)
		} else if *c.FlushTimeout < 0 || *c.FlushTimeout > 3600 {
			cfg.FieldErrorf("flush_timeout", "%s: must be between 0 and 3600 (seconds)", Name)
		} else {
			s.delay = sDur(*c.FlushTimeout)
		}
	}
	if c.RetryCount != nil && env.Logger != nil {
		env.Logger.Warn(Name + ": retry_count is deprecated and ignored; retries are bounded by queue.max_retry_time")
	}
	intField := func(p *int, field string, min, max int, dst *int) {
		if p == nil {
			return
		}
		if *p < min || *p > max {
			qn.FieldErrorf(field, "%s: must be between %d and %d", Name, min, max)
			return
		}
		*dst = *p
	}
	secField := func(p *float64, field string, min, max float64, dst *time.Duration) {
		if p == nil {
			return
		}
		if *p < min || *p > max {
			qn.FieldErrorf(field, "%s: must be between %g and %g (seconds)", Name, min, max)
			return
		}
		*dst = sDur(*p)
	}
	intField(q.MaxBatchSize, "max_batch_size", 1, 1000000, &s.batch)
	secField(q.MaxCoalescingDelay, "max_coalescing_delay", 0, 3600, &s.delay)
	intField(q.MaxEntries, "max_entries", 1, 1000000, &s.maxEntries)
	if q.MaxBytes != nil {
		if *q.MaxBytes <= 0 {
			qn.FieldErrorf("max_bytes", "%s: must be > 0", Name)
		} else {
			s.maxBytes = *q.MaxBytes
		}
	}
	secField(q.MaxRetryTime, "max_retry_time", 0, 86400, &s.retryTime)
	secField(q.InitialRetryDelay, "initial_retry_delay", 0.001, 1000000, &s.retryDelay)
	secField(q.MaxRetryDelay, "max_retry_delay", 0.001, 1000000, &s.maxDelay)
	if q.ConcurrencyLimit != nil {
		switch n := *q.ConcurrencyLimit; {
		case n == -1:
			s.concurrency = 16
		case n >= 1 && n <= 64:
			s.concurrency = n
		default:
			qn.FieldErrorf("concurrency_limit", "%s: must be -1 or between 1 and 64", Name)
		}
	}
	if s.retryDelay > s.maxDelay {
		qn.FieldErrorf("initial_retry_delay", "%s: must not exceed max_retry_delay", Name)
	}
	if s.batch > s.maxEntries {
		qn.FieldErrorf("max_batch_size", "%s: must not exceed max_entries (%d)", Name, s.maxEntries)
	}

	if len(c.CustomFieldsByLua) > 0 {
		keys := make([]string, 0, len(c.CustomFieldsByLua))
		for k := range c.CustomFieldsByLua {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		ex := keys[0] + `: "$(jwt.sub)"`
		cfg.FieldErrorf("custom_fields_by_lua", "%s: edgeguard runs no Lua; use custom_fields with templates instead, e.g. custom_fields: {%s} or {user_id: \"$(header.X-User-ID)\"} (see filters/template)", Name, ex)
	}
	return s, compileLayout(c, cfg)
}

// redactURLError drops the URL (it may hold a password) from a parse error.
func redactURLError(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err
	}
	return err
}
