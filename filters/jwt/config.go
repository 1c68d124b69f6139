package jwt

import (
	"encoding/base64"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/edgeguard/edgeguard/filters"
	"github.com/edgeguard/edgeguard/filters/jwt/jose"
	"github.com/edgeguard/edgeguard/filters/jwt/jwks"
	"github.com/edgeguard/edgeguard/proxy/config/confnode"
)

// Config is the `config:` block of a jwt plugin. The first group of fields
// is Kong's (same names, same meaning unless the README says otherwise);
// the second group is edgeguard's.
type Config struct {
	// URIParamNames are query parameters a token is read from (default
	// [jwt], as in Kong; set [] to refuse tokens in URLs).
	URIParamNames []string `yaml:"uri_param_names"`
	// CookieNames are cookies a token is read from (default none).
	CookieNames []string `yaml:"cookie_names"`
	// HeaderNames are headers holding "Bearer <token>" (default
	// [authorization]); the scheme is matched case-insensitively.
	HeaderNames []string `yaml:"header_names"`
	// KeyClaimName is the claim (then header parameter) whose value selects
	// the consumer credential (default iss).
	KeyClaimName string `yaml:"key_claim_name"`
	// SecretIsBase64 says HS* credential secrets are base64 (standard or
	// URL alphabet, padding optional).
	SecretIsBase64 bool `yaml:"secret_is_base64"`
	// ClaimsToVerify lists exp and/or nbf: listed claims are required.
	// (Present ones are always checked.)
	ClaimsToVerify []string `yaml:"claims_to_verify"`
	// MaximumExpiration, in seconds (0-31536000, 0 = off), rejects tokens
	// whose exp is further ahead or missing.
	MaximumExpiration int64 `yaml:"maximum_expiration"`
	// Anonymous is the username (or id) of the consumer used when a request
	// carries no token.
	Anonymous string `yaml:"anonymous"`
	// RunOnPreflight false lets OPTIONS requests through without a token.
	RunOnPreflight *bool `yaml:"run_on_preflight"`
	// Realm is added to WWW-Authenticate.
	Realm string `yaml:"realm"`

	// AllowedIssuers, when set, is the only iss values accepted.
	AllowedIssuers []string `yaml:"allowed_issuers"`
	// Audience, when set: the token's aud (string or array) must hold one.
	Audience []string `yaml:"audience"`
	// RequiredClaims must be present and not null (dotted paths allowed).
	RequiredClaims []string `yaml:"required_claims"`
	// Leeway is the clock skew allowed on exp and nbf (default 30s, at
	// most 5m); seconds or a duration ("45s").
	Leeway *Seconds `yaml:"leeway"`
	// MaxTokenSize is the longest token accepted (default 8KiB, at most
	// 64KiB).
	MaxTokenSize confnode.Size `yaml:"max_token_size"`
	// Issuers are identity providers whose keys come from a JWKS.
	Issuers []IssuerConfig `yaml:"issuers"`
	// JWKS tunes fetching for all Issuers.
	JWKS JWKSConfig `yaml:"jwks"`
	// TokenCache tunes the verified-token cache.
	TokenCache CacheConfig `yaml:"token_cache"`
}

// IssuerConfig is one JWKS-backed issuer.
type IssuerConfig struct {
	// Issuer is the exact iss of its tokens (an https URL, or http to a
	// loopback host).
	Issuer string `yaml:"issuer"`
	// JWKSURI is the key set URL; when empty it is found by OpenID Connect
	// discovery from Issuer.
	JWKSURI string `yaml:"jwks_uri"`
	// Algorithms the issuer's keys may use (default all asymmetric ones).
	// An RSA key without "alg" takes the first RS*/PS* listed (else RS256).
	Algorithms []string `yaml:"algorithms"`
	// Consumer is the username of the consumer its tokens authenticate as
	// (optional).
	Consumer string `yaml:"consumer"`
	// ConsumerClaim names a claim whose value is a consumer username; when
	// it names one, that consumer is used instead of Consumer.
	ConsumerClaim string `yaml:"consumer_claim"`
}

// JWKSConfig tunes key set fetching.
type JWKSConfig struct {
	MinRefresh         *Seconds `yaml:"min_refresh"`          // default 5m
	MaxRefresh         *Seconds `yaml:"max_refresh"`          // default 24h
	UnknownKidInterval *Seconds `yaml:"unknown_kid_interval"` // default 30s
	Timeout            *Seconds `yaml:"timeout"`              // default 5s
	// StartupWait is how long building the filter waits for a new key set's
	// first fetch (default 3s; 0 = do not wait). Requests before keys arrive
	// are rejected.
	StartupWait *Seconds `yaml:"startup_wait"`
}

