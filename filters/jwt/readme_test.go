package jwt

import (
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/edgeguard/edgeguard/filters/filtertest"
	"github.com/edgeguard/edgeguard/filters/jwt/jwttest"
)

// TestReadmeExamples builds every yaml example of README.md, with the
// example identity provider replaced by one on loopback, so the docs
// cannot drift from the code.
func TestReadmeExamples(t *testing.T) {
	data, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	jwksBody := jwttest.JWKS(keys.JWK("RS256", "k1", true))
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if base, ok := strings.CutSuffix(r.URL.Path, "/.well-known/openid-configuration"); ok {
			w.Write([]byte(`{"issuer":"` + srv.URL + base + `","jwks_uri":"` + srv.URL + `/certs"}`))
			return
		}
		w.Write(jwksBody)
	}))
	defer srv.Close()
	blocks := strings.Split(string(data), "```yaml\n")[1:]
	if len(blocks) < 4 {
		t.Fatalf("found %d examples", len(blocks))
	}
	for i, b := range blocks {
		yaml := strings.ReplaceAll(b[:strings.Index(b, "```")], "https://idp.example.com", srv.URL)
		f, err := filtertest.Build(testEnv(t), "jwt", yaml)
		if err != nil {
			t.Errorf("example %d: %v\n%s", i+1, err, yaml)
			continue
		}
		flt := f.(*Filter)
		for _, is := range flt.issuers {
			if is.set.Stats().Keys != 1 {
				t.Errorf("example %d: issuer %s has no keys", i+1, is.name)
			}
		}
		flt.Close()
	}
}
