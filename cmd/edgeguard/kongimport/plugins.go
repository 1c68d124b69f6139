package kongimport

import (
	"reflect"
	"regexp"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/edgeguard/edgeguard/filters/botdetect"
	"github.com/edgeguard/edgeguard/filters/httplog"
	"github.com/edgeguard/edgeguard/filters/iprestrict"
	"github.com/edgeguard/edgeguard/filters/jwt"
	"github.com/edgeguard/edgeguard/filters/ratelimit"
	"github.com/edgeguard/edgeguard/filters/sizelimit"
	"github.com/edgeguard/edgeguard/filters/transformer"
	"github.com/edgeguard/edgeguard/filters/validator"
)

// kind describes a Kong plugin edgeguard implements under the same name.
type kind struct {
	name   string
	fields map[string]bool // top-level config keys edgeguard accepts
	hints  []string        // words in a KongPlugin name that suggest it
}

// kinds are the Kong plugins edgeguard has, with the config fields of
// their edgeguard Config structs (read by reflection, so they cannot drift).
var kinds = []*kind{
	{name: "jwt", fields: yamlFields(jwt.Config{}), hints: []string{"jwt"}},
	{name: "rate-limiting", fields: yamlFields(ratelimit.Config{}), hints: []string{"rate-limit", "ratelimit", "rate"}},
	{name: "request-transformer", fields: yamlFields(transformer.Config{}), hints: []string{"transformer", "identity"}},
	{name: "request-validator", fields: yamlFields(validator.Config{}), hints: []string{"validator", "validation", "validate"}},
	{name: "request-size-limiting", fields: yamlFields(sizelimit.Config{}), hints: []string{"size"}},
	{name: "ip-restriction", fields: yamlFields(iprestrict.Config{}), hints: []string{"ip-restriction", "ip"}},
	{name: "bot-detection", fields: yamlFields(botdetect.Config{}), hints: []string{"bot"}},
	{name: "http-log", fields: yamlFields(httplog.Config{}), hints: []string{"http-log", "log"}},
}

func kindByName(name string) *kind {
	for _, k := range kinds {
		if k.name == name {
			return k
		}
	}
	return nil
}

// yamlFields returns the yaml keys of a struct, following inline fields.
func yamlFields(v any) map[string]bool {
	out := map[string]bool{}
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			tag := f.Tag.Get("yaml")
			name, opts, _ := strings.Cut(tag, ",")
			if name == "-" {
				continue
			}
			if strings.Contains(opts, "inline") {
				ft := f.Type
				if ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				walk(ft)
				continue
			}
			if !f.IsExported() {
				continue
			}
			if name == "" {
				name = strings.ToLower(f.Name)
			}
			out[name] = true
		}
	}
	walk(reflect.TypeOf(v))
	return out
}

// notInEdgeguard are Kong plugins users often have, with what to do instead.
var notInEdgeguard = map[string]string{
	"prometheus":           "edgeguard always serves Prometheus metrics on the admin API's /metrics; set metrics.kong_compat: true for Kong's metric names",
	"key-auth":             "edgeguard has no key-auth; use jwt",
	"basic-auth":           "edgeguard has no basic-auth; use jwt",
	"acl":                  "edgeguard has no acl plugin; use separate routes with their own jwt/ip-restriction instances",
	"cors":                 "edgeguard has no cors plugin yet",
	"correlation-id":       "edgeguard always sets X-Request-ID",
	"response-transformer": "edgeguard has no response-transformer",
	"file-log":             "edgeguard writes a JSON access log (access_log.path)",
	"openid-connect":       "use the jwt plugin's issuers (JWKS) instead",
}

