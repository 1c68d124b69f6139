package schema

import "strings"

// Draft is a JSON Schema dialect.
type Draft uint8

// The supported drafts. The zero Draft means "not set".
const (
	Draft4 Draft = iota + 1
	Draft6
	Draft7
	Draft2019
	Draft2020
)

// DefaultDraft is the dialect of a schema without $schema when
// Options.DefaultDraft is not set: 2020-12, the current draft (the one the
// official test suite in shared/testdata exercises and the reference
// implementation's default). Old-style schemas keep working when they say
// so with $schema (or the plugin's `version:`); a draft-4 tuple
// `"items": [...]` is rejected at load under 2020-12 rather than silently
// meaning something else.
const DefaultDraft = Draft2020

func (d Draft) String() string {
	switch d {
	case Draft4:
		return "draft4"
	case Draft6:
		return "draft6"
	case Draft7:
		return "draft7"
	case Draft2019:
		return "draft2019-09"
	case Draft2020:
		return "draft2020-12"
	}
	return "draft?"
}

// DraftFromSchemaURI maps a $schema value to a Draft.
func DraftFromSchemaURI(uri string) (Draft, bool) {
	u := strings.TrimSuffix(uri, "#")
	u = strings.TrimPrefix(strings.TrimPrefix(u, "https://"), "http://")
	switch u {
	case "json-schema.org/draft-04/schema":
		return Draft4, true
	case "json-schema.org/draft-06/schema":
		return Draft6, true
	case "json-schema.org/draft-07/schema":
		return Draft7, true
	case "json-schema.org/draft/2019-09/schema":
		return Draft2019, true
	case "json-schema.org/draft/2020-12/schema":
		return Draft2020, true
	}
	return 0, false
}

// ParseDraft maps a version name (the plugin's `version:` values draft4,
// draft6, draft7, draft201909, draft202012, and the forms 2019-09, 2020-12)
// to a Draft.
func ParseDraft(s string) (Draft, bool) {
	switch strings.ToLower(strings.ReplaceAll(s, "-", "")) {
	case "draft4", "4":
		return Draft4, true
	case "draft6", "6":
		return Draft6, true
	case "draft7", "7":
		return Draft7, true
	case "draft201909", "201909":
		return Draft2019, true
	case "draft202012", "202012":
		return Draft2020, true
	}
	return 0, false
}

// keyword classes
const (
	kwUnknown  = iota // not a keyword of the draft: ignored (annotation), reported as a warning
	kwFast            // compiled on the fast path
	kwAnnot           // a keyword without validation effect (title, $comment, ...)
	kwFallback        // a keyword of the draft the fast path does not compile
)

func classify(d Draft, kw string) int {
	switch kw {
	case "$ref", "type", "enum", "multipleOf", "maximum", "exclusiveMaximum", "minimum",
		"exclusiveMinimum", "maxLength", "minLength", "pattern", "items", "maxItems", "minItems",
		"uniqueItems", "maxProperties", "minProperties", "required", "properties",
		"patternProperties", "additionalProperties", "dependencies", "allOf", "anyOf", "oneOf",
		"not", "format":
		// dependencies is applied in every draft, as the reference
		// implementation does (2019-09 split it into dependentRequired and
		// dependentSchemas).
		return kwFast
	case "$schema", "definitions", "title", "description", "default":
		return kwAnnot
	case "additionalItems":
		if d <= Draft2019 {
			return kwFast
		}
	case "id":
		if d == Draft4 {
			return kwAnnot // handled by the compiler (root only)
		}
	case "$id", "examples":
		if d >= Draft6 {
			return kwAnnot
		}
	case "const", "contains", "propertyNames":
		if d >= Draft6 {
			return kwFast
		}
	case "if", "then", "else":
		if d >= Draft7 {
			return kwFast
		}
	case "$comment", "readOnly", "writeOnly", "contentMediaType", "contentEncoding":
		if d >= Draft7 {
			return kwAnnot
		}
	case "$defs", "$anchor", "$recursiveAnchor", "$vocabulary", "deprecated", "contentSchema":
		if d >= Draft2019 {
			return kwAnnot
		}
	case "dependentRequired", "dependentSchemas", "minContains", "maxContains":
		if d >= Draft2019 {
			return kwFast
		}
	case "$recursiveRef", "unevaluatedItems", "unevaluatedProperties":
		if d >= Draft2019 {
			return kwFallback
		}
	case "prefixItems":
		if d >= Draft2020 {
			return kwFast
		}
	case "$dynamicAnchor":
		if d >= Draft2020 {
			return kwAnnot
		}
	case "$dynamicRef":
		if d >= Draft2020 {
			return kwFallback
		}
	}
	return kwUnknown
}

// FastKeywords lists the keywords the fast path compiles (in some draft).
var FastKeywords = []string{
	"type", "enum", "const", "multipleOf", "maximum", "exclusiveMaximum", "minimum",
	"exclusiveMinimum", "maxLength", "minLength", "pattern", "format", "items", "prefixItems",
	"additionalItems", "maxItems", "minItems", "uniqueItems", "contains", "minContains",
	"maxContains", "maxProperties", "minProperties", "required", "properties",
	"patternProperties", "additionalProperties", "propertyNames", "dependentRequired",
	"dependentSchemas", "dependencies", "allOf", "anyOf", "oneOf", "not", "if", "then", "else",
	"$ref", "$defs", "definitions",
}

// FastFormats are the formats asserted on the fast path. Other formats the
// reference implementation knows send the schema to the fallback when
// formats are asserted.
var FastFormats = []string{"email", "uri", "uuid", "date-time", "date", "time", "ipv4", "ipv6", "hostname",
	"idn-hostname", "idn-email", "duration", "iri", "uri-reference", "iri-reference", "uri-template"}

// fallbackFormats are formats the fallback asserts and the fast path does not.
var fallbackFormats = map[string]bool{
	"json-pointer": true, "relative-json-pointer": true, "period": true, "semver": true, "regex": true,
}
