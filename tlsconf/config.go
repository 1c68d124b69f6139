package tlsconf

import (
	"crypto/tls"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/edgeguard/edgeguard/proxy/config/confnode"
)

// Config is the `listen.tls` section. The zero value plus Defaults is
// Mozilla's "intermediate" profile.
type Config struct {
	// Certificates are PEM certificate chain + key pairs. The names a
	// certificate serves come from its SANs (exact and `*.example.com`);
	// the first one, or the one marked default, answers clients without SNI
	// or with an unknown name.
	Certificates []CertFiles `yaml:"certificates"`
	// MinVersion is "1.2" (default) or "1.3" ("TLSv1.2"/"TLSv1.3" too).
	MinVersion string `yaml:"min_version"`
	// Ciphers are OpenSSL suite names separated by ':' as in NGINX's
	// ssl_ciphers, for TLS 1.2 (TLS 1.3 suites are always Go's AEAD set).
	// Default: Mozilla intermediate (ECDHE + AES-GCM/ChaCha20-Poly1305).
	Ciphers string `yaml:"ciphers"`
	// Curves are key exchange groups: X25519, P-256 (prime256v1), P-384
	// (secp384r1), P-521 (secp521r1), X25519MLKEM768. Default: Go's list.
	Curves []string `yaml:"curves"`
	// HSTS is the Strict-Transport-Security header added to every HTTPS
	// response (default max_age 31536000 with include_subdomains).
	HSTS HSTS `yaml:"hsts"`
	// RedirectHTTP makes the HTTP listener redirect requests for hosts that
	// have a certificate to HTTPS (NGINX ingress ssl-redirect).
	RedirectHTTP bool `yaml:"redirect_http"`
	// ForceSSLRedirect redirects every request on the HTTP listener,
	// whatever its host (NGINX ingress force-ssl-redirect).
	ForceSSLRedirect bool `yaml:"force_ssl_redirect"`
	// RedirectStatusGet is the status used for GET and HEAD redirects: 308
	// (default) or 301. Other methods always get 308.
	RedirectStatusGet int `yaml:"redirect_status_get"`
	// ACME obtains and renews certificates automatically.
	ACME ACME `yaml:"acme"`
	// ClientCAFile enables client certificates (mTLS): a PEM CA bundle that
	// client certificates must chain to.
	ClientCAFile string `yaml:"client_ca_file"`
	// ClientAuth is "require" (default when client_ca_file is set) or
	// "optional" (verified when given).
	ClientAuth string `yaml:"client_auth"`
	// ClientCertHeader carries the verified client subject (RFC 4514, see
	// ClientSubject) to
	// upstreams (default X-Client-Cert-Subject). It is removed from every
	// client request on every listener, so clients can never set it.
	ClientCertHeader string `yaml:"client_cert_header"`
	// SessionTicketRotation is how often session ticket keys are rotated
	// (default 1h); tickets stay valid for three periods.
	SessionTicketRotation time.Duration `yaml:"session_ticket_rotation"`
	// ReloadInterval is how often certificate files are checked for
	// changes (default 1s).
	ReloadInterval time.Duration `yaml:"reload_interval"`
}

// CertFiles is one certificate chain and its private key.
type CertFiles struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// Default marks the certificate for clients without a matching SNI.
	Default bool `yaml:"default"`
}

// HSTS configures Strict-Transport-Security.
type HSTS struct {
	// MaxAge in seconds (default 31536000; 0 with enabled:false disables).
	MaxAge *int64 `yaml:"max_age"`
	// IncludeSubdomains (default true).
	IncludeSubdomains *bool `yaml:"include_subdomains"`
	// Preload (default false); requires max_age ≥ 31536000 and
	// include_subdomains, as hstspreload.org does.
	Preload bool `yaml:"preload"`
	// Enabled (default true when TLS is on).
	Enabled *bool `yaml:"enabled"`
}

