package filters

import (
	"net/netip"
	"time"

	"github.com/valyala/fasthttp"
)

// MaxChain is the longest chain a route may have.
const MaxChain = 16

// Claims gives filters and templates access to verified token claims.
// AppendClaim appends the value of the claim at a dotted path (arrays joined
// with commas, strings unquoted) to dst and reports whether it exists. It
// must not allocate beyond growing dst.
type Claims interface {
	AppendClaim(dst []byte, path string) ([]byte, bool)
}

// Consumer is an identity configured under `consumers:`.
type Consumer struct {
	ID       string
	Username string
	CustomID string
	Tier     string
	// JWTSecrets are the consumer's jwt credentials.
	JWTSecrets []JWTCredential
}

// Local is per-request scratch space that belongs to one filter of the chain
// (see Ctx.Local); the filter owns its meaning.
type Local struct {
	N [4]int64
	P any
}

// Ctx is the per-request state shared by every phase. One Ctx is taken from a
// pool per request and reset afterwards: nothing may keep a pointer to it (or
// to byte slices it holds) after the request ends.
type Ctx struct {
	// RC is the fasthttp request context: the client request (already
	// normalised) and, after the upstream answered, the response.
	RC *fasthttp.RequestCtx

	// ClientIP is the resolved client address (trusted_proxies applied).
	ClientIP netip.Addr
	// RequestID is the X-Request-ID of this request; valid until the request ends.
	RequestID []byte

	// Host is the client's Host header, set when the request is forwarded
	// (the upstream request's Host is then the target's); valid until the
	// request ends.
	Host []byte

	// Path is the normalised request path (before strip_path); valid until
	// the request ends. The URI in RC.Request is what will be forwarded.
	Path []byte

	// Route and Service are the names of the matched route and service.
	Route   string
	Service string

	// Consumer, Credential and Claims are set by authentication filters.
	Consumer   *Consumer
	Credential string
	Claims     Claims

	// Start is when the request headers were read; UpstreamDur is the time
	// spent waiting for the upstream (zero when not proxied).
	Start       time.Time
	UpstreamDur time.Duration

	// RejectedBy is the plugin instance that ended the request and
	// RejectReason a short machine-readable reason ("size_exceeded").
	RejectedBy   string
	RejectReason string
	// SharedLimit marks a refusal that is not the client's own doing: a
	// limit every client shares (rate-limiting by path or service) was
	// used up, perhaps by someone else. The automatic blocking of abusive
	// clients does not count it (one client could otherwise get others
	// blocked on every route by using up the shared limit).
	SharedLimit bool

	// UpstreamStatus is the status the upstream answered with (0 if none).
	UpstreamStatus int
	// UpstreamError is a short reason when the upstream failed ("timeout").
	UpstreamError string

	// BodyLimit is the largest request body accepted, in bytes: the
	// server's max_body_size, lowered by request-size-limiting. A body of
	// known length over it is refused before forwarding; a chunked body is
	// counted while it streams and refused with 413 once it passes the
	// limit. BodyLimitBy names the plugin instance that set it.
	BodyLimit   int64
	BodyLimitBy string

	// CookieEdited is set by a filter that changes the request's Cookie
	// header. Otherwise the gateway forwards the Cookie lines as the client
	// sent them: once anything has parsed the cookies, fasthttp would write
	// its own rendering of them (quotes and spacing changed, cookies it
	// finds invalid left out).
	CookieEdited bool

	// Scratch is a reusable buffer for filters; its contents do not survive
	// a call into another filter.
	Scratch []byte

	// CurFilter is the index in the chain of the running filter and
	// CurName its instance name; set by the chain runner.
	CurFilter int
	CurName   string

	// locals are the filters' scratch slots (Local), allocated on first
	// use and kept by Reset; nLocals bounds the ones used, so Reset clears
	// only those. Kept inline, all MaxChain of them (768 bytes) were most
	// of what Reset cleared on every request.
	locals  *[MaxChain]Local
	nLocals int
}

// URI returns the request's parsed URI; see the function URI.
func (c *Ctx) URI() *fasthttp.URI { return URI(c.RC) }

// URI returns the parsed URI of rc's request. Filters use it, never
// rc.URI(), rc.QueryArgs() or rc.Request.URI(): the gateway sets the request
// line to the normalised path and does not parse it again, and a URI a
// filter parses must keep that path as it is when the request line is
// rebuilt from it (fasthttp would otherwise normalise it its own way,
// decoding reserved characters such as %2B). TestFiltersUseCtxURI checks
// the rule.
func URI(rc *fasthttp.RequestCtx) *fasthttp.URI {
	u := rc.Request.URI()
	u.DisablePathNormalizing = true
	return u
}

// Local returns the scratch slot of the running filter.
func (c *Ctx) Local() *Local {
	if c.locals == nil {
		c.locals = new([MaxChain]Local)
	}
	if c.CurFilter >= c.nLocals {
		c.nLocals = c.CurFilter + 1
	}
	return &c.locals[c.CurFilter]
}

// Reset clears c for reuse, keeping its buffers and scratch slots. Field by
// field: assigning a Ctx literal measured 17.4 ns against 6.5 (it zeroes a
// copy of the whole struct and moves it in with write barriers).
// TestCtxReset fails for a field added here and forgotten.
func (c *Ctx) Reset() {
	if c.locals != nil {
		clear(c.locals[:c.nLocals])
	}
	c.RC = nil
	c.ClientIP = netip.Addr{}
	c.RequestID = c.RequestID[:0]
	c.Host, c.Path = nil, nil
	c.Route, c.Service = "", ""
	c.Consumer, c.Credential, c.Claims = nil, "", nil
	c.Start, c.UpstreamDur = time.Time{}, 0
	c.RejectedBy, c.RejectReason, c.SharedLimit = "", "", false
	c.UpstreamStatus, c.UpstreamError = 0, ""
	c.BodyLimit, c.BodyLimitBy = 0, ""
	c.CookieEdited = false
	c.Scratch = c.Scratch[:0]
	c.CurFilter, c.CurName = 0, ""
	c.nLocals = 0
}
