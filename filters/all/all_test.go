package all_test

import (
	"strings"
	"testing"

	"github.com/edgeguard/edgeguard/filters/filtertest"
)

// TestConfigErrorsAllAtOnce: an unknown field or a value of the wrong type
// in a plugin's config does not hide the plugin's value checks, and a
// field whose value failed to decode is reported once (not again by the
// check of its zero value).
func TestConfigErrorsAllAtOnce(t *testing.T) {
	for _, tc := range []struct {
		plugin, yaml string
		want         []string // every problem, in order
	}{
		{"rate-limiting", "{secnd: 5, limit_by: ipp, policy: locl}", []string{
			"test.yaml:1:1: config: rate-limiting: at least one of second, minute, hour, day, month, year is required",
			`test.yaml:1:2: config.secnd: unknown field (did you mean "second"?)`,
			`test.yaml:1:22: config.limit_by: rate-limiting: must be one of consumer, credential, ip, header, path, service (got "ipp")`,
			`test.yaml:1:35: config.policy: rate-limiting: must be one of local, redis, cluster (got "locl")`,
		}},
		{"rate-limiting", "{minute: x, limit_by: ipp}", []string{
			`test.yaml:1:10: config.minute: must be a number (got "x")`,
			`test.yaml:1:23: config.limit_by: rate-limiting: must be one of consumer, credential, ip, header, path, service (got "ipp")`,
		}},
		{"jwt", "{bogus: 1, claims_to_verify: [iat], leeway: 10m, maximum_expiration: abc}", []string{
			"test.yaml:1:2: config.bogus: unknown field",
			`test.yaml:1:31: config.claims_to_verify[0]: must be "exp" or "nbf"`,
			"test.yaml:1:45: config.leeway: must be at most 5m",
			`test.yaml:1:70: config.maximum_expiration: must be a whole number in range (got "abc")`,
		}},
		{"ip-restriction", "{alow: [1.2.3.4], deny: [10.0.0.0/8], status: 200}", []string{
			`test.yaml:1:2: config.alow: unknown field (did you mean "allow"?)`,
			"test.yaml:1:47: config.status: must be an HTTP error status (400-599), got 200",
		}},
		{"ip-restriction", "{alow: [1.2.3.4], deny: [300.1.1.1], status: abc}", []string{
			`test.yaml:1:2: config.alow: unknown field (did you mean "allow"?)`,
			`test.yaml:1:26: config.deny[0]: invalid IP address or CIDR "300.1.1.1": IPv4 field has value >255`,
			`test.yaml:1:46: config.status: must be a whole number in range (got "abc")`,
		}},
		{"request-size-limiting", "{sise_unit: bytes, allowed_payload_size: -1, size_unit: gigabytes}", []string{
			`test.yaml:1:2: config.sise_unit: unknown field (did you mean "size_unit"?)`,
			"test.yaml:1:42: config.allowed_payload_size: must be > 0",
			`test.yaml:1:57: config.size_unit: must be one of bytes, kilobytes, megabytes (got "gigabytes")`,
		}},
		{"request-size-limiting", "{allowed_payload_size: x, size_unit: gigabytes}", []string{
			`test.yaml:1:24: config.allowed_payload_size: must be a whole number in range (got "x")`,
			`test.yaml:1:38: config.size_unit: must be one of bytes, kilobytes, megabytes (got "gigabytes")`,
		}},
		{"bot-detection", "{denny: [x], allow: ['(']}", []string{
			`test.yaml:1:2: config.denny: unknown field (did you mean "deny"?)`,
			"test.yaml:1:22: config.allow[0]: invalid regular expression \"(\": missing closing ): `(` (Go RE2 syntax: no lookaround or backreferences)",
		}},
		{"request-validator", "{versio: x, max_depth: -1, version: draft3}", []string{
			"test.yaml:1:1: config: one of body_schema or parameter_schema is required",
			`test.yaml:1:2: config.versio: unknown field (did you mean "version"?)`,
			"test.yaml:1:24: config.max_depth: must be between 1 and 10000",
			`test.yaml:1:37: config.version: must be kong, draft4, draft6, draft7, draft201909 or draft202012 (got "draft3")`,
		}},
		{"request-validator", "{parameter_schema: 5}", []string{
			`test.yaml:1:20: config.parameter_schema: must be a list, not "5"`,
		}},
		{"http-log", "{http_endpoit: x, method: GET, timeout: abc}", []string{
			"test.yaml:1:1: config.http_endpoint: http-log: required",
			`test.yaml:1:2: config.http_endpoit: unknown field (did you mean "http_endpoint"?)`,
			`test.yaml:1:27: config.method: http-log: must be POST, PUT or PATCH, got "GET"`,
			`test.yaml:1:41: config.timeout: must be a number (got "abc")`,
		}},
		{"request-transformer", "{ad: {}, http_method: get}", []string{
			`test.yaml:1:2: config.ad: unknown field (did you mean "add"?)`,
			`test.yaml:1:23: config.http_method: request-transformer: must be an upper-case method such as POST, got "get"`,
		}},
	} {
		_, err := filtertest.Build(filtertest.Env(t), tc.plugin, tc.yaml)
		var got []string
		if err != nil {
			got = strings.Split(err.Error(), "\n")
		}
		if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
			t.Errorf("%s %s:\n got %s\nwant %s", tc.plugin, tc.yaml, strings.Join(got, "\n     "), strings.Join(tc.want, "\n     "))
		}
	}
}