// ACME configures automatic certificates (RFC 8555) through
// golang.org/x/crypto/acme/autocert.
type ACME struct {
	// Hosts allowed to get certificates; ACME is on when non-empty.
	Hosts []string `yaml:"hosts"`
	// Email is the account contact (optional).
	Email string `yaml:"email"`
	// DirectoryURL defaults to Let's Encrypt production.
	DirectoryURL string `yaml:"directory_url"`
	// CAFile is a PEM bundle trusted for the ACME server's own HTTPS
	// (for a private CA or pebble); default the system roots.
	CAFile string `yaml:"ca_file"`
	// RenewBefore is how long before expiry certificates are renewed. It
	// must be shorter than the CA's certificate lifetime (else every new
	// certificate is renewed at once, in a loop) and at most 720h
	// (MaxRenewBefore; autocert uses no more). Default: autocert's,
	// min(lifetime/3, 30 days), which suits any lifetime.
	RenewBefore time.Duration `yaml:"renew_before"`
}

// MaxRenewBefore is autocert's cap on RenewBefore (30 days).
const MaxRenewBefore = 30 * 24 * time.Hour

// Enabled reports whether ACME is configured.
func (a *ACME) Enabled() bool { return len(a.Hosts) > 0 }

// DefaultHSTSMaxAge is one year, as the article and hstspreload.org.
const DefaultHSTSMaxAge = 31536000

// Defaults fills unset fields.
func (c *Config) Defaults() {
	if c.MinVersion == "" {
		c.MinVersion = "1.2"
	}
	if c.RedirectStatusGet == 0 {
		c.RedirectStatusGet = 308
	}
	if c.HSTS.MaxAge == nil {
		v := int64(DefaultHSTSMaxAge)
		c.HSTS.MaxAge = &v
	}
	if c.HSTS.IncludeSubdomains == nil {
		t := true
		c.HSTS.IncludeSubdomains = &t
	}
	if c.HSTS.Enabled == nil {
		t := true
		c.HSTS.Enabled = &t
	}
	if c.ClientCAFile != "" && c.ClientAuth == "" {
		c.ClientAuth = "require"
	}
	if c.ClientCertHeader == "" {
		c.ClientCertHeader = "X-Client-Cert-Subject"
	}
	if c.SessionTicketRotation == 0 {
		c.SessionTicketRotation = time.Hour
	}
	if c.ReloadInterval == 0 {
		c.ReloadInterval = time.Second
	}
}

