package kongimport

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/edgeguard/edgeguard/proxy"
	"github.com/edgeguard/edgeguard/proxy/config"
	"github.com/edgeguard/edgeguard/proxy/config/confnode"
)

// OutputName is the file name the generated config is checked under.
const OutputName = "edgeguard.yaml"

// Listen addresses of the generated config; the environment variables let
// the same file run on other ports (tests, no CAP_NET_BIND_SERVICE).
const (
	listenHTTP  = "${EDGEGUARD_LISTEN:-0.0.0.0:80}"
	listenHTTPS = "${EDGEGUARD_LISTEN_HTTPS:-0.0.0.0:443}"
)

// render writes the model as edgeguard YAML; it returns the plugin
// instances in the order they were written (for mapping errors back).
func (im *importer) render() ([]byte, []*plugin) {
	root := newMap()
	listen := newMap().set("http", scalarStr(listenHTTP))
	t := &im.tls
	if t.used {
		if t.https {
			listen.set("https", scalarStr(listenHTTPS))
		}
		tl := newMap()
		if len(t.certs) > 0 {
			seq := &yaml.Node{Kind: yaml.SequenceNode}
			for _, c := range t.certs {
				seq.Content = append(seq.Content, newMap().set("cert_file", scalarStr(c.cert)).set("key_file", scalarStr(c.key)).n)
			}
			tl.set("certificates", seq)
		}
		if t.minVersion != "" {
			tl.set("min_version", scalarStr(t.minVersion))
		}
		if t.ciphers != "" {
			tl.set("ciphers", scalarStr(t.ciphers))
		}
		hsts := newMap()
		if t.hstsEnabled != nil {
			hsts.set("enabled", scalarBool(*t.hstsEnabled))
		}
		if t.hstsMaxAge != nil {
			hsts.set("max_age", scalarInt(*t.hstsMaxAge))
		}
		if t.hstsSub != nil {
			hsts.set("include_subdomains", scalarBool(*t.hstsSub))
		}
		if t.hstsPreload {
			hsts.set("preload", scalarBool(true))
		}
		if len(hsts.n.Content) > 0 {
			tl.set("hsts", hsts.n)
		}
		if t.https && t.redirect {
			tl.set("redirect_http", scalarBool(true))
		}
		if t.https && t.force {
			tl.set("force_ssl_redirect", scalarBool(true))
		}
		if len(t.acmeHosts) > 0 {
			acme := newMap().set("hosts", flowStrs(t.acmeHosts))
			if t.directoryURL != "" {
				acme.set("directory_url", scalarStr(t.directoryURL))
			}
			if t.renewBefore > 0 {
				acme.set("renew_before", scalarStr(t.renewBefore.String()))
			}
			tl.set("acme", acme.n)
		}
		if len(tl.n.Content) > 0 {
			listen.set("tls", tl.n)
		}
	}
	root.set("listen", listen.n)
	if im.kongCompat {
		root.set("metrics", newMap().set("kong_compat", scalarBool(true)).n)
	}
	if len(im.consumers) > 0 {
		seq := &yaml.Node{Kind: yaml.SequenceNode}
		seq.Content = append(seq.Content, im.consumers...)
		root.set("consumers", seq)
	}
	svcs := &yaml.Node{Kind: yaml.SequenceNode}
	for _, s := range im.services {
		if s.placeholder && !im.serviceUsed(s.name) {
			continue // its only route was not imported (reported)
		}
		m := newMap().set("name", scalarStr(s.name)).set("targets", flowStrs([]string{s.target}))
		for _, d := range []struct {
			k string
			v time.Duration
		}{{"connect_timeout", s.connect}, {"read_timeout", s.read}, {"write_timeout", s.write}} {
			if d.v > 0 {
				m.set(d.k, scalarStr(d.v.String()))
			}
		}
		if s.retries != nil {
			m.set("retries", scalarInt(*s.retries))
		}
		m.n.Style = yaml.FlowStyle
		svcs.Content = append(svcs.Content, m.n)
	}
	root.set("services", svcs)
	live := map[string]bool{}
	var plugins []*plugin
	for _, p := range im.plugins {
		if p.config != nil {
			live[p.name] = true
			plugins = append(plugins, p)
		}
	}
	routes := &yaml.Node{Kind: yaml.SequenceNode}
	for _, r := range im.routes {
		m := newMap().set("name", scalarStr(r.name))
		if len(r.hosts) > 0 {
			m.set("hosts", flowStrs(r.hosts))
		}
		m.set("paths", flowStrs(r.paths))
		if len(r.methods) > 0 {
			m.set("methods", flowStrs(r.methods))
		}
		m.set("service", scalarStr(r.service))
		var refs []string
		for _, p := range r.plugins {
			if live[p] {
				refs = append(refs, p)
			}
		}
		if len(refs) > 0 {
			m.set("plugins", flowStrs(refs))
		}
		if r.stripPath {
			m.set("strip_path", scalarBool(true))
		}
		if r.preserveHost {
			m.set("preserve_host", scalarBool(true))
		}
		m.n.Style = yaml.FlowStyle
		routes.Content = append(routes.Content, m.n)
	}
	root.set("routes", routes)
	pl := &yaml.Node{Kind: yaml.SequenceNode}
	for _, p := range plugins {
		cfg := p.config
		pl.Content = append(pl.Content, newMap().set("name", scalarStr(p.name)).set("plugin", scalarStr(p.kind)).set("config", cfg).n)
	}
	if len(pl.Content) > 0 {
		root.set("plugins", pl)
	}
	var global []string
	for _, g := range im.global {
		if live[g] {
			global = append(global, g)
		}
	}
	if len(global) > 0 {
		root.set("global_plugins", flowStrs(global))
	}
	var b bytes.Buffer
	b.WriteString(header)
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(root.n); err != nil {
		// The tree is built from parsed nodes and scalars; an encoder
		// failure is a bug, but never a crash for the user.
		fmt.Fprintf(&b, "# cannot encode: %v\n", err)
	}
	enc.Close()
	return b.Bytes(), plugins
}

