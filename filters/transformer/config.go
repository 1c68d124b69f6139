package transformer

import (
	"strings"
	"unicode/utf8"

	"github.com/valyala/fasthttp"

	"github.com/edgeguard/edgeguard/filters"
	"github.com/edgeguard/edgeguard/filters/gatewayid"
	"github.com/edgeguard/edgeguard/filters/template"
	"github.com/edgeguard/edgeguard/proxy/config/confnode"
)

// Name is the Kong plugin name.
const Name = "request-transformer"

// Ops is one of Kong's remove/rename/add/append blocks.
type Ops struct {
	Headers     []string `yaml:"headers"`
	Querystring []string `yaml:"querystring"`
	// Body and JSONTypes are accepted so that exported Kong configs (which
	// list every field with [] defaults) load; non-empty is an error.
	Body      []string `yaml:"body"`
	JSONTypes []string `yaml:"json_types"`
}

// ReplaceOps is Kong's replace block, which also has uri.
type ReplaceOps struct {
	Ops `yaml:",inline"`
	// URI replaces the upstream path; a template.
	URI string `yaml:"uri"`
}

// Config is the plugin's `config:` (Kong's field names).
type Config struct {
	// HTTPMethod changes the upstream method (upper-case).
	HTTPMethod string     `yaml:"http_method"`
	Remove     Ops        `yaml:"remove"`
	Rename     Ops        `yaml:"rename"`
	Replace    ReplaceOps `yaml:"replace"`
	Add        Ops        `yaml:"add"`
	Append     Ops        `yaml:"append"`
	// GatewayIdentity adds a signed X-Gateway-Identity token (edgeguard only).
	GatewayIdentity *gatewayid.Config `yaml:"gateway_identity"`
}

// maxReplace bounds replace entries per kind (a bit set tracks them).
const maxReplace = 64

// forbidden are headers the transformer may not touch: framing and routing
// belong to the proxy (request smuggling, Host confusion).
var forbidden = map[string]string{
	"host":              "the upstream Host is set by the proxy (service preserve_host)",
	"content-length":    "message framing belongs to the proxy",
	"transfer-encoding": "message framing belongs to the proxy",
	"connection":        "hop-by-hop headers belong to the proxy",
	"keep-alive":        "hop-by-hop headers belong to the proxy",
	"proxy-connection":  "hop-by-hop headers belong to the proxy",
	"te":                "hop-by-hop headers belong to the proxy",
	"trailer":           "hop-by-hop headers belong to the proxy",
	"upgrade":           "hop-by-hop headers belong to the proxy",
}

func init() {
	filters.Register(&filters.Plugin{Name: Name, New: newFilter})
}

func newFilter(cfg confnode.Node, env *filters.Env) (filters.Filter, error) {
	var c Config
	var t *Transformer
	if !filters.DecodeConfig(cfg, &c, func() { t = compile(cfg, &c) }) {
		return nil, nil
	}
	t.initMetrics(env)
	return t, nil
}

// New builds a transformer from an already decoded config (for tests and
// callers outside config loading); it returns all problems as one error.
func New(c Config, env *filters.Env) (*Transformer, error) {
	errs := &confnode.Errors{}
	node := confnode.Node{File: "config", Path: "config", Errs: errs}
	t := compile(node, &c)
	if err := errs.Err(); err != nil {
		return nil, err
	}
	t.initMetrics(env)
	return t, nil
}

// entry is one parsed "name:value" item.
type entry struct {
	name  string
	value string
	node  confnode.Node
}

