package verify_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/edgeguard/edgeguard/filters/gatewayid"
	"github.com/edgeguard/edgeguard/filters/gatewayid/verify"
)

// fuzzToken is a valid HS256 token for GET /orders/7 at t0 (deterministic:
// fixed clock, secret and request ID).
func fuzzToken(tb testing.TB) string {
	s, err := gatewayid.New(gatewayid.Config{Secret: secret}, []string{"X-User-ID", "X-User-Email"})
	if err != nil {
		tb.Fatal(err)
	}
	s.SetClock(func() time.Time { return t0 })
	return mint(s, "GET", "/orders/7", "u-42").token
}

// FuzzVerify feeds arbitrary tokens to the verifier: it must never panic,
// and it may accept only the header and payload that the gateway signed.
func FuzzVerify(f *testing.F) {
	good := fuzzToken(f)
	f.Add(good)
	f.Add(good[:len(good)-3])
	f.Add(strings.Replace(good, ".", "..", 1))
	f.Add("eyJ")
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Add("")
	v, err := verify.New(verify.Config{Secrets: [][]byte{[]byte(secret)}, Now: func() time.Time { return t0.Add(time.Second) }})
	if err != nil {
		f.Fatal(err)
	}
	signed := good[:strings.LastIndexByte(good, '.')]
	h := http.Header{"X-User-Id": {"u-42"}}
	f.Fuzz(func(t *testing.T, tok string) {
		id, err := v.Verify([]byte(tok), "GET", "/orders/7", h)
		if err != nil {
			if id != nil {
				t.Fatal("identity with error")
			}
			return
		}
		if i := strings.LastIndexByte(tok, '.'); i < 0 || tok[:i] != signed {
			t.Fatalf("accepted a token the gateway did not sign: %q", tok)
		}
		if id.Subject() != "" && id.Subject() != "u-42" {
			t.Fatalf("identity %+v", id)
		}
	})
}

func TestFuzzSeedIsValid(t *testing.T) {
	v, _ := verify.New(verify.Config{Secrets: [][]byte{[]byte(secret)}, Now: func() time.Time { return t0 }})
	if _, err := v.Verify([]byte(fuzzToken(t)), "GET", "/orders/7", http.Header{"X-User-Id": {"u-42"}}); err != nil {
		t.Fatal(err)
	}
}
