// Package jwt is edgeguard's `jwt` plugin: Kong's JWT authentication with
// its field names, statuses and bodies, made secure by default, plus JWKS
// issuers (with OpenID Connect discovery), audience, issuer and required
// claim checks, clock-skew leeway and a verified-token cache.
//
// # Request path
//
// Access first removes client-sent X-Consumer-ID, X-Consumer-Custom-ID,
// X-Consumer-Username, X-Credential-Identifier and X-Anonymous-Consumer,
// then collects the token from the configured headers ("Bearer <token>"),
// cookies and query parameters. No token: the anonymous consumer, or 401
// Unauthorized. Two different tokens: 401. Otherwise the raw token is looked
// up in the verified-token cache; a hit re-checks only exp/nbf against the
// clock and (for JWKS issuers) that the key is still published, and costs
// the same whatever the algorithm. A miss runs the full verification:
//
//  1. strict parse (jose.Parse): canonical base64url, JSON header without
//     duplicates, supported alg, no crit/b64/cty;
//  2. claims must be one JSON object without duplicate names;
//  3. key: an issuer of `issuers` whose name equals iss (key by kid, and by
//     alg among keys sharing a kid, from its JWKS), else the consumer
//     credential named by key_claim_name (claim, then header); the token's
//     alg must equal the key's;
//  4. signature;
//  5. exp and nbf (always when present, required when listed, with leeway),
//     maximum_expiration, allowed_issuers, audience, required_claims.
//
// On success Ctx.Consumer, Ctx.Credential and Ctx.Claims are set (Claims
// reads the verified claims lazily, see entry.AppendClaim) and the identity
// headers are set for the upstream.
//
// # Lifecycle
//
// A Filter holds a ristretto cache and references to shared JWKS key sets
// (filters.Env.Shared, keyed by issuer, URI and options, so they survive
// reloads). Close it when its config is retired.
package jwt
