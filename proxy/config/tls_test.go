package config_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgeguard/edgeguard/proxy/config"
	"github.com/edgeguard/edgeguard/tlsconf/tlstest"
)

func TestListenTLS(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, "ca")
	ca.Issue(t, dir, "api", tlstest.Options{}, "api.test")
	file := filepath.Join(dir, "edgeguard.yaml")
	base := "services: [{name: api, targets: [\"127.0.0.1:9000\"]}]\nroutes: [{name: r, service: api}]\n"
	cfg, errs := config.Parse(file, []byte(`listen:
  http: "127.0.0.1:8080"
  https: "127.0.0.1:8443"
  tls: {certificates: [{cert_file: api.pem, key_file: api.key}], redirect_http: true}
`+base))
	if errs != nil {
		t.Fatal(errs.Err())
	}
	if got := cfg.Listen.TLS.Certificates[0].CertFile; got != filepath.Join(dir, "api.pem") || cfg.Listen.TLS.MinVersion != "1.2" {
		t.Fatalf("%s %s", got, cfg.Listen.TLS.MinVersion)
	}
	_, errs = config.Parse(file, []byte(`listen:
  http: "127.0.0.1:8080"
  https: "8443"
  tls:
    certificates: [{cert_file: api.pem, key_file: api.key}]
    ciphers: "ECDHE-RSA-AES128-SHA"
    min_version: "1.0"
`+base))
	if errs == nil {
		t.Fatal("accepted")
	}
	msg := errs.Err().Error()
	for _, want := range []string{
		`edgeguard.yaml:3:10: listen.https: invalid address "8443"`,
		`edgeguard.yaml:6:14: listen.tls.ciphers: cipher "ECDHE-RSA-AES128-SHA" is weak`,
		`edgeguard.yaml:7:18: listen.tls.min_version: tls 1.0 is insecure`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("missing %q in\n%s", want, msg)
		}
	}
}

func TestParseTargetHTTPS(t *testing.T) {
	tg, err := config.ParseTarget("https://api.internal:443/")
	if err != nil || !tg.TLS || tg.Addr != "https://api.internal:443" {
		t.Fatalf("%+v %v", tg, err)
	}
	if tg, err := config.ParseTarget("http://a:80"); err != nil || tg.TLS || tg.Addr != "a:80" {
		t.Fatalf("%+v %v", tg, err)
	}
	if _, err := config.ParseTarget("https://nohost"); err == nil {
		t.Fatal("accepted")
	}
}
