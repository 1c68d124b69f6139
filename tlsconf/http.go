package tlsconf

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"net"
	"strconv"

	"github.com/valyala/fasthttp"
)

// HSTSValue builds the Strict-Transport-Security value, e.g.
// "max-age=31536000; includeSubDomains"; "" when disabled.
func HSTSValue(h HSTS) string {
	if h.Enabled != nil && !*h.Enabled {
		return ""
	}
	age := int64(DefaultHSTSMaxAge)
	if h.MaxAge != nil {
		age = *h.MaxAge
	}
	v := "max-age=" + strconv.FormatInt(age, 10)
	if h.IncludeSubdomains == nil || *h.IncludeSubdomains {
		v += "; includeSubDomains"
	}
	if h.Preload {
		v += "; preload"
	}
	return v
}

var acmePrefix = []byte("/.well-known/acme-challenge/")

// IsACMEChallenge reports whether path is an ACME http-01 challenge, which
// the redirect never touches.
func IsACMEChallenge(path []byte) bool { return bytes.HasPrefix(path, acmePrefix) }

// Redirect answers rc with a redirect to the same host and path + query on
// HTTPS: 308 (statusGet, 301 or 308, for GET and HEAD). httpsPort is
// omitted from the Location when it is 443. A Host that is not a valid
// host name or address gets 400 (no header injection, no open redirect to
// another authority). It allocates nothing when the Location fits in buf.
func Redirect(rc *fasthttp.RequestCtx, httpsPort string, statusGet int, buf []byte) []byte {
	host := hostOnly(rc.Request.Header.Host())
	if !validHost(host) {
		rc.Response.Reset()
		rc.SetStatusCode(fasthttp.StatusBadRequest)
		rc.SetConnectionClose()
		return buf
	}
	buf = append(buf[:0], "https://"...)
	buf = append(buf, host...)
	if httpsPort != "" && httpsPort != "443" {
		buf = append(buf, ':')
		buf = append(buf, httpsPort...)
	}
	uri := rc.URI()
	path := uri.PathOriginal()
	if len(path) == 0 || path[0] != '/' {
		buf = append(buf, '/')
	}
	buf = appendURIBytes(buf, path)
	if q := uri.QueryString(); len(q) > 0 {
		buf = append(buf, '?')
		buf = appendURIBytes(buf, q)
	}
	status := fasthttp.StatusPermanentRedirect
	if rc.IsGet() || rc.IsHead() {
		status = statusGet
	}
	rc.Response.Header.SetBytesKV(hdrLocation, buf)
	rc.Response.Header.SetContentLength(0)
	rc.SetStatusCode(status)
	return buf
}

var hdrLocation = []byte("Location")

// appendURIBytes appends b with the bytes a URI cannot hold raw
// (controls, space, DEL and non-ASCII: a client may send them, RFC 3986
// does not allow them in a Location) percent-encoded; the rest as sent.
func appendURIBytes(dst, b []byte) []byte {
	const hex = "0123456789ABCDEF"
	for _, c := range b {
		if c <= ' ' || c >= 0x7f {
			dst = append(dst, '%', hex[c>>4], hex[c&0xf])
			continue
		}
		dst = append(dst, c)
	}
	return dst
}

// hostOnly drops a ":port" suffix.
func hostOnly(h []byte) []byte {
	if len(h) > 0 && h[0] == '[' {
		if i := bytes.IndexByte(h, ']'); i > 0 {
			return h[:i+1]
		}
		return h
	}
	if i := bytes.IndexByte(h, ':'); i >= 0 {
		return h[:i]
	}
	return h
}

// validHost accepts DNS names, IPv4 and bracketed IPv6 literals.
func validHost(h []byte) bool {
	if len(h) == 0 || len(h) > 255 {
		return false
	}
	if h[0] == '[' {
		return h[len(h)-1] == ']' && net.ParseIP(string(h[1:len(h)-1])) != nil
	}
	for _, c := range h {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// UpstreamTLS is the client side of TLS to an https upstream.
type UpstreamTLS struct {
	// CAFile is a PEM bundle the upstream's certificate must chain to
	// (default: the system roots).
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are an optional client certificate (mTLS to the
	// upstream).
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ServerName overrides the name verified and sent as SNI (default: the
	// target's host).
	ServerName string `yaml:"server_name"`
}

// UpstreamConfig builds the *tls.Config for a fasthttp.HostClient dialing
// addr (host:port): certificate verification always on, TLS 1.2+,
// session resumption cache.
func UpstreamConfig(u UpstreamTLS, addr string) (*tls.Config, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	c := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         host,
		ClientSessionCache: tls.NewLRUClientSessionCache(64),
	}
	if u.ServerName != "" {
		c.ServerName = u.ServerName
	}
	if u.CAFile != "" {
		if c.RootCAs, err = LoadCAPool(u.CAFile); err != nil {
			return nil, err
		}
	}
	if (u.CertFile == "") != (u.KeyFile == "") {
		return nil, fmt.Errorf("tls: upstream client certificate needs both cert_file and key_file")
	}
	if u.CertFile != "" {
		pair, err := tls.LoadX509KeyPair(u.CertFile, u.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("tls: upstream client certificate: %v", err)
		}
		c.Certificates = []tls.Certificate{pair}
	}
	return c, nil
}