// inferKind picks the plugin a KongPlugin without `plugin:` means: the
// edgeguard plugins whose fields cover every config key, narrowed by the
// words of its name. It returns nil when that is not one plugin.
func inferKind(name string, config *yaml.Node) *kind {
	var keys []string
	if config != nil && config.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(config.Content); i += 2 {
			keys = append(keys, config.Content[i].Value)
		}
	}
	var cands []*kind
	for _, k := range kinds {
		ok := true
		for _, key := range keys {
			if !k.fields[key] {
				ok = false
				break
			}
		}
		if ok {
			cands = append(cands, k)
		}
	}
	lname := strings.ToLower(name)
	var named []*kind
	for _, k := range cands {
		for _, h := range k.hints {
			if strings.Contains(lname, h) {
				named = append(named, k)
				break
			}
		}
	}
	if len(named) > 1 {
		// Prefer the longest hint that matched ("ip-restriction" over "ip").
		sort.SliceStable(named, func(a, b int) bool { return bestHint(named[a], lname) > bestHint(named[b], lname) })
		if bestHint(named[0], lname) == bestHint(named[1], lname) {
			return nil
		}
		return named[0]
	}
	if len(named) == 1 {
		return named[0]
	}
	if len(cands) == 1 && len(keys) > 0 {
		return cands[0]
	}
	return nil
}

func bestHint(k *kind, lname string) int {
	best := 0
	for _, h := range k.hints {
		if strings.Contains(lname, h) && len(h) > best {
			best = len(h)
		}
	}
	return best
}

// luaHeader matches the one Lua idiom with an exact template equivalent:
// a request header read in the log phase.
var luaHeader = regexp.MustCompile(`^\s*return\s+kong\.request\.get_header\(\s*["']([A-Za-z0-9-]+)["']\s*\)\s*$`)

// luaSimple maps other one-line Lua getters to templates.
var luaSimple = map[string]string{
	"return kong.client.get_ip()":                    "$(client_ip)",
	"return kong.client.get_forwarded_ip()":          "$(client_ip)",
	"return kong.request.get_header('x-request-id')": "$(request_id)",
}

// translateLua turns a custom_fields_by_lua value into a template, when
// the Lua is a plain getter with an equivalent.
func translateLua(code string) (string, bool) {
	if m := luaHeader.FindStringSubmatch(code); m != nil {
		return "$(header." + m[1] + ")", true
	}
	if t, ok := luaSimple[strings.TrimSpace(code)]; ok {
		return t, true
	}
	return "", false
}

// fixConfig adapts a copied Kong config block to edgeguard: fields
// edgeguard does not know are removed and reported; Lua custom fields are
// translated when they are plain getters. cfgSrc points at the config.
func fixConfig(r *report, k *kind, cfg *yaml.Node, s src) {
	if cfg == nil || cfg.Kind != yaml.MappingNode {
		return
	}
	for i := 0; i+1 < len(cfg.Content); {
		key, val := cfg.Content[i], cfg.Content[i+1]
		switch {
		case key.Value == "custom_fields_by_lua" && k.name == "http-log":
			out := newMap()
			vm := resolve(val)
			if vm != nil && vm.Kind == yaml.MappingNode {
				for j := 0; j+1 < len(vm.Content); j += 2 {
					fk, fv := vm.Content[j], resolve(vm.Content[j+1])
					if t, ok := translateLua(str(fv)); ok {
						out.set(fk.Value, scalarStr(t))
						r.note(s.with(fk), "config.custom_fields_by_lua."+fk.Value, "Lua %q translated to custom_fields template %q", str(fv), t)
					} else {
						r.untr(s.with(fk), "config.custom_fields_by_lua."+fk.Value,
							"edgeguard runs no Lua; rewrite it as a custom_fields template (variables: jwt.<claim>, consumer.username, client_ip, request_id, header.<name>, query.<name>, route.name, service.name)")
					}
				}
			}
			cfg.Content = append(cfg.Content[:i], cfg.Content[i+2:]...)
			if len(out.n.Content) > 0 {
				if cf := lookup(cfg, "custom_fields"); cf != nil && cf.Kind == yaml.MappingNode {
					cf.Content = append(cf.Content, out.n.Content...)
				} else {
					cfg.Content = append(cfg.Content, scalarStr("custom_fields"), out.n)
				}
			}
			continue
		case !k.fields[key.Value]:
			r.untr(s.with(key), "config."+key.Value, "edgeguard's %s plugin has no field %q; removed", k.name, key.Value)
			cfg.Content = append(cfg.Content[:i], cfg.Content[i+2:]...)
			continue
		}
		i += 2
	}
}
