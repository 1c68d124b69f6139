package tlsconf

import (
	"crypto/tls"
	"fmt"
	"strings"
)

// strongSuites maps the OpenSSL names NGINX uses to Go's TLS 1.2 suites:
// ECDHE key exchange with an AEAD only (Mozilla "intermediate").
var strongSuites = map[string]uint16{
	"ECDHE-ECDSA-AES128-GCM-SHA256": tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	"ECDHE-RSA-AES128-GCM-SHA256":   tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	"ECDHE-ECDSA-AES256-GCM-SHA384": tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	"ECDHE-RSA-AES256-GCM-SHA384":   tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	"ECDHE-ECDSA-CHACHA20-POLY1305": tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	"ECDHE-RSA-CHACHA20-POLY1305":   tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// tls13Suites are accepted and ignored: Go always enables exactly these for
// TLS 1.3 and they are all AEAD.
var tls13Suites = map[string]bool{
	"TLS_AES_128_GCM_SHA256": true, "TLS_AES_256_GCM_SHA384": true, "TLS_CHACHA20_POLY1305_SHA256": true,
}

// DefaultCiphers is Mozilla's intermediate TLS 1.2 list, in its order.
const DefaultCiphers = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:" +
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:" +
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"

// ParseCiphers maps an OpenSSL cipher list ("A:B:C", also separated by
// commas or spaces) to Go suite IDs. An unknown name, a weak suite (no
// forward secrecy, CBC, RC4, 3DES, NULL) or an OpenSSL keyword expression
// ("HIGH:!aNULL") is an error: the resulting set must be explicit.
// IANA names (TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256) are accepted too.
func ParseCiphers(s string) ([]uint16, error) {
	var out []uint16
	seen := map[uint16]bool{}
	for _, name := range strings.FieldsFunc(s, func(r rune) bool { return r == ':' || r == ',' || r == ' ' }) {
		if tls13Suites[name] {
			continue
		}
		id, ok := strongSuites[name]
		if !ok {
			id, ok = ianaStrong(name)
		}
		if !ok {
			if isWeak(name) {
				return nil, fmt.Errorf("cipher %q is weak (want ECDHE with AES-GCM or ChaCha20-Poly1305)", name)
			}
			return nil, fmt.Errorf("unknown cipher %q (known: %s)", name, strings.ReplaceAll(DefaultCiphers, ":", ", "))
		}
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no TLS 1.2 cipher given")
	}
	return out, nil
}

func ianaStrong(name string) (uint16, bool) {
	for _, cs := range tls.CipherSuites() {
		if cs.Name == name {
			for _, id := range strongSuites {
				if id == cs.ID {
					return id, true
				}
			}
		}
	}
	return 0, false
}

// isWeak recognises suites that exist but are refused: Go's insecure list,
// the non-AEAD secure ones, and OpenSSL names for RSA key exchange, CBC,
// RC4, 3DES, DHE (unsupported in Go) and NULL/anonymous suites.
func isWeak(name string) bool {
	for _, cs := range tls.InsecureCipherSuites() {
		if cs.Name == name {
			return true
		}
	}
	for _, cs := range tls.CipherSuites() {
		if cs.Name == name {
			return true // secure in Go but not AEAD+ECDHE, e.g. ECDHE-RSA-AES128-SHA
		}
	}
	u := strings.ToUpper(name)
	for _, w := range []string{"RC4", "DES", "NULL", "MD5", "EXPORT", "ANON", "ADH", "AECDH", "PSK", "SRP", "CAMELLIA", "SEED", "IDEA", "ARIA", "CCM"} {
		if strings.Contains(u, w) {
			return true
		}
	}
	if !strings.HasSuffix(u, "-SHA") && !strings.HasSuffix(u, "-SHA256") && !strings.HasSuffix(u, "-SHA384") {
		return false
	}
	switch {
	case strings.HasPrefix(u, "AES"), strings.HasPrefix(u, "DHE-"), strings.HasPrefix(u, "EDH-"):
		return true // RSA key exchange (no forward secrecy) or DHE
	case strings.HasPrefix(u, "ECDHE-"):
		return !strings.Contains(u, "GCM") && !strings.Contains(u, "CHACHA") // CBC
	}
	return false
}

// curveNames maps OpenSSL and Go names to curve IDs.
var curveNames = map[string]tls.CurveID{
	"X25519": tls.X25519, "x25519": tls.X25519,
	"P-256": tls.CurveP256, "prime256v1": tls.CurveP256, "secp256r1": tls.CurveP256,
	"P-384": tls.CurveP384, "secp384r1": tls.CurveP384,
	"P-521": tls.CurveP521, "secp521r1": tls.CurveP521,
	"X25519MLKEM768": tls.X25519MLKEM768,
}

// ParseCurves maps curve names; an empty list means Go's defaults.
func ParseCurves(names []string) ([]tls.CurveID, error) {
	var out []tls.CurveID
	for _, n := range names {
		id, ok := curveNames[n]
		if !ok {
			return nil, fmt.Errorf("unknown curve %q (known: X25519MLKEM768, X25519, P-256, P-384, P-521)", n)
		}
		out = append(out, id)
	}
	return out, nil
}