// compile checks c and builds the filter; problems are recorded on cfg.
func compile(cfg confnode.Node, c *Config) *Transformer {
	t := &Transformer{}

	if c.HTTPMethod != "" {
		ok := len(c.HTTPMethod) <= 32
		for i := 0; i < len(c.HTTPMethod); i++ {
			if ch := c.HTTPMethod[i]; ch < 'A' || ch > 'Z' {
				ok = false
			}
		}
		if !ok {
			cfg.FieldErrorf("http_method", "%s: must be an upper-case method such as POST, got %q", Name, c.HTTPMethod)
		} else {
			t.method = []byte(c.HTTPMethod)
		}
	}
	if c.Replace.URI != "" {
		n := cfg.Field("replace").Field("uri")
		tpl, err := template.Compile(c.Replace.URI)
		switch {
		case err != nil:
			n.Errorf("%s: %v", Name, err)
		case !strings.HasPrefix(c.Replace.URI, "/"):
			n.Errorf("%s: must start with \"/\"", Name)
		case !template.ValidValue([]byte(c.Replace.URI)):
			n.Errorf("%s: contains control characters (C0, C1, U+2028, U+2029, bidi controls) or invalid UTF-8", Name)
		case hasDotSegment([]byte(c.Replace.URI)):
			n.Errorf("%s: must not contain \".\" or \"..\" segments", Name)
		default:
			t.uri = tpl
		}
	}

	for _, blk := range []struct {
		name string
		ops  *Ops
	}{{"remove", &c.Remove}, {"rename", &c.Rename}, {"replace", &c.Replace.Ops}, {"add", &c.Add}, {"append", &c.Append}} {
		n := cfg.Field(blk.name)
		if len(blk.ops.Body) > 0 {
			n.FieldErrorf("body", "%s: body transforms are not supported by edgeguard; remove the body entries", Name)
		}
		if len(blk.ops.JSONTypes) > 0 {
			n.FieldErrorf("json_types", "%s: applies only to body transforms, which are not supported", Name)
		}
	}

	// Headers.
	owned := &ownedSet{}
	t.hdr.remove = headerNames(cfg.Field("remove").Field("headers"), c.Remove.Headers)
	t.hdr.rename = renames(cfg.Field("rename").Field("headers"), c.Rename.Headers, true)
	t.hdr.replace = valueOps(cfg.Field("replace").Field("headers"), c.Replace.Headers, true, owned)
	t.hdr.add = valueOps(cfg.Field("add").Field("headers"), c.Add.Headers, true, owned)
	t.hdr.append = valueOps(cfg.Field("append").Field("headers"), c.Append.Headers, true, owned)
	t.hdr.owned = owned.list
	t.hdr.removeNames = filters.NewHeaderNames(t.hdr.remove...)
	t.hdr.cookie = t.hdr.removeNames.Has([]byte("Cookie")) // the only op allowed on Cookie
	t.hdr.ownedNames = filters.NewHeaderNames(t.hdr.owned...)
	for _, ops := range [][]valueOp{t.hdr.replace, t.hdr.add, t.hdr.append} {
		for i := range ops {
			ops[i].key = fasthttp.AppendNormalizedHeaderKey(nil, ops[i].name)
		}
	}
	for i := range t.hdr.add {
		a := &t.hdr.add[i]
		for _, o := range t.hdr.replace {
			a.mayExist = a.mayExist || strings.EqualFold(o.name, a.name)
		}
		for _, o := range t.hdr.add[:i] {
			a.mayExist = a.mayExist || strings.EqualFold(o.name, a.name)
		}
	}
	bind := append([]string(nil), owned.list...)

	// Query string.
	qowned := &ownedSet{}
	t.qs.remove = queryNames(cfg.Field("remove").Field("querystring"), c.Remove.Querystring)
	t.qs.rename = renames(cfg.Field("rename").Field("querystring"), c.Rename.Querystring, false)
	t.qs.replace = valueOps(cfg.Field("replace").Field("querystring"), c.Replace.Querystring, false, qowned)
	t.qs.add = valueOps(cfg.Field("add").Field("querystring"), c.Add.Querystring, false, qowned)
	t.qs.append = valueOps(cfg.Field("append").Field("querystring"), c.Append.Querystring, false, qowned)
	t.qs.owned = qowned.list
	if len(t.hdr.replace) > maxReplace {
		cfg.Field("replace").FieldErrorf("headers", "%s: at most %d entries", Name, maxReplace)
	}
	if len(t.qs.replace) > maxReplace {
		cfg.Field("replace").FieldErrorf("querystring", "%s: at most %d entries", Name, maxReplace)
	}

	if c.GatewayIdentity != nil {
		n := cfg.Field("gateway_identity")
		s, err := gatewayid.New(*c.GatewayIdentity, bind)
		if err != nil {
			if fe, ok := err.(*gatewayid.FieldError); ok {
				n.FieldErrorf(fe.Field, "%s: %s", Name, fe.Msg)
			} else {
				n.Errorf("%s: %v", Name, err)
			}
		} else {
			lname := strings.ToLower(s.HeaderName())
			if msg, bad := forbidden[lname]; bad {
				n.FieldErrorf("header", "%s: %s cannot be used: %s", Name, s.HeaderName(), msg)
			}
			if owned.has[lname] {
				n.FieldErrorf("header", "%s: %s is also set by add/replace/append", Name, s.HeaderName())
			}
			t.id = s
		}
	}
	return t
}

