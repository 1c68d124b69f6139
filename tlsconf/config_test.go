package tlsconf

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/edgeguard/edgeguard/proxy/config/confnode"
	"github.com/edgeguard/edgeguard/tlsconf/tlstest"
)

func TestParseCiphers(t *testing.T) {
	ids, err := ParseCiphers("ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256")
	if err != nil || len(ids) != 2 || ids[0] != tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 || ids[1] != tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 {
		t.Fatalf("%v %v", ids, err)
	}
	if ids, err := ParseCiphers(DefaultCiphers + ":TLS_AES_128_GCM_SHA256"); err != nil || len(ids) != 6 {
		t.Fatalf("default list: %v %v", ids, err)
	}
	if ids, err := ParseCiphers("TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256"); err != nil || ids[0] != tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256 {
		t.Fatalf("IANA name: %v %v", ids, err)
	}
	for _, bad := range []struct{ in, want string }{
		{"AES128-GCM-SHA256", "weak"},
		{"ECDHE-RSA-AES128-SHA", "weak"},
		{"ECDHE-RSA-AES128-SHA256", "weak"},
		{"DHE-RSA-AES128-GCM-SHA256", "weak"},
		{"DES-CBC3-SHA", "weak"},
		{"RC4-SHA", "weak"},
		{"TLS_RSA_WITH_AES_128_CBC_SHA", "weak"},
		{"TLS_ECDHE_RSA_WITH_RC4_128_SHA", "weak"},
		{"HIGH:!aNULL", "unknown"},
		{"ECDHE-RSA-AES128-GCM-SHA257", "unknown"},
		{"", "no TLS 1.2 cipher"},
		{"TLS_AES_128_GCM_SHA256", "no TLS 1.2 cipher"},
	} {
		if _, err := ParseCiphers(bad.in); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%q: %v, want %q", bad.in, err, bad.want)
		}
	}
}

