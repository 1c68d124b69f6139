package kongimport

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// kongPluginRef is a plugin of a kong.yml, before scopes are resolved.
type kongPluginRef struct {
	inst    *plugin
	service string // scope; "" = none
	route   string
}

// kongYML translates a declarative kong.yml.
func (im *importer) kongYML(o object) {
	s := at(o.file, "kong.yml", o.doc)
	f := newFields(&im.r, s, "", o.doc)
	if v := str(f.get("_format_version")); v != "3.0" && v != "2.1" && v != "1.1" {
		im.r.note(s, "_format_version", "format %q: read as 3.0", v)
	}
	f.ignore("_transform", "_workspace", "_info", "_comment")
	var refs []kongPluginRef
	routeSvc := map[string]string{} // route name → service name, for route-scoped plugins
	type pendingRoute struct {
		n       *yaml.Node
		s       src
		field   string
		service string
	}
	var pend []pendingRoute

	for i, sn := range items(f.get("services")) {
		field := fmt.Sprintf("services[%d]", i)
		ss := at(o.file, "kong.yml "+field, sn)
		sf := newFields(&im.r, ss, "", sn)
		name := str(sf.get("name"))
		if name == "" {
			name = fmt.Sprintf("service-%d", i+1)
			im.r.note(ss, "name", "service without a name: named %q", name)
		}
		sv := &service{name: name, src: ss}
		im.kongServiceTarget(sf, sv)
		for _, t := range []struct {
			key string
			dst *time.Duration
		}{{"connect_timeout", &sv.connect}, {"read_timeout", &sv.read}, {"write_timeout", &sv.write}} {
			if n := sf.get(t.key); n != nil {
				ms, ok := floatOf(n)
				if !ok || ms <= 0 {
					im.r.untr(ss.with(n), t.key, "want milliseconds, got %q", str(n))
					continue
				}
				*t.dst = time.Duration(ms * float64(time.Millisecond))
			}
		}
		if n := sf.get("retries"); n != nil {
			v, ok := intOf(n)
			switch {
			case !ok || v < 0:
				im.r.untr(ss.with(n), "retries", "want a number, got %q", str(n))
			case v > 10:
				ten := int64(10)
				sv.retries = &ten
				im.r.note(ss.with(n), "retries", "%d connection retries lowered to edgeguard's maximum of 10 (retries happen only when no connection could be made)", v)
			default:
				sv.retries = &v
			}
		}
		sf.ignore("id", "tags", "created_at", "updated_at", "enabled")
		if e, ok := boolOf(lookup(sn, "enabled")); ok && !e {
			im.r.untr(ss, "enabled", "a disabled service: its routes are imported and enabled")
		}
		for _, k := range []string{"tls_verify", "tls_verify_depth", "ca_certificates", "client_certificate"} {
			if n := sf.get(k); n != nil {
				im.r.untr(ss.with(sf.keyNode(k)), k, "upstream TLS settings are not imported (edgeguard always verifies https targets against the system roots)")
			}
		}
		im.addService(sv)
		for j, rn := range items(sf.get("routes")) {
			pend = append(pend, pendingRoute{rn, at(o.file, fmt.Sprintf("kong.yml %s.routes[%d]", field, j), rn), field, name})
		}
		for j, pn := range items(sf.get("plugins")) {
			if p := im.kongPlugin3(at(o.file, fmt.Sprintf("kong.yml %s.plugins[%d]", field, j), pn), pn, name); p != nil {
				refs = append(refs, kongPluginRef{inst: p, service: name})
			}
		}
		sf.rest("service field with no edgeguard equivalent")
	}
	for j, rn := range items(f.get("routes")) {
		rs := at(o.file, fmt.Sprintf("kong.yml routes[%d]", j), rn)
		svc := lookup(rn, "service")
		name := str(svc)
		if svc != nil && svc.Kind == yaml.MappingNode {
			name = str(lookup(svc, "name"))
			if name == "" {
				name = str(lookup(svc, "id"))
			}
		}
		pend = append(pend, pendingRoute{rn, rs, "routes", name})
	}

	// Top-level plugins: global, or scoped by service/route/consumer name.
	for j, pn := range items(f.get("plugins")) {
		ps := at(o.file, fmt.Sprintf("kong.yml plugins[%d]", j), pn)
		ref := kongPluginRef{}
		scope := func(key string) string {
			n := lookup(pn, key)
			if n != nil && n.Kind == yaml.MappingNode {
				if v := str(lookup(n, "name")); v != "" {
					return v
				}
				return str(lookup(n, "id"))
			}
			return str(n)
		}
		ref.service, ref.route = scope("service"), scope("route")
		if c := scope("consumer"); c != "" {
			im.r.untr(ps, "consumer", "consumer-scoped plugins have no edgeguard equivalent (plugins apply to routes); skipped")
			continue
		}
		if c := scope("consumer_group"); c != "" {
			im.r.untr(ps, "consumer_group", "consumer groups have no edgeguard equivalent; skipped")
			continue
		}
		p := im.kongPlugin3(ps, pn, firstNonEmpty(ref.route, ref.service))
		if p == nil {
			continue
		}
		ref.inst = p
		refs = append(refs, ref)
	}

	for _, cn := range items(f.get("consumers")) {
		im.kongConsumer(o.file, cn)
	}
	for _, k := range []string{"upstreams", "certificates", "ca_certificates", "snis", "vaults", "consumer_groups", "keys", "key_sets"} {
		if n := f.get(k); n != nil {
			why := "no edgeguard equivalent"
			switch k {
			case "upstreams":
				why = "Kong upstreams are not imported: list the targets in the service (--target name=host:port)"
			case "certificates", "snis":
				why = "certificates are not imported: give edgeguard PEM files in listen.tls.certificates (or use listen.tls.acme)"
			case "vaults":
				why = "vaults are not imported: edgeguard reads secrets from ${ENV} and *_file fields"
			}
			im.r.untr(s.with(f.keyNode(k)), k, "%s", why)
		}
	}
	f.rest("kong.yml section with no edgeguard equivalent")

	// Routes, with their own plugins, then scoped plugins attached.
	type built struct {
		r       *route
		service string
		own     []*plugin
	}
	var routes []built
	for _, pr := range pend {
		rf := newFields(&im.r, pr.s, "", pr.n)
		r := &route{name: str(rf.get("name")), service: pr.service, stripPath: true, src: pr.s}
		rf.get("service")
		if r.name == "" {
			r.name = fmt.Sprintf("%s-route-%d", pr.service, len(routes)+1)
			im.r.note(pr.s, "name", "route without a name: named %q", r.name)
		}
		if im.svcByName[pr.service] == nil {
			im.r.untr(pr.s, "service", "no service %q in the input; route skipped", pr.service)
			continue
		}
		r.hosts = strList(rf.get("hosts"))
		r.methods = strList(rf.get("methods"))
		for _, p := range strList(rf.get("paths")) {
			if strings.HasPrefix(p, "~") {
				im.r.untr(pr.s.with(rf.keyNode("paths")), "paths", "regular-expression path %q has no edgeguard equivalent (routes match prefixes); skipped", p)
				continue
			}
			r.paths = append(r.paths, p)
		}
		if len(r.paths) == 0 && lookup(pr.n, "paths") != nil {
			im.r.untr(pr.s, "paths", "no prefix path left; route skipped")
			continue
		}
		if b, ok := boolOf(rf.get("strip_path")); ok {
			r.stripPath = b
		}
		if b, ok := boolOf(rf.get("preserve_host")); ok {
			r.preserveHost = b
		}
		if pn := rf.get("protocols"); pn != nil {
			ps := strList(pn)
			if len(ps) == 1 && ps[0] == "https" {
				im.tls.used = true
				im.tls.redirect = true
				im.r.note(pr.s.with(rf.keyNode("protocols")), "protocols", "https only: edgeguard redirects HTTP to HTTPS for hosts with a certificate (listen.tls.redirect_http)")
			} else {
				for _, p := range ps {
					if p != "http" && p != "https" {
						im.r.untr(pr.s.with(rf.keyNode("protocols")), "protocols", "protocol %q has no edgeguard equivalent", p)
					}
				}
			}
		}
		rf.ignore("id", "tags", "created_at", "updated_at", "regex_priority", "path_handling", "request_buffering", "response_buffering", "https_redirect_status_code")
		var own []*plugin
		for j, pn := range items(rf.get("plugins")) {
			if p := im.kongPlugin3(pr.s.with(pn), pn, r.name); p != nil {
				_ = j
				own = append(own, p)
			}
		}
		rf.rest("route field with no edgeguard equivalent (headers, snis, sources, destinations are not matched by edgeguard)")
		routeSvc[r.name] = pr.service
		routes = append(routes, built{r, pr.service, own})
	}
	for _, ref := range refs {
		if ref.service == "" && ref.route == "" {
			ref.inst.global = true
			im.global = append(im.global, ref.inst.name)
		}
	}
	for _, b := range routes {
		var names []string
		kinds := map[string]bool{}
		add := func(p *plugin) {
			if kinds[p.kind] {
				return // route > service precedence, as in Kong
			}
			kinds[p.kind] = true
			names = append(names, p.name)
		}
		for _, p := range b.own {
			add(p)
		}
		for _, ref := range refs {
			if ref.route != "" && ref.route == b.r.name && (ref.service == "" || ref.service == b.service) {
				add(ref.inst)
			}
		}
		for _, ref := range refs {
			if ref.route == "" && ref.service != "" && ref.service == b.service {
				add(ref.inst)
			}
		}
		b.r.plugins = im.refPlugins(b.r.src, "plugins", names)
		im.addRoute(b.r)
	}
	for _, ref := range refs {
		if ref.route != "" && routeSvc[ref.route] == "" {
			im.r.untr(ref.inst.src, "route", "no route %q in the input; the plugin applies to no route", ref.route)
		} else if ref.route == "" && ref.service != "" && im.svcByName[ref.service] == nil {
			im.r.untr(ref.inst.src, "service", "no service %q in the input; the plugin applies to no route", ref.service)
		}
	}
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// kongServiceTarget reads url or protocol/host/port/path.
func (im *importer) kongServiceTarget(sf *fields, sv *service) {
	proto, host, port, path := "http", "", "", ""
	if u := str(sf.get("url")); u != "" {
		pu, err := url.Parse(u)
		if err != nil || pu.Host == "" {
			im.r.untr(sv.src.with(sf.keyNode("url")), "url", "cannot parse URL %q", u)
		} else {
			proto, host, port, path = pu.Scheme, pu.Hostname(), pu.Port(), pu.Path
		}
	}
	if v := str(sf.get("protocol")); v != "" {
		proto = v
	}
	if v := str(sf.get("host")); v != "" {
		host = v
	}
	if v := str(sf.get("port")); v != "" {
		port = v
	}
	if v := str(sf.get("path")); v != "" {
		path = v
	}
	switch proto {
	case "http", "https":
	default:
		im.r.untr(sv.src, "protocol", "protocol %q has no edgeguard equivalent (http and https only); http assumed", proto)
		proto = "http"
	}
	if port == "" {
		port = "80"
		if proto == "https" {
			port = "443"
		}
	}
	if path != "" && path != "/" {
		im.r.untr(sv.src, "path", "upstream path %q is not prepended by edgeguard (requests keep their path; use strip_path on routes)", path)
	}
	if host == "" {
		im.r.untr(sv.src, "host", "no upstream host; set it with --target %s=host:port", sv.name)
		host = sv.name
	}
	sv.target = host + ":" + port
	if proto == "https" {
		sv.target = "https://" + sv.target
	}
}

// kongPlugin3 translates one kong.yml plugin entry into an instance named
// instance_name, or the plugin name, prefixed by its scope when needed.
func (im *importer) kongPlugin3(s src, n *yaml.Node, scope string) *plugin {
	f := newFields(&im.r, s, "", n)
	name := str(f.get("name"))
	f.ignore("id", "tags", "created_at", "updated_at", "service", "route", "consumer", "consumer_group")
	if e, ok := boolOf(f.get("enabled")); ok && !e {
		im.r.note(s, "enabled", "the plugin is disabled; not imported")
		return nil
	}
	for _, k := range []string{"protocols", "ordering"} {
		if v := f.get(k); v != nil {
			if k == "protocols" && len(strList(v)) > 0 {
				ok := true
				for _, p := range strList(v) {
					if p != "http" && p != "https" && p != "grpc" && p != "grpcs" {
						ok = false
					}
				}
				if ok {
					continue
				}
			}
			im.r.untr(s.with(f.keyNode(k)), k, "no edgeguard equivalent")
		}
	}
	inst := str(f.get("instance_name"))
	cfg := f.get("config")
	cfgSrc := s.with(f.keyNode("config"))
	k := kindByName(name)
	if k == nil {
		if why, ok := notInEdgeguard[name]; ok {
			if name == "prometheus" {
				im.kongCompat = true
				im.r.note(s, "name", "translated to metrics.kong_compat: true (edgeguard always serves Prometheus metrics on the admin API's /metrics; its config is not needed)")
			} else {
				im.r.untr(s, "name", "plugin %s: %s", name, why)
			}
		} else {
			im.r.untr(s, "name", "edgeguard has no %q plugin", name)
		}
		return nil
	}
	f.rest("plugin field with no edgeguard equivalent")
	c := deepCopy(cfg)
	if isNull(cfg) {
		c = &yaml.Node{Kind: yaml.MappingNode}
	}
	fixConfig(&im.r, k, c, cfgSrc)
	if inst == "" {
		inst = name
		if scope != "" {
			inst = scope + "-" + name
		}
	}
	return im.addPlugin(&plugin{name: inst, kind: k.name, config: c, src: s, cfgSrc: cfgSrc})
}

// kongConsumer copies a consumer with its jwt_secrets.
func (im *importer) kongConsumer(file string, n *yaml.Node) {
	s := at(file, "kong.yml consumer", n)
	f := newFields(&im.r, s, "", n)
	user := str(f.get("username"))
	cid := str(f.get("custom_id"))
	s.object = "kong.yml consumer " + firstNonEmpty(user, cid)
	f.ignore("id", "tags", "created_at", "updated_at")
	out := newMap()
	if user == "" {
		if cid == "" {
			im.r.untr(s, "username", "a consumer needs a username or custom_id; skipped")
			return
		}
		user = cid
		im.r.note(s, "username", "no username: custom_id %q used as the username", cid)
	}
	out.set("username", scalarStr(user))
	if cid != "" {
		out.set("custom_id", scalarStr(cid))
	}
	if js := f.get("jwt_secrets"); js != nil {
		seq := &yaml.Node{Kind: yaml.SequenceNode}
		for i, c := range items(js) {
			cs := s.with(c)
			cf := newFields(&im.r, cs, fmt.Sprintf("jwt_secrets[%d].", i), c)
			cf.ignore("id", "tags", "created_at", "consumer")
			m := newMap()
			for _, k := range []string{"key", "algorithm", "secret", "rsa_public_key"} {
				if v := cf.get(k); v != nil && str(v) != "" {
					val := scalarStr(str(v))
					if strings.Contains(str(v), "\n") {
						val.Style = yaml.LiteralStyle
					}
					m.set(k, val)
				}
			}
			if str(lookup(c, "secret")) != "" && !strings.HasPrefix(str(lookup(c, "secret")), "${") {
				im.r.note(cs, fmt.Sprintf("jwt_secrets[%d].secret", i), "the secret is copied inline; consider ${ENV} or secret_file")
			}
			cf.rest("no edgeguard equivalent")
			seq.Content = append(seq.Content, m.n)
		}
		out.set("jwt_secrets", seq)
	}
	for _, k := range []string{"keyauth_credentials", "basicauth_credentials", "hmacauth_credentials", "oauth2_credentials", "acls", "plugins", "groups", "mtls_auth_credentials"} {
		if v := f.get(k); v != nil {
			im.r.untr(s.with(f.keyNode(k)), k, "no edgeguard equivalent (consumers authenticate with jwt_secrets)")
		}
	}
	f.rest("consumer field with no edgeguard equivalent")
	im.consumers = append(im.consumers, out.n)
}