type ownedSet struct {
	list []string
	has  map[string]bool
}

func (o *ownedSet) add(name string) {
	if o.has == nil {
		o.has = map[string]bool{}
	}
	l := strings.ToLower(name)
	if !o.has[l] {
		o.has[l] = true
		o.list = append(o.list, name)
	}
}

// checkHeaderName validates a header name of any operation.
func checkHeaderName(n confnode.Node, name string) bool {
	if !template.IsHeaderName(name) {
		n.Errorf("%s: invalid header name %q", Name, name)
		return false
	}
	if msg, bad := forbidden[strings.ToLower(name)]; bad {
		n.Errorf("%s: %s cannot be changed: %s", Name, name, msg)
		return false
	}
	return true
}

func checkQueryName(n confnode.Node, name string) bool {
	if name == "" || hasCTL(name) || !utf8.ValidString(name) {
		n.Errorf("%s: invalid query argument name %q", Name, name)
		return false
	}
	return true
}

func headerNames(n confnode.Node, list []string) []string {
	var out []string
	for i, s := range list {
		if checkHeaderName(n.Index(i), s) {
			out = append(out, s)
		}
	}
	return out
}

func queryNames(n confnode.Node, list []string) []string {
	var out []string
	for i, s := range list {
		if checkQueryName(n.Index(i), s) {
			out = append(out, s)
		}
	}
	return out
}

// split parses Kong's "name:value" (the name ends at the first colon).
func split(n confnode.Node, s, what string) (string, string, bool) {
	name, value, ok := strings.Cut(s, ":")
	if !ok {
		n.Errorf("%s: entry %q must be %q", Name, s, what)
		return "", "", false
	}
	return name, value, true
}

func renames(n confnode.Node, list []string, header bool) []rename {
	var out []rename
	for i, s := range list {
		en := n.Index(i)
		from, to, ok := split(en, s, "old:new")
		if !ok {
			continue
		}
		check := checkQueryName
		if header {
			check = checkHeaderName
			if strings.EqualFold(from, "cookie") || strings.EqualFold(to, "cookie") {
				en.Errorf("%s: the Cookie header cannot be renamed", Name)
				continue
			}
		}
		if check(en, from) && check(en, to) {
			out = append(out, rename{from: from, to: to,
				fromQ: fasthttp.AppendQuotedArg(nil, []byte(from)), toQ: fasthttp.AppendQuotedArg(nil, []byte(to))})
		}
	}
	return out
}

func valueOps(n confnode.Node, list []string, header bool, owned *ownedSet) []valueOp {
	var out []valueOp
	for i, s := range list {
		en := n.Index(i)
		name, value, ok := split(en, s, "name:value")
		if !ok {
			continue
		}
		if header {
			if !checkHeaderName(en, name) {
				continue
			}
			if strings.EqualFold(name, "cookie") {
				en.Errorf("%s: the Cookie header cannot be set by request-transformer", Name)
				continue
			}
			// Leading and trailing whitespace is not part of a field value
			// (RFC 9110 5.5); trimming keeps signed values equal to what
			// backends parse.
			value = strings.Trim(value, " \t")
		} else if !checkQueryName(en, name) {
			continue
		}
		tpl, err := template.Compile(value)
		if err != nil {
			en.Errorf("%s: %v", Name, err)
			continue
		}
		// The literal text is checked here, the variables' values per
		// request (template.AppendChecked).
		if !template.ValidValue([]byte(value)) {
			en.Errorf("%s: value of %s contains control characters (C0, C1, U+2028, U+2029, bidi controls) or invalid UTF-8", Name, name)
			continue
		}
		op := valueOp{name: name, tpl: tpl}
		if lit, ok := tpl.Literal(); ok {
			op.lit = lit
			op.isLit = true
		}
		owned.add(name)
		out = append(out, op)
	}
	return out
}

// hasCTL reports whether s contains an ASCII control character (HTAB too).
func hasCTL(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return true
		}
	}
	return false
}