func TestParseCurvesVersions(t *testing.T) {
	c, err := ParseCurves([]string{"X25519", "prime256v1", "secp384r1"})
	if err != nil || len(c) != 3 || c[1] != tls.CurveP256 {
		t.Fatalf("%v %v", c, err)
	}
	if _, err := ParseCurves([]string{"brainpool"}); err == nil {
		t.Fatal("unknown curve accepted")
	}
	for in, want := range map[string]uint16{"1.2": tls.VersionTLS12, "TLSv1.3": tls.VersionTLS13} {
		if v, err := ParseVersion(in); err != nil || v != want {
			t.Errorf("%s: %x %v", in, v, err)
		}
	}
	for _, bad := range []string{"1.1", "TLSv1", "1.0", "SSLv3", ""} {
		if _, err := ParseVersion(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestHSTSValue(t *testing.T) {
	i := func(v int64) *int64 { return &v }
	b := func(v bool) *bool { return &v }
	for _, tc := range []struct {
		h    HSTS
		want string
	}{
		{HSTS{}, "max-age=31536000; includeSubDomains"},
		{HSTS{MaxAge: i(63072000), IncludeSubdomains: b(true), Preload: true}, "max-age=63072000; includeSubDomains; preload"},
		{HSTS{MaxAge: i(300), IncludeSubdomains: b(false)}, "max-age=300"},
		{HSTS{Enabled: b(false)}, ""},
	} {
		if got := HSTSValue(tc.h); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.h, got, tc.want)
		}
	}
}

func TestRedirect(t *testing.T) {
	for _, tc := range []struct {
		method, uri, host, port string
		statusGet, status       int
		location                string
	}{
		{"GET", "/a/b?x=1&y=%20", "api.example.com", "443", 308, 308, "https://api.example.com/a/b?x=1&y=%20"},
		{"GET", "/", "api.example.com:8080", "8443", 301, 301, "https://api.example.com:8443/"},
		{"HEAD", "/h", "api.example.com", "443", 301, 301, "https://api.example.com/h"},
		{"POST", "/p", "api.example.com", "443", 301, 308, "https://api.example.com/p"},
		{"GET", "/v6", "[::1]:80", "443", 308, 308, "https://[::1]/v6"},
		{"GET", "//evil.com/x", "api.example.com", "443", 308, 308, "https://api.example.com//evil.com/x"},
		{"GET", "/caf\xc3\xa9/\xff?q=\xfe", "api.example.com", "443", 308, 308, "https://api.example.com/caf%C3%A9/%FF?q=%FE"},
		{"GET", "/x", "evil.com/x?", "443", 308, 400, ""},
		{"GET", "/x", "a b", "443", 308, 400, ""},
		{"GET", "/x", "", "443", 308, 400, ""},
	} {
		var rc fasthttp.RequestCtx
		rc.Request.Header.SetMethod(tc.method)
		rc.Request.SetRequestURI(tc.uri)
		rc.Request.Header.SetHost(tc.host)
		Redirect(&rc, tc.port, tc.statusGet, nil)
		if rc.Response.StatusCode() != tc.status || string(rc.Response.Header.Peek("Location")) != tc.location {
			t.Errorf("%s %s Host %q: %d %q, want %d %q", tc.method, tc.uri, tc.host, rc.Response.StatusCode(),
				rc.Response.Header.Peek("Location"), tc.status, tc.location)
		}
	}
	if !IsACMEChallenge([]byte("/.well-known/acme-challenge/tok")) || IsACMEChallenge([]byte("/.well-known/other")) {
		t.Fatal("IsACMEChallenge")
	}
}

func TestRedirectAllocs(t *testing.T) {
	var rc fasthttp.RequestCtx
	rc.Request.Header.SetMethod("GET")
	rc.Request.SetRequestURI("/a/b?x=1")
	rc.Request.Header.SetHost("api.example.com")
	buf := make([]byte, 0, 256)
	Redirect(&rc, "8443", 308, buf)
	if n := testing.AllocsPerRun(100, func() { buf = Redirect(&rc, "8443", 308, buf) }); n != 0 {
		t.Fatalf("Redirect allocates %.0f times", n)
	}
}

// check runs Check on yaml text (the listen.tls node) and returns the
// error messages.
func check(t *testing.T, yamlText string, httpsOn bool) (*Config, string) {
	t.Helper()
	root, errs := confnode.Parse(filepath.Join(t.TempDir(), "edgeguard.yaml"), []byte(yamlText))
	var c Config
	if !root.Decode(&c) {
		return nil, errs.Error()
	}
	Check(root, &c, httpsOn)
	if len(errs.List) == 0 {
		return &c, ""
	}
	return &c, errs.Error()
}

func TestCheck(t *testing.T) {
	ca := tlstest.NewCA(t, "ca")
	dir := t.TempDir()
	l := ca.Issue(t, dir, "a", tlstest.Options{}, "a.test")
	weak := ca.Issue(t, dir, "weak", tlstest.Options{Key: tlstest.RSA, RSABits: 1024}, "weak.test")
	garbage := filepath.Join(dir, "garbage.pem")
	os.WriteFile(garbage, []byte("nope"), 0o600)
	good := "certificates: [{cert_file: " + l.CertFile + ", key_file: " + l.KeyFile + "}]\n"
	c, msg := check(t, good, true)
	if msg != "" {
		t.Fatal(msg)
	}
	if c.MinVersion != "1.2" || c.RedirectStatusGet != 308 || HSTSValue(c.HSTS) != "max-age=31536000; includeSubDomains" || c.ClientCertHeader != "X-Client-Cert-Subject" {
		t.Fatalf("defaults: %+v", c)
	}
	// FILE:LINE:COL: PATH: tls: ... (a package prefix after the path)
	repeated := regexp.MustCompile(`(?m):\d+: \S+: tls: `)
	for _, tc := range []struct{ yaml, want string }{
		{good + "min_version: '1.1'", "min_version: tls 1.1 is insecure"},
		{good + "ciphers: AES128-SHA", "ciphers: cipher \"AES128-SHA\" is weak"},
		{good + "curves: [P-192]", "curves: unknown curve"},
		{good + "hsts: {preload: true, max_age: 600}", "hsts.preload: needs max_age"},
		{good + "redirect_status_get: 302", "redirect_status_get: must be 301 or 308"},
		{good + "client_auth: require", "client_auth: needs client_ca_file"},
		{good + "client_ca_file: " + garbage, "client_ca_file: " + garbage + " holds no PEM certificate"},
		{good + "client_ca_file: " + filepath.Join(dir, "missing.pem"), "client_ca_file: open " + filepath.Join(dir, "missing.pem")},
		{good + "acme: {hosts: [a.test], ca_file: " + garbage + "}", "acme.ca_file: " + garbage + " holds no PEM certificate"},
		{good + "client_cert_header: 'X Bad'", "invalid header name"},
		{good + "acme: {hosts: ['*.a.test']}", "no wildcards"},
		{good + "acme: {hosts: [a.test], directory_url: 'http://x'}", "must be an https:// URL"},
		{good + "acme: {hosts: [a.test], renew_before: 721h}", "acme.renew_before: must be at most 720h (autocert caps it at 30 days)"},
		{good + "sesion_ticket_rotation: 1h", "unknown field (did you mean \"session_ticket_rotation\"?)"},
		{"certificates: [{cert_file: " + garbage + ", key_file: " + l.KeyFile + "}]", "certificates[0]: certificate " + garbage + ": "},
		{"certificates: [{cert_file: " + weak.CertFile + ", key_file: " + weak.KeyFile + "}]", "certificates[0]: certificate " + weak.CertFile + " has a 1024-bit RSA key"},
		{"certificates: [{cert_file: a.pem}]", "key_file: is required"},
		{"min_version: '1.2'", "certificates: listen.https needs at least one certificate"},
	} {
		_, msg := check(t, tc.yaml, true)
		if !strings.Contains(msg, tc.want) {
			t.Errorf("%s:\n got %q\nwant %q", tc.yaml, msg, tc.want)
		}
		// The field path says where; no package prefix repeats it.
		if repeated.MatchString(msg) {
			t.Errorf("%s: message repeats its place: %q", tc.yaml, msg)
		}
	}
	if _, msg := check(t, good, false); !strings.Contains(msg, "listen.https is required") {
		t.Errorf("no https: %q", msg)
	}
	if _, msg := check(t, "redirect_http: true", false); !strings.Contains(msg, "need listen.https") {
		t.Errorf("redirect without https: %q", msg)
	}
	// Relative paths are taken from the config file's directory.
	root, _ := confnode.Parse(filepath.Join(dir, "edgeguard.yaml"), []byte("certificates: [{cert_file: a.pem, key_file: a.key}]"))
	var rc Config
	root.Decode(&rc)
	Check(root, &rc, true)
	if len(root.Errs.List) != 0 || rc.Certificates[0].CertFile != l.CertFile {
		t.Fatalf("relative: %v %s", root.Errs.List, rc.Certificates[0].CertFile)
	}
}
