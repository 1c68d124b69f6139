package jwt

import (
	"github.com/VictoriaMetrics/metrics"

	"github.com/edgeguard/edgeguard/filters"
	"github.com/edgeguard/edgeguard/filters/jwt/jwks"
)

// reason is why a request was rejected; each has a fixed body built at load
// (claim errors excepted, see claimBody), so no token content, key
// material or internal error ever reaches a client.
type reason uint8

const (
	rNoToken reason = iota
	rMultiple
	rBadToken
	rBadJSON
	rBadTyp
	rBadAlg
	rBadKid
	rNoKeyClaim
	rBadKeyClaim
	rNoCredential
	rUnknownKid
	rAlgorithm
	rSignature
	rExpired
	rNotYetValid
	rClaimType
	rMaxExp
	rIssuer
	rAudience
	rRequired
	numReasons
)

// reasonNames are Ctx.RejectReason values and metric labels.
var reasonNames = [numReasons]string{
	rNoToken:      "no_token",
	rMultiple:     "multiple_tokens",
	rBadToken:     "bad_token",
	rBadJSON:      "bad_json",
	rBadTyp:       "bad_typ",
	rBadAlg:       "bad_alg",
	rBadKid:       "bad_kid",
	rNoKeyClaim:   "no_key_claim",
	rBadKeyClaim:  "invalid_key_claim",
	rNoCredential: "no_credentials",
	rUnknownKid:   "unknown_kid",
	rAlgorithm:    "invalid_algorithm",
	rSignature:    "invalid_signature",
	rExpired:      "expired",
	rNotYetValid:  "not_yet_valid",
	rClaimType:    "claim_type",
	rMaxExp:       "maximum_expiration",
	rIssuer:       "issuer_not_allowed",
	rAudience:     "audience",
	rRequired:     "required_claim",
}

// claim states for exp and nbf, indexing claimBodies.
const (
	cOK uint8 = iota
	cNotNumber
	cFailed // expired / not yet valid
)

// bodies holds every rejection body of one filter.
type bodies struct {
	fixed      [numReasons][]byte
	claims     [3][3][]byte // [exp state][nbf state]
	required   [][]byte     // per required claim
	wwwAuth    string       // no token
	wwwAuthErr string       // every other rejection
}

func message(msg string) []byte {
	return append(filters.AppendJSONString([]byte(`{"message":`), msg), '}')
}

func claimError(name, msg string) []byte {
	b := filters.AppendJSONString([]byte{'{'}, name)
	b = append(b, ':')
	return append(filters.AppendJSONString(b, msg), '}')
}

func buildBodies(s *settings) *bodies {
	b := &bodies{}
	kc := "'" + s.keyClaim + "'"
	for r, msg := range map[reason]string{
		rNoToken:      "Unauthorized",
		rMultiple:     "Multiple tokens provided",
		rBadToken:     "Bad token; invalid JWT",
		rBadJSON:      "Bad token; invalid JSON",
		rBadTyp:       "Bad token; invalid typ",
		rBadAlg:       "Bad token; invalid alg",
		rBadKid:       "Bad token; invalid kid",
		rNoKeyClaim:   "No mandatory " + kc + " in claims",
		rBadKeyClaim:  "Invalid " + kc + " in claims",
		rNoCredential: "No credentials found for given " + kc,
		rUnknownKid:   "No credentials found for given 'kid'",
		rAlgorithm:    "Invalid algorithm",
		rSignature:    "Invalid signature",
	} {
		b.fixed[r] = message(msg)
	}
	b.fixed[rMaxExp] = claimError("exp", "exceeds maximum allowed expiration")
	b.fixed[rIssuer] = claimError("iss", "issuer not allowed")
	b.fixed[rAudience] = claimError("aud", "invalid audience")
	for _, name := range s.required {
		b.required = append(b.required, claimError(name, "required claim missing"))
	}
	// Kong lists claim errors in claims_to_verify order; unlisted (checked
	// because present) claims follow, exp before nbf.
	order := append([]string(nil), s.claimOrder...)
	for _, n := range []string{"exp", "nbf"} {
		found := false
		for _, o := range order {
			found = found || o == n
		}
		if !found {
			order = append(order, n)
		}
	}
	msgs := map[string][3]string{
		"exp": {"", "must be a number", "token expired"},
		"nbf": {"", "must be a number", "token not valid yet"},
	}
	for es := cOK; es <= cFailed; es++ {
		for ns := cOK; ns <= cFailed; ns++ {
			state := map[string]uint8{"exp": es, "nbf": ns}
			body := []byte{'{'}
			for _, n := range order {
				if state[n] == cOK {
					continue
				}
				if len(body) > 1 {
					body = append(body, ',')
				}
				body = filters.AppendJSONString(body, n)
				body = append(body, ':')
				body = filters.AppendJSONString(body, msgs[n][state[n]])
			}
			b.claims[es][ns] = append(body, '}')
		}
	}
	base := "Bearer"
	if s.realm != "" {
		base += ` realm="` + s.realm + `"`
		b.wwwAuthErr = base + `, error="invalid_token"`
	} else {
		b.wwwAuthErr = base + ` error="invalid_token"`
	}
	b.wwwAuth = base
	return b
}

