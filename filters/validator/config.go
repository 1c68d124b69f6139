package validator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/edgeguard/edgeguard/filters/validator/schema"
	"github.com/edgeguard/edgeguard/proxy/config/confnode"
)

// Config is the `config:` block of a request-validator instance, with Kong's
// field names (request-validator, Kong Enterprise) plus a few edgeguard
// fields marked as such.
type Config struct {
	// BodySchema is the JSON Schema of the request body: JSON text (as in
	// Kong and the article) or a YAML mapping. One of BodySchema and
	// ParameterSchema is required.
	BodySchema SchemaSource `yaml:"body_schema"`
	// Version is the dialect of BodySchema: kong (Kong's default: its own
	// format), draft4, draft6, draft7, draft201909 or draft202012. When
	// absent (or kong) and the schema is a JSON Schema object, it is read
	// as JSON Schema: its $schema, else draft 2020-12. Kong's own
	// array-of-fields format is not supported (a clear error at load).
	Version string `yaml:"version"`
	// AllowedContentTypes are the media types a request with a body may
	// have (default [application/json]); checked only with BodySchema.
	// `*/*` and `type/*` are wildcards; parameters (charset) see
	// ContentTypeParameterValidation.
	AllowedContentTypes []string `yaml:"allowed_content_types"`
	// ContentTypeParameterValidation compares the parameters of an allowed
	// type that lists some (default true, as in Kong 3.8+).
	ContentTypeParameterValidation *bool `yaml:"content_type_parameter_validation"`
	// ParameterSchema validates query, header and path parameters.
	ParameterSchema []ParamConfig `yaml:"parameter_schema"`
	// VerboseResponse puts the failing path, keyword and reason in the 400
	// body (default false: no details).
	VerboseResponse bool `yaml:"verbose_response"`

	// MaxBodySize (edgeguard) is the largest body the validator reads, in
	// bytes or with a unit ("1m"); default 1 MiB. A larger body gets 413.
	// The request-size-limiting plugin and the server limit run first; the
	// smaller limit wins.
	MaxBodySize confnode.Size `yaml:"max_body_size"`
	// MaxDepth (edgeguard) limits the nesting of JSON bodies (default
	// 128); deeper bodies are malformed (400).
	MaxDepth int `yaml:"max_depth"`
	// PathTemplate (edgeguard) names the path parameters for `in: path`:
	// "/users/{id}/orders/{order}" (one segment per name; the request path
	// must have the same number of segments). Kong takes them from regex
	// captures of the route, which edgeguard's prefix routes do not have.
	PathTemplate string `yaml:"path_template"`
}

// ParamConfig is one entry of parameter_schema.
type ParamConfig struct {
	// Name of the parameter (headers are matched case-insensitively).
	Name string `yaml:"name"`
	// In is query, header or path.
	In string `yaml:"in"`
	// Required: a missing parameter fails.
	Required bool `yaml:"required"`
	// Style is how arrays and objects are serialised (OpenAPI 3): query:
	// form (default), spaceDelimited, pipeDelimited, deepObject; header and
	// path: simple (default).
	Style string `yaml:"style"`
	// Explode (OpenAPI 3): default true for form, false otherwise.
	Explode *bool `yaml:"explode"`
	// Schema is the JSON Schema of the value, JSON text or YAML. String
	// values are coerced to the schema's type first ("42" is the integer
	// 42). Without $schema it is draft 4, as in Kong.
	Schema SchemaSource `yaml:"schema"`
}

// SchemaSource is a schema written as JSON text or as YAML; JSON holds the
// JSON text in both cases.
type SchemaSource struct {
	JSON []byte
	set  bool
}

// UnmarshalYAML implements yaml.Unmarshaler.
func (s *SchemaSource) UnmarshalYAML(n *yaml.Node) error {
	s.set = true
	if n.Kind == yaml.ScalarNode && n.Tag == "!!str" {
		s.JSON = []byte(n.Value)
		return nil
	}
	b, err := yamlToJSON(nil, n)
	if err != nil {
		return err
	}
	s.JSON = b
	return nil
}