const header = `# Generated by "edgeguard import kong". Check it with: edgeguard validate -c FILE
`

var (
	rePluginField = regexp.MustCompile(`^plugins\[(\d+)\]\.config\.([^.\[]+)`)
	rePluginKind  = regexp.MustCompile(`^plugins\[(\d+)\]\.plugin$`)
	rePluginAny   = regexp.MustCompile(`^plugins\[(\d+)\]`)
	reRoute       = regexp.MustCompile(`^routes\[(\d+)\]`)
	reService     = regexp.MustCompile(`^services\[(\d+)\]`)
)

// finish renders the config and checks it with edgeguard's own loader and
// plugin compiler. A plugin config field edgeguard rejects is removed and
// reported, and the check repeated; what cannot be fixed is reported.
func (im *importer) finish() []byte {
	for pass := 0; ; pass++ {
		out, plugins := im.render()
		errs := Validate(out)
		if len(errs) == 0 {
			return out
		}
		fixed := false
		last := pass >= 5
		for _, e := range errs {
			if m := rePluginField.FindStringSubmatch(e.Path); m != nil && !last {
				i, _ := strconv.Atoi(m[1])
				if i < len(plugins) {
					p := plugins[i]
					kn := lookupKey(p.config, m[2])
					if removeKey(p.config, m[2]) {
						msg := strings.TrimPrefix(e.Msg, p.kind+": ")
						if sub := strings.TrimPrefix(e.Path, m[0]); sub != "" {
							msg = "config." + m[2] + sub + ": " + msg
						}
						im.r.untr(p.cfgSrc.with(kn), "config."+m[2], "edgeguard's %s plugin refuses it: %s; removed", p.kind, msg)
						fixed = true
						continue
					}
				}
			}
			if m := rePluginKind.FindStringSubmatch(e.Path); m != nil && !last {
				i, _ := strconv.Atoi(m[1])
				if i < len(plugins) && plugins[i].config != nil {
					p := plugins[i]
					p.config = nil
					im.r.untr(p.src, "", "plugin %s is not available in this edgeguard build (%s); instance %q and its uses removed", p.kind, e.Msg, p.name)
					fixed = true
					continue
				}
			}
		}
		if fixed {
			continue
		}
		for _, e := range errs {
			im.r.untr(im.placeOf(e, plugins), e.Path, "edgeguard rejects the generated config: %s", e.Msg)
		}
		return out
	}
}

// placeOf maps a validation error of the output back to the input.
func (im *importer) placeOf(e *confnode.Error, plugins []*plugin) src {
	if m := rePluginAny.FindStringSubmatch(e.Path); m != nil {
		if i, _ := strconv.Atoi(m[1]); i < len(plugins) {
			return plugins[i].cfgSrc
		}
	}
	if m := reRoute.FindStringSubmatch(e.Path); m != nil {
		if i, _ := strconv.Atoi(m[1]); i < len(im.routes) {
			return im.routes[i].src
		}
	}
	if m := reService.FindStringSubmatch(e.Path); m != nil {
		i, _ := strconv.Atoi(m[1])
		for _, s := range im.services {
			if s.placeholder && !im.serviceUsed(s.name) {
				continue
			}
			if i == 0 {
				return s.src
			}
			i--
		}
	}
	return src{file: "(generated) " + OutputName, line: e.Line, col: e.Col}
}

// Validate runs cfg through config.Parse and proxy.Check, as `edgeguard
// validate` does, and returns every problem (nil when it is valid). The
// plugins must be linked into the program (filters/all).
func Validate(cfg []byte) []*confnode.Error {
	err := proxy.Check(func() (*config.Config, *confnode.Errors) { return config.Parse(OutputName, cfg) })
	if err == nil {
		return nil
	}
	var es *confnode.Errors
	if errors.As(err, &es) && len(es.List) > 0 {
		return es.List
	}
	return []*confnode.Error{{File: OutputName, Msg: err.Error()}}
}