// CacheConfig tunes the verified-token cache.
type CacheConfig struct {
	// Size bounds its memory (default 32MiB; 0 turns it off).
	Size *confnode.Size `yaml:"size"`
	// MaxTTL caps how long a verification is reused (default 1h); entries
	// also end when the token expires.
	MaxTTL *Seconds `yaml:"max_ttl"`
}

// Seconds is a duration written as a number of seconds (Kong's habit) or a
// Go duration ("30s", "5m").
type Seconds time.Duration

// UnmarshalYAML implements yaml.Unmarshaler.
func (s *Seconds) UnmarshalYAML(v *yaml.Node) error {
	if n, err := strconv.ParseFloat(v.Value, 64); err == nil {
		if n < 0 || n > 1e9 {
			return fmt.Errorf("line %d: %v seconds is out of range", v.Line, v.Value)
		}
		*s = Seconds(n * float64(time.Second))
		return nil
	}
	d, err := time.ParseDuration(v.Value)
	if err != nil || d < 0 {
		return fmt.Errorf("line %d: %q is not a duration (seconds or e.g. \"30s\")", v.Line, v.Value)
	}
	*s = Seconds(d)
	return nil
}

func (s *Seconds) or(def time.Duration) time.Duration {
	if s == nil {
		return def
	}
	return time.Duration(*s)
}

// credential is a consumer's jwt secret turned into a key.
type credential struct {
	key      *jose.Key
	consumer *filters.Consumer
	name     string // the credential key, for X-Credential-Identifier
}

// settings is the checked, defaulted config.
type settings struct {
	uriParams, cookies, headers []string
	headerNames                 filters.HeaderNames // headers in canonical form
	keyClaim                    string
	requireExp, requireNbf      bool
	claimOrder                  []string // claims_to_verify order, for error bodies
	maxExp                      int64
	anonymous                   *filters.Consumer
	runOnPreflight              bool
	realm                       string
	allowedIssuers              []string
	audience                    []string
	required                    []string
	leeway                      int64
	maxTokenSize                int
	creds                       map[string]*credential
	issuers                     []issuerSettings
	jwks                        jwks.Options
	startupWait                 time.Duration
	cacheSize                   int64
	cacheMaxTTL                 time.Duration
}

type issuerSettings struct {
	cfg       IssuerConfig
	jwk       jose.JWKOptions
	consumer  *filters.Consumer
	sharedKey string
}

// check decodes and validates a config node; it records problems on cfg
// and returns ok=false when there were any.
func check(cfg confnode.Node, env *filters.Env) (*settings, bool) {
	var c Config
	var s *settings
	ok := filters.DecodeConfig(cfg, &c, func() { s = checkValues(cfg, &c, env) })
	return s, ok
}

