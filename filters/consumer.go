package filters

// JWTCredential is one entry of a consumer's `jwt_secrets` (Kong's
// jwt_secrets object). Secrets may be given as `secret_file` /
// `rsa_public_key_file` or with ${ENV} references; the loader resolves them.
type JWTCredential struct {
	// Key identifies the credential; it is matched to the claim named by the
	// jwt plugin's key_claim_name (default iss).
	Key string `yaml:"key"`
	// Algorithm is the only algorithm this credential verifies (default HS256).
	Algorithm string `yaml:"algorithm"`
	// Secret is the HS* secret (base64 when the plugin has secret_is_base64).
	Secret string `yaml:"secret"`
	// RSAPublicKey is a PEM public key for RS*, PS*, ES* and EdDSA.
	RSAPublicKey string `yaml:"rsa_public_key"`
}

// ConsumerConfig is one entry of `consumers:` as written in config.
type ConsumerConfig struct {
	Username   string          `yaml:"username"`
	CustomID   string          `yaml:"custom_id"`
	Tier       string          `yaml:"tier"`
	JWTSecrets []JWTCredential `yaml:"jwt_secrets"`
}