// reject ends the request with 401 and the body for r.
func (f *Filter) reject(c *filters.Ctx, r reason, body []byte) filters.Verdict {
	if f.rejected[r] != nil {
		f.rejected[r].Inc()
	}
	h := &c.RC.Response.Header
	if r == rNoToken {
		h.Set("WWW-Authenticate", f.bodies.wwwAuth)
	} else {
		h.Set("WWW-Authenticate", f.bodies.wwwAuthErr)
	}
	if body == nil {
		body = f.bodies.fixed[r]
	}
	return c.RejectBody(401, reasonNames[r], body)
}

func (f *Filter) registerMetrics(ms *metrics.Set, plugin string) {
	if ms == nil {
		return
	}
	p := labelValue(plugin)
	for r := reason(0); r < numReasons; r++ {
		f.rejected[r] = ms.GetOrCreateCounter(`edgeguard_jwt_rejected_total{plugin="` + p + `",reason="` + reasonNames[r] + `"}`)
	}
	f.hits = ms.GetOrCreateCounter(`edgeguard_jwt_accepted_total{plugin="` + p + `",cache="hit"}`)
	f.misses = ms.GetOrCreateCounter(`edgeguard_jwt_accepted_total{plugin="` + p + `",cache="miss"}`)
	f.anon = ms.GetOrCreateCounter(`edgeguard_jwt_anonymous_total{plugin="` + p + `"}`)
	for _, is := range f.issuers {
		ks := is.set
		labels := `{plugin="` + p + `",issuer="` + labelValue(is.name) + `"}`
		gauge := func(name string, fn func(st jwks.Stats) float64) {
			// GetOrCreateGauge returns an existing gauge of the same name
			// (same plugin and issuer in a reloaded config: the same Set).
			ms.GetOrCreateGauge(name+labels, func() float64 { return fn(ks.Stats()) })
		}
		gauge("edgeguard_jwks_keys", func(st jwks.Stats) float64 { return float64(st.Keys) })
		gauge("edgeguard_jwks_fetches_total", func(st jwks.Stats) float64 { return float64(st.Fetches) })
		gauge("edgeguard_jwks_fetch_errors_total", func(st jwks.Stats) float64 { return float64(st.FetchErrors) })
		gauge("edgeguard_jwks_unknown_kid_total", func(st jwks.Stats) float64 { return float64(st.UnknownKids) })
		gauge("edgeguard_jwks_last_success_timestamp_seconds", func(st jwks.Stats) float64 {
			if st.LastSuccess.IsZero() {
				return 0
			}
			return float64(st.LastSuccess.UnixNano()) / 1e9
		})
	}
}

// labelValue escapes a Prometheus label value.
func labelValue(s string) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\', '"':
			out = append(out, '\\', c)
		case '\n':
			out = append(out, '\\', 'n')
		default:
			out = append(out, c)
		}
	}
	return string(out)
}