// checkValues validates c (decoded from cfg), recording problems on cfg,
// and returns the settings it gives.
func checkValues(cfg confnode.Node, c *Config, env *filters.Env) *settings {
	s := &settings{
		uriParams:      []string{"jwt"},
		cookies:        c.CookieNames,
		headers:        []string{"authorization"},
		keyClaim:       "iss",
		maxExp:         c.MaximumExpiration,
		runOnPreflight: true,
		realm:          c.Realm,
		allowedIssuers: c.AllowedIssuers,
		audience:       c.Audience,
		required:       c.RequiredClaims,
		leeway:         int64(c.Leeway.or(30*time.Second) / time.Second),
		maxTokenSize:   8 << 10,
		creds:          map[string]*credential{},
		startupWait:    c.JWKS.StartupWait.or(3 * time.Second),
		cacheSize:      32 << 20,
		cacheMaxTTL:    c.TokenCache.MaxTTL.or(time.Hour),
	}
	if cfg.Field("uri_param_names").Present() {
		s.uriParams = c.URIParamNames
	}
	if cfg.Field("header_names").Present() {
		s.headers = c.HeaderNames
	}
	s.headerNames = filters.NewHeaderNames(s.headers...)
	for _, group := range []struct {
		field string
		names []string
	}{{"uri_param_names", s.uriParams}, {"cookie_names", s.cookies}, {"header_names", s.headers}} {
		for i, n := range group.names {
			if n == "" || strings.ContainsAny(n, " \t\r\n:;,=\"") {
				cfg.Field(group.field).Index(i).Errorf("must be a non-empty name without spaces or separators")
			}
		}
	}
	if c.KeyClaimName != "" {
		s.keyClaim = c.KeyClaimName
	}
	for i, name := range c.ClaimsToVerify {
		switch name {
		case "exp":
			s.requireExp = true
		case "nbf":
			s.requireNbf = true
		default:
			cfg.Field("claims_to_verify").Index(i).Errorf(`must be "exp" or "nbf"`)
			continue
		}
		s.claimOrder = append(s.claimOrder, name)
	}
	if c.MaximumExpiration < 0 || c.MaximumExpiration > 31536000 {
		cfg.FieldErrorf("maximum_expiration", "must be between 0 and 31536000 seconds")
	}
	if c.RunOnPreflight != nil {
		s.runOnPreflight = *c.RunOnPreflight
	}
	if strings.ContainsAny(c.Realm, "\"\\") || hasCtl(c.Realm) {
		cfg.FieldErrorf("realm", "must not contain quotes, backslashes or control characters")
	}
	if c.Anonymous != "" {
		s.anonymous = findConsumer(env, c.Anonymous)
		if s.anonymous == nil {
			cfg.FieldErrorf("anonymous", "no consumer %q (give a consumer username or id)", c.Anonymous)
		}
	}
	if l := c.Leeway.or(30 * time.Second); l > 5*time.Minute {
		cfg.FieldErrorf("leeway", "must be at most 5m")
	}
	if c.MaxTokenSize != 0 {
		if c.MaxTokenSize < 64 || c.MaxTokenSize > jose.MaxTokenSize {
			cfg.FieldErrorf("max_token_size", "must be between 64 bytes and 64KiB")
		}
		s.maxTokenSize = int(c.MaxTokenSize)
	}
	for i, a := range c.Audience {
		if a == "" {
			cfg.Field("audience").Index(i).Errorf("must not be empty")
		}
	}
	for i, r := range c.RequiredClaims {
		if r == "" {
			cfg.Field("required_claims").Index(i).Errorf("must not be empty")
		}
	}
	if c.TokenCache.Size != nil {
		s.cacheSize = int64(*c.TokenCache.Size)
		if s.cacheSize != 0 && s.cacheSize < 1<<20 {
			cfg.Field("token_cache").FieldErrorf("size", "must be 0 (off) or at least 1MiB")
		}
	}

	// JWKS defaults and bounds.
	s.jwks = jwks.Options{
		MinRefresh:         c.JWKS.MinRefresh.or(5 * time.Minute),
		MaxRefresh:         c.JWKS.MaxRefresh.or(24 * time.Hour),
		UnknownKidInterval: c.JWKS.UnknownKidInterval.or(30 * time.Second),
		Timeout:            c.JWKS.Timeout.or(5 * time.Second),
		Logger:             env.Logger,
	}
	jn := cfg.Field("jwks")
	if s.jwks.MinRefresh < time.Second {
		jn.FieldErrorf("min_refresh", "must be at least 1s")
	}
	if s.jwks.MaxRefresh < s.jwks.MinRefresh {
		jn.FieldErrorf("max_refresh", "must not be below min_refresh")
	}
	if s.jwks.UnknownKidInterval < 100*time.Millisecond {
		jn.FieldErrorf("unknown_kid_interval", "must be at least 100ms")
	}
	if s.jwks.Timeout <= 0 || s.jwks.Timeout > time.Minute {
		jn.FieldErrorf("timeout", "must be between 1ms and 1m")
	}

	// Issuers.
	seen := map[string]bool{}
	for i, ic := range c.Issuers {
		n := cfg.Field("issuers").Index(i)
		if ic.Issuer == "" {
			n.FieldErrorf("issuer", "is required")
			continue
		}
		if seen[ic.Issuer] {
			n.FieldErrorf("issuer", "%q is listed twice", ic.Issuer)
		}
		seen[ic.Issuer] = true
		if ic.JWKSURI != "" {
			if err := jwks.CheckURL(ic.JWKSURI); err != nil {
				n.FieldErrorf("jwks_uri", "%v", strings.TrimPrefix(err.Error(), "jwks: "))
			}
		} else if err := jwks.CheckURL(ic.Issuer); err != nil {
			n.FieldErrorf("issuer", "without jwks_uri the issuer must be a URL for OpenID Connect discovery: %v", strings.TrimPrefix(err.Error(), "jwks: "))
		}
		is := issuerSettings{cfg: ic}
		for j, name := range ic.Algorithms {
			a, ok := jose.ParseAlg(name)
			if !ok || a.Symmetric() {
				n.Field("algorithms").Index(j).Errorf("must be one of RS256/384/512, PS256/384/512, ES256/384/512, EdDSA")
				continue
			}
			is.jwk.Allowed = append(is.jwk.Allowed, a)
			if is.jwk.RSAAlg == jose.AlgUnknown && (strings.HasPrefix(name, "RS") || strings.HasPrefix(name, "PS")) {
				is.jwk.RSAAlg = a
			}
		}
		if ic.Consumer != "" {
			if is.consumer = findConsumer(env, ic.Consumer); is.consumer == nil {
				n.FieldErrorf("consumer", "no consumer %q", ic.Consumer)
			}
		}
		is.sharedKey = fmt.Sprintf("jwt.jwks\x00%s\x00%s\x00%v\x00%v\x00%v\x00%v\x00%v\x00%v", ic.Issuer, ic.JWKSURI,
			s.jwks.MinRefresh, s.jwks.MaxRefresh, s.jwks.UnknownKidInterval, s.jwks.Timeout, is.jwk.RSAAlg, is.jwk.Allowed)
		s.issuers = append(s.issuers, is)
	}

	// Consumer credentials.
	for _, name := range slices.Sorted(maps.Keys(env.Consumers)) {
		co := env.Consumers[name]
		for _, jc := range co.JWTSecrets {
			cr, err := buildCredential(co, jc, c.SecretIsBase64)
			if err != nil {
				cfg.Errorf("consumer %q credential %q: %v", co.Username, jc.Key, err)
				continue
			}
			if prev := s.creds[jc.Key]; prev != nil {
				cfg.Errorf("credential key %q is used by consumers %q and %q; keys must be unique", jc.Key, prev.consumer.Username, co.Username)
				continue
			}
			s.creds[jc.Key] = cr
		}
	}
	if len(s.creds) == 0 && len(s.issuers) == 0 && s.anonymous == nil {
		env.Logger.Warn("jwt: no consumer has jwt_secrets and no issuers are configured: every token will be rejected", "plugin", env.InstanceName)
	}
	return s
}

