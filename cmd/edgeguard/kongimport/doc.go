// Package kongimport translates Kong and Kubernetes ingress configuration
// into an edgeguard config: `edgeguard import kong FILE...`.
//
// It reads two kinds of input, in any mix of files:
//
//   - Kubernetes multi-document YAML as the article writes it: KongPlugin
//     and KongClusterPlugin (configuration.konghq.com/v1), Ingress
//     (networking.k8s.io/v1) with konghq.com/* and
//     nginx.ingress.kubernetes.io/*ssl-redirect annotations and spec.tls,
//     cert-manager Certificate, and the NGINX ingress ConfigMap
//     (ssl-protocols, ssl-ciphers, hsts*).
//   - Kong's declarative kong.yml (`_format_version: "3.0"`): services with
//     nested or top-level routes and plugins, consumers with jwt_secrets,
//     global plugins.
//
// Plugin `config:` blocks are copied with Kong's field names (edgeguard's
// plugins use them). Everything that cannot be carried over is returned as
// an untranslated [Problem] with the manifest's file, line and column; facts
// the user should know but that change nothing (a merged route, an inferred
// plugin kind, an unused plugin) are returned as notes. Nothing is dropped
// silently.
//
// [Import] also runs the generated config through edgeguard's own checks
// (config.Parse and proxy.Check), so the plugins must be linked into the
// program (import github.com/edgeguard/edgeguard/filters/all). A plugin
// config field edgeguard rejects is removed and reported, so the output
// validates whenever possible.
//
// Import is a pure function of its inputs and safe for concurrent use.
package kongimport