// Check applies defaults and validates c (the `listen.tls` node n),
// loading every certificate and CA file so `edgeguard validate` catches a
// bad one. Relative file paths are resolved from the config file's
// directory (and rewritten in c). httpsOn tells whether listen.https is set.
func Check(n confnode.Node, c *Config, httpsOn bool) {
	c.Defaults()
	dir := filepath.Dir(n.File)
	abs := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(dir, p)
	}
	if !httpsOn {
		if len(c.Certificates) > 0 || c.ACME.Enabled() {
			n.Errorf("listen.https is required when tls certificates or acme are configured")
		}
		if c.RedirectHTTP || c.ForceSSLRedirect {
			n.Errorf("redirect_http/force_ssl_redirect need listen.https")
		}
		return
	}
	if len(c.Certificates) == 0 && !c.ACME.Enabled() {
		n.FieldErrorf("certificates", "listen.https needs at least one certificate or acme.hosts")
	}
	cn := n.Field("certificates")
	defaults := 0
	for i := range c.Certificates {
		cf := &c.Certificates[i]
		en := cn.Index(i)
		cf.CertFile, cf.KeyFile = abs(cf.CertFile), abs(cf.KeyFile)
		if cf.CertFile == "" {
			en.FieldErrorf("cert_file", "is required")
			continue
		}
		if cf.KeyFile == "" {
			en.FieldErrorf("key_file", "is required")
			continue
		}
		if cf.Default {
			defaults++
		}
		// A bad pair that a running Manager still serves a good
		// certificate from is not an error on a config reload: Update
		// keeps that certificate and logs the bad files.
		if _, err := LoadPair(*cf, time.Now()); err != nil && !isServed(*cf) {
			en.Errorf("%s", fieldMsg(err))
		}
	}
	if defaults > 1 {
		cn.Errorf("at most one certificate can be the default")
	}
	if _, err := ParseVersion(c.MinVersion); err != nil {
		n.FieldErrorf("min_version", "%v", err)
	}
	if c.Ciphers != "" {
		if _, err := ParseCiphers(c.Ciphers); err != nil {
			n.FieldErrorf("ciphers", "%v", err)
		}
	}
	if _, err := ParseCurves(c.Curves); err != nil {
		n.FieldErrorf("curves", "%v", err)
	}
	hn := n.Field("hsts")
	if *c.HSTS.MaxAge < 0 {
		hn.FieldErrorf("max_age", "must be >= 0")
	}
	if c.HSTS.Preload && (*c.HSTS.MaxAge < DefaultHSTSMaxAge || !*c.HSTS.IncludeSubdomains) {
		hn.FieldErrorf("preload", "needs max_age >= %d and include_subdomains (hstspreload.org)", DefaultHSTSMaxAge)
	}
	if c.RedirectStatusGet != 301 && c.RedirectStatusGet != 308 {
		n.FieldErrorf("redirect_status_get", "must be 301 or 308")
	}
	switch c.ClientAuth {
	case "", "require", "optional":
	default:
		n.FieldErrorf("client_auth", "must be require or optional")
	}
	if c.ClientAuth != "" && c.ClientCAFile == "" {
		n.FieldErrorf("client_auth", "needs client_ca_file")
	}
	c.ClientCAFile = abs(c.ClientCAFile)
	if c.ClientCAFile != "" {
		if _, err := LoadCAPool(c.ClientCAFile); err != nil {
			n.FieldErrorf("client_ca_file", "%s", fieldMsg(err))
		}
	}
	if !validHeaderName(c.ClientCertHeader) {
		n.FieldErrorf("client_cert_header", "invalid header name %q", c.ClientCertHeader)
	}
	if c.SessionTicketRotation < time.Minute {
		n.FieldErrorf("session_ticket_rotation", "must be at least 1m")
	}
	if c.ReloadInterval < 100*time.Millisecond {
		n.FieldErrorf("reload_interval", "must be at least 100ms")
	}
	an := n.Field("acme")
	for i, h := range c.ACME.Hosts {
		if h == "" || strings.ContainsAny(h, "*/: ") {
			an.Field("hosts").Index(i).Errorf("invalid host %q (no wildcards: http-01/tls-alpn-01 cannot issue them)", h)
		}
	}
	c.ACME.CAFile = abs(c.ACME.CAFile)
	if c.ACME.CAFile != "" {
		if _, err := LoadCAPool(c.ACME.CAFile); err != nil {
			an.FieldErrorf("ca_file", "%s", fieldMsg(err))
		}
	}
	if c.ACME.DirectoryURL != "" && !strings.HasPrefix(c.ACME.DirectoryURL, "https://") {
		an.FieldErrorf("directory_url", "must be an https:// URL")
	}
	if c.ACME.RenewBefore < 0 {
		an.FieldErrorf("renew_before", "must be positive")
	}
	if c.ACME.RenewBefore > MaxRenewBefore {
		an.FieldErrorf("renew_before", "must be at most 720h (autocert caps it at 30 days); keep it shorter than the CA's certificate lifetime")
	}
}

// fieldMsg is err's message for a problem reported at a field of
// listen.tls: the field path already says where it is, so the "tls: " that
// LoadPair and LoadCAPool start with (for their run-time callers) is
// dropped.
func fieldMsg(err error) string {
	return strings.TrimPrefix(err.Error(), "tls: ")
}

func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '-') {
			return false
		}
	}
	return true
}

// ParseVersion maps "1.2"/"TLSv1.2"/"1.3"/"TLSv1.3" to a tls version;
// older versions are refused.
func ParseVersion(s string) (uint16, error) {
	switch strings.TrimPrefix(strings.TrimPrefix(s, "TLSv"), "tls") {
	case "1.2":
		return tls.VersionTLS12, nil
	case "1.3":
		return tls.VersionTLS13, nil
	case "1.0", "1", "1.1":
		return 0, fmt.Errorf("tls %s is insecure; use 1.2 or 1.3", s)
	}
	return 0, fmt.Errorf("unknown tls version %q (want 1.2 or 1.3)", s)
}