// yamlToJSON converts a YAML value to JSON text, keeping number literals.
func yamlToJSON(dst []byte, n *yaml.Node) ([]byte, error) {
	switch n.Kind {
	case yaml.AliasNode:
		return yamlToJSON(dst, n.Alias)
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return append(dst, "null"...), nil
		}
		return yamlToJSON(dst, n.Content[0])
	case yaml.MappingNode:
		dst = append(dst, '{')
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind != yaml.ScalarNode {
				return nil, fmt.Errorf("line %d: schema keys must be strings", k.Line)
			}
			if seen[k.Value] {
				return nil, fmt.Errorf("line %d: duplicate key %q", k.Line, k.Value)
			}
			seen[k.Value] = true
			if i > 0 {
				dst = append(dst, ',')
			}
			kb, _ := json.Marshal(k.Value)
			dst = append(dst, kb...)
			dst = append(dst, ':')
			var err error
			if dst, err = yamlToJSON(dst, n.Content[i+1]); err != nil {
				return nil, err
			}
		}
		return append(dst, '}'), nil
	case yaml.SequenceNode:
		dst = append(dst, '[')
		for i, e := range n.Content {
			if i > 0 {
				dst = append(dst, ',')
			}
			var err error
			if dst, err = yamlToJSON(dst, e); err != nil {
				return nil, err
			}
		}
		return append(dst, ']'), nil
	}
	switch n.Tag {
	case "!!null":
		return append(dst, "null"...), nil
	case "!!bool":
		var b bool
		if err := n.Decode(&b); err != nil {
			return nil, err
		}
		return strconv.AppendBool(dst, b), nil
	case "!!int", "!!float":
		if isJSONNumber(n.Value) {
			return append(dst, n.Value...), nil
		}
		var f float64
		if err := n.Decode(&f); err != nil {
			return nil, err
		}
		if math.IsInf(f, 0) || math.IsNaN(f) {
			return nil, fmt.Errorf("line %d: %s is not a JSON number", n.Line, n.Value)
		}
		return strconv.AppendFloat(dst, f, 'g', -1, 64), nil
	}
	b, _ := json.Marshal(n.Value)
	return append(dst, b...), nil
}

func isJSONNumber(s string) bool {
	var v json.Number
	return json.Unmarshal([]byte(s), &v) == nil && !strings.ContainsAny(s, " \t\n")
}

// DefaultMaxBodySize is the default of max_body_size.
const DefaultMaxBodySize = 1 << 20

func draftOf(version string) (schema.Draft, bool) {
	switch version {
	case "", "kong":
		return 0, true
	}
	return schema.ParseDraft(version)
}

// compileSchema compiles a body or parameter schema; problems are recorded
// at field.
func compileSchema(field confnode.Node, src []byte, version string, def schema.Draft, maxDepth int) *schema.Schema {
	t := bytes.TrimSpace(src)
	if len(t) == 0 {
		field.Errorf("must not be empty")
		return nil
	}
	if t[0] == '[' {
		field.Errorf("looks like Kong's own schema format (an array of fields), which edgeguard does not read: write a JSON Schema object (version: draft4 ... draft202012)")
		return nil
	}
	d, ok := draftOf(version)
	if !ok {
		field.Errorf("unknown version %q", version)
		return nil
	}
	explicit := d != 0
	if d == 0 {
		d = def
	}
	s, err := schema.Compile(t, schema.Options{DefaultDraft: d, Formats: schema.FormatAssert, MaxDepth: maxDepth})
	if err != nil {
		field.Errorf("%v", err)
		return nil
	}
	if explicit && s.Draft() != d {
		field.Errorf("$schema says %s but version is %s", s.Draft(), d)
		return nil
	}
	return s
}
