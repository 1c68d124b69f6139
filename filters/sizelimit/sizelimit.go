// Package sizelimit is the `request-size-limiting` plugin: it refuses
// request bodies larger than a limit, with Kong's fields, statuses and
// messages. Unlike Kong, chunked bodies are counted while they stream to the
// upstream and refused with 413 the moment they pass the limit, so no body
// can bypass the limit by leaving out Content-Length.
package sizelimit

import (
	"bytes"

	"github.com/valyala/fasthttp"

	"github.com/edgeguard/edgeguard/filters"
	"github.com/edgeguard/edgeguard/proxy/config/confnode"
)

// Config holds Kong's fields.
type Config struct {
	// AllowedPayloadSize is the limit in SizeUnit (default 128).
	AllowedPayloadSize *int64 `yaml:"allowed_payload_size"`
	// SizeUnit is bytes, kilobytes or megabytes (binary units; default megabytes).
	SizeUnit string `yaml:"size_unit"`
	// RequireContentLength refuses requests without a valid Content-Length
	// with 411, unless the body is chunked.
	RequireContentLength bool `yaml:"require_content_length"`
}

// SizeLimit is the filter.
type SizeLimit struct {
	limit      int64
	requireLen bool
}

func init() {
	filters.Register(&filters.Plugin{Name: "request-size-limiting", New: New})
}

// New builds the filter from its config node.
func New(n confnode.Node, env *filters.Env) (filters.Filter, error) {
	var c Config
	var limit int64
	if !filters.DecodeConfig(n, &c, func() { limit = check(n, &c) }) {
		return nil, nil
	}
	return &SizeLimit{limit: limit, requireLen: c.RequireContentLength}, nil
}

// check validates c (decoded from n), recording every problem on n, and
// returns the limit in bytes.
func check(n confnode.Node, c *Config) int64 {
	size := int64(128)
	if c.AllowedPayloadSize != nil {
		size = *c.AllowedPayloadSize
	}
	mult := int64(1 << 20)
	switch c.SizeUnit {
	case "", "megabytes":
	case "kilobytes":
		mult = 1 << 10
	case "bytes":
		mult = 1
	default:
		n.FieldErrorf("size_unit", "must be one of bytes, kilobytes, megabytes (got %q)", c.SizeUnit)
	}
	switch {
	case size <= 0:
		n.FieldErrorf("allowed_payload_size", "must be > 0")
	case size > (1<<62)/mult:
		n.FieldErrorf("allowed_payload_size", "is too large")
	}
	return size * mult
}

// Limit returns the limit in bytes.
func (s *SizeLimit) Limit() int64 { return s.limit }

const msgTooLarge = "Request size limit exceeded"

// Access checks Content-Length and, for chunked bodies, lowers the limit the
// gateway enforces while streaming.
func (s *SizeLimit) Access(c *filters.Ctx) filters.Verdict {
	h := &c.RC.Request.Header
	cl := h.ContentLength()
	switch {
	case cl >= 0:
		if int64(cl) > s.limit {
			if c.RC.Request.MayContinue() {
				return c.Reject(fasthttp.StatusExpectationFailed, "size_exceeded", msgTooLarge)
			}
			return c.Reject(fasthttp.StatusRequestEntityTooLarge, "size_exceeded", msgTooLarge)
		}
		if cl == 0 && s.requireLen && !bodyless(h) && !sentContentLength(h.RawHeaders()) {
			return c.Reject(fasthttp.StatusLengthRequired, "length_required", "A valid Content-Length header is required")
		}
	case cl == -1: // chunked: counted while streaming
	default: // -2: no length and not chunked: no body
		if s.requireLen && !bodyless(h) {
			return c.Reject(fasthttp.StatusLengthRequired, "length_required", "A valid Content-Length header is required")
		}
	}
	if s.limit < c.BodyLimit {
		c.BodyLimit = s.limit
		c.BodyLimitBy = c.CurName
	}
	return filters.Continue
}

// sentContentLength reports whether the client itself sent Content-Length
// (fasthttp fills in 0 for requests without one).
func sentContentLength(raw []byte) bool {
	for len(raw) > 0 {
		i := bytes.IndexByte(raw, '\n')
		line := raw
		if i >= 0 {
			line, raw = raw[:i], raw[i+1:]
		} else {
			raw = nil
		}
		const name = "content-length:"
		if len(line) >= len(name) && bytes.EqualFold(line[:len(name)], []byte(name)) {
			return true
		}
	}
	return false
}

// bodyless reports methods that normally carry no body; Kong requires a
// Content-Length regardless, but a GET without one is not a body bypass.
func bodyless(h *fasthttp.RequestHeader) bool {
	return h.IsGet() || h.IsHead() || h.IsOptions() || h.IsDelete() || h.IsTrace()
}

var _ filters.Filter = (*SizeLimit)(nil)