func buildCredential(co *filters.Consumer, jc filters.JWTCredential, secretIsBase64 bool) (*credential, error) {
	if jc.Key == "" {
		return nil, fmt.Errorf("key is required")
	}
	algName := jc.Algorithm
	if algName == "" {
		algName = "HS256"
	}
	alg, ok := jose.ParseAlg(algName)
	if !ok {
		return nil, fmt.Errorf("unsupported algorithm %q", algName)
	}
	cr := &credential{consumer: co, name: jc.Key}
	var err error
	if alg.Symmetric() {
		secret := []byte(jc.Secret)
		if secretIsBase64 {
			if secret, err = decodeBase64(jc.Secret); err != nil {
				return nil, fmt.Errorf("secret is not base64 (secret_is_base64 is on)")
			}
		}
		if len(secret) == 0 {
			return nil, fmt.Errorf("%s needs a secret", alg)
		}
		if least := minSecret(alg); len(secret) < least {
			return nil, fmt.Errorf("%s secret is %d bytes; RFC 7518 §3.2 requires at least %d", alg, len(secret), least)
		}
		cr.key, err = jose.NewHMACKey(alg, secret)
	} else {
		if jc.RSAPublicKey == "" {
			return nil, fmt.Errorf("%s needs rsa_public_key (a PEM public key)", alg)
		}
		cr.key, err = jose.ParsePEMKey(alg, []byte(jc.RSAPublicKey))
	}
	if err != nil {
		return nil, fmt.Errorf("%s", strings.TrimPrefix(err.Error(), "jose: "))
	}
	cr.key.ID = jc.Key
	return cr, nil
}

func minSecret(a jose.Alg) int {
	switch a {
	case jose.HS384:
		return 48
	case jose.HS512:
		return 64
	}
	return 32
}

func decodeBase64(s string) ([]byte, error) {
	s = strings.TrimRight(strings.TrimSpace(s), "=")
	if strings.ContainsAny(s, "-_") {
		return base64.RawURLEncoding.DecodeString(s)
	}
	return base64.RawStdEncoding.DecodeString(s)
}

func findConsumer(env *filters.Env, name string) *filters.Consumer {
	if c := env.Consumers[name]; c != nil {
		return c
	}
	for _, c := range env.Consumers {
		if c.ID != "" && c.ID == name {
			return c
		}
	}
	return nil
}

func hasCtl(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return true
		}
	}
	return false
}
