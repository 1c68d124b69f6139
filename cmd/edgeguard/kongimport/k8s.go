package kongimport

import (
	"fmt"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/edgeguard/edgeguard/tlsconf"
)

// metadata handles the metadata block of a Kubernetes object; it returns
// the labels.
func (im *importer) metadata(f *fields) map[string]string {
	md := newFields(&im.r, f.s, "metadata.", f.get("metadata"))
	md.ignore("name", "namespace", "uid", "resourceVersion", "generation", "creationTimestamp", "managedFields", "generateName", "selfLink")
	labels := map[string]string{}
	if l := md.get("labels"); l != nil && l.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(l.Content); i += 2 {
			labels[l.Content[i].Value] = str(l.Content[i+1])
		}
	}
	md.get("annotations") // handled by the caller where meaningful
	md.rest("metadata field with no edgeguard equivalent")
	f.ignore("apiVersion", "kind", "status")
	return labels
}

func annotations(doc *yaml.Node) *yaml.Node {
	return lookup(lookup(doc, "metadata"), "annotations")
}

// kongPlugin translates a KongPlugin / KongClusterPlugin.
func (im *importer) kongPlugin(o object) {
	kindName := str(lookup(o.doc, "kind"))
	s := at(o.file, kindName+" "+o.name, o.doc)
	f := newFields(&im.r, s, "", o.doc)
	labels := im.metadata(f)
	if an := annotations(o.doc); an != nil && an.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(an.Content); i += 2 {
			k := an.Content[i].Value
			if k == "kubernetes.io/ingress.class" || k == "kubectl.kubernetes.io/last-applied-configuration" {
				continue
			}
			im.r.untr(s.with(an.Content[i]), "metadata.annotations."+k, "annotation with no edgeguard equivalent")
		}
	}
	if o.name == "" {
		im.r.untr(s, "metadata.name", "a KongPlugin needs a name; skipped")
		return
	}
	cfg := f.get("config")
	cfgSrc := s.with(f.keyNode("config"))
	if d, ok := boolOf(f.get("disabled")); ok && d {
		im.r.note(s.with(f.keyNode("disabled")), "disabled", "the plugin is disabled; not imported")
		return
	}
	if f.get("configFrom") != nil || f.get("configPatches") != nil {
		im.r.untr(s, "configFrom", "config from a Kubernetes Secret is not imported; put the values in config (secrets as ${ENV})")
	}
	for _, k := range []string{"protocols", "consumerRef", "ordering", "run_on", "instance_name"} {
		if n := f.get(k); n != nil {
			im.r.untr(s.with(f.keyNode(k)), k, "no edgeguard equivalent")
		}
	}
	pluginName := str(f.get("plugin"))
	var k *kind
	if pluginName == "" {
		k = inferKind(o.name, cfg)
		if k == nil {
			im.r.untr(s, "plugin", "the KongPlugin has no plugin field and its name and config fields match no single edgeguard plugin; skipped")
			f.rest("field of a skipped KongPlugin")
			return
		}
		im.r.note(s, "plugin", "no plugin field (Kong requires one); %s inferred from the name and config fields", k.name)
	} else if k = kindByName(pluginName); k == nil {
		if why, ok := notInEdgeguard[pluginName]; ok {
			if pluginName == "prometheus" {
				f.ignore("config")
				im.kongCompat = true
				im.r.note(s, "plugin", "translated to metrics.kong_compat: true (edgeguard always serves Prometheus metrics on the admin API's /metrics; its config is not needed)")
			} else {
				im.r.untr(s, "plugin", "plugin %s: %s", pluginName, why)
			}
		} else {
			im.r.untr(s, "plugin", "edgeguard has no %s plugin", pluginName)
		}
		f.rest("field of a skipped KongPlugin")
		return
	}
	f.rest("KongPlugin field with no edgeguard equivalent")
	c := deepCopy(cfg)
	if isNull(cfg) {
		c = &yaml.Node{Kind: yaml.MappingNode}
	}
	fixConfig(&im.r, k, c, cfgSrc)
	p := im.addPlugin(&plugin{name: o.name, kind: k.name, config: c, src: s, cfgSrc: cfgSrc})
	if labels["global"] == "true" {
		p.global = true
		im.global = append(im.global, p.name)
	}
}

// Ingress annotations edgeguard understands.
const (
	annPlugins      = "konghq.com/plugins"
	annStripPath    = "konghq.com/strip-path"
	annPreserveHost = "konghq.com/preserve-host"
	annMethods      = "konghq.com/methods"
	annSSLRedirect  = "nginx.ingress.kubernetes.io/ssl-redirect"
	annForceSSL     = "nginx.ingress.kubernetes.io/force-ssl-redirect"
	annIssuer       = "cert-manager.io/issuer"
	annClusterIss   = "cert-manager.io/cluster-issuer"
)

// ingress translates an Ingress: one route per rule path.
func (im *importer) ingress(o object) {
	s := at(o.file, "Ingress "+o.name, o.doc)
	f := newFields(&im.r, s, "", o.doc)
	im.metadata(f)
	if o.name == "" {
		im.r.untr(s, "metadata.name", "an Ingress needs a name; skipped")
		return
	}
	var pluginNames []string
	var strip, preserve bool
	var methods []string
	an := annotations(o.doc)
	issuer := ""
	if an != nil && an.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(an.Content); i += 2 {
			kn, v := an.Content[i], resolve(an.Content[i+1])
			as := s.with(kn)
			field := "metadata.annotations." + kn.Value
			switch kn.Value {
			case annPlugins:
				for _, n := range strings.Split(str(v), ",") {
					if n = strings.TrimSpace(n); n != "" {
						pluginNames = append(pluginNames, n)
					}
				}
			case annStripPath, annPreserveHost, annSSLRedirect, annForceSSL:
				b, ok := boolOf(v)
				if !ok {
					im.r.untr(as, field, "want \"true\" or \"false\", got %q", str(v))
					continue
				}
				switch kn.Value {
				case annStripPath:
					strip = b
				case annPreserveHost:
					preserve = b
				case annSSLRedirect:
					im.tls.used = true
					im.tls.redirect = im.tls.redirect || b
				case annForceSSL:
					im.tls.used = true
					im.tls.force = im.tls.force || b
					if b {
						im.r.note(as, field, "edgeguard's force_ssl_redirect applies to every host on the HTTP listener, not only this Ingress's")
					}
				}
			case annMethods:
				for _, m := range strings.Split(str(v), ",") {
					if m = strings.ToUpper(strings.TrimSpace(m)); m != "" {
						methods = append(methods, m)
					}
				}
			case annIssuer, annClusterIss:
				issuer = str(v)
				im.issuer(as, field, str(v), strings.TrimPrefix(kn.Value, "cert-manager.io/"))
			case "kubernetes.io/ingress.class", "kubectl.kubernetes.io/last-applied-configuration":
				// Which controller serves the Ingress: edgeguard serves them all.
			default:
				im.r.untr(as, field, "annotation with no edgeguard equivalent")
			}
		}
	}
	refs := im.refPlugins(s.with(lookupKey(an, annPlugins)), "metadata.annotations."+annPlugins, pluginNames)
	spec := newFields(&im.r, s, "spec.", f.get("spec"))
	f.rest("Ingress field with no edgeguard equivalent")
	spec.ignore("ingressClassName")
	if db := spec.get("defaultBackend"); db != nil {
		im.r.untr(s.with(spec.keyNode("defaultBackend")), "spec.defaultBackend", "a default backend has no edgeguard equivalent (unmatched requests get 404); add a route without hosts on path / if you need one")
	}
	tlsHosts := map[string]bool{}
	for i, t := range items(spec.get("tls")) {
		tf := newFields(&im.r, s.with(t), fmt.Sprintf("spec.tls[%d].", i), t)
		hosts := strList(tf.get("hosts"))
		secret := str(tf.get("secretName"))
		tf.rest("no edgeguard equivalent")
		im.tls.used = true
		for _, h := range hosts {
			tlsHosts[h] = true
		}
		im.ingressTLS(s.with(t), fmt.Sprintf("spec.tls[%d]", i), hosts, secret, issuer)
	}
	for i, rule := range items(spec.get("rules")) {
		rf := newFields(&im.r, s.with(rule), fmt.Sprintf("spec.rules[%d].", i), rule)
		host := str(rf.get("host"))
		http := newFields(&im.r, s.with(rule), fmt.Sprintf("spec.rules[%d].http.", i), rf.get("http"))
		rf.rest("no edgeguard equivalent")
		paths := items(http.get("paths"))
		http.rest("no edgeguard equivalent")
		for j, pn := range paths {
			field := fmt.Sprintf("spec.rules[%d].http.paths[%d]", i, j)
			ps := s.with(pn)
			pf := newFields(&im.r, ps, field+".", pn)
			path := str(pf.get("path"))
			ptype := str(pf.get("pathType"))
			be := newFields(&im.r, ps, field+".backend.", pf.get("backend"))
			pf.rest("no edgeguard equivalent")
			if r := be.get("resource"); r != nil {
				im.r.untr(ps, field+".backend.resource", "resource backends have no edgeguard equivalent; path skipped")
				continue
			}
			svc := newFields(&im.r, ps, field+".backend.service.", be.get("service"))
			be.rest("no edgeguard equivalent")
			svcName := str(svc.get("name"))
			port := newFields(&im.r, ps, field+".backend.service.port.", svc.get("port"))
			svc.rest("no edgeguard equivalent")
			portNum := str(port.get("number"))
			portName := str(port.get("name"))
			port.rest("no edgeguard equivalent")
			if svcName == "" {
				im.r.untr(ps, field+".backend", "no backend service; path skipped")
				continue
			}
			if path == "" {
				path = "/"
			}
			switch ptype {
			case "Prefix", "":
			case "ImplementationSpecific":
				if strings.ContainsAny(path, "^$*()[]{}|?+\\~") {
					im.r.untr(ps, field+".path", "regular-expression path %q has no edgeguard equivalent (routes match prefixes); path skipped", path)
					continue
				}
			case "Exact":
				im.r.untr(ps, field+".pathType", "edgeguard routes match prefixes: Exact %q was imported as a prefix, which also matches %s/… and longer names", path, strings.TrimSuffix(path, "/"))
			default:
				im.r.untr(ps, field+".pathType", "unknown pathType %q; path skipped", ptype)
				continue
			}
			if strings.ContainsAny(path, "^$*()[]{}|?+\\~") {
				im.r.untr(ps, field+".path", "path %q looks like a regular expression; edgeguard routes match prefixes; path skipped", path)
				continue
			}
			if len(path) > 1 && strings.HasSuffix(path, "/") {
				path = strings.TrimSuffix(path, "/")
			}
			portStr := portNum
			if portStr == "" {
				portStr = "80"
				im.r.untr(ps, field+".backend.service.port", "named port %q cannot be resolved outside Kubernetes; port 80 assumed (use --target %s=host:port)", portName, svcName)
			}
			name := svcName
			if old := im.svcByName[name]; old != nil && old.placeholder && old.target != svcName+":"+portStr {
				name = svcName + "-" + portStr
			}
			im.addService(&service{name: name, target: svcName + ":" + portStr, placeholder: true, src: ps})
			rname := o.name
			if countPaths(spec.n) > 1 {
				rname = fmt.Sprintf("%s-%d", o.name, routeIndex(spec.n, i, j)+1)
			}
			r := &route{name: rname, paths: []string{path}, methods: methods, service: name, stripPath: strip, preserveHost: preserve, src: ps}
			if host != "" {
				r.hosts = []string{host}
			}
			r.plugins = append([]string(nil), refs...)
			im.addRoute(r)
			if host != "" && len(tlsHosts) > 0 && !tlsHosts[host] && !matchesWildcard(tlsHosts, host) {
				im.r.note(ps, field, "host %q has no spec.tls entry; it is served over HTTP too", host)
			}
		}
	}
	spec.rest("Ingress field with no edgeguard equivalent")
}

func lookupKey(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i]
		}
	}
	return nil
}

func matchesWildcard(hosts map[string]bool, h string) bool {
	if i := strings.IndexByte(h, '.'); i > 0 {
		return hosts["*"+h[i:]]
	}
	return false
}

func countPaths(spec *yaml.Node) int {
	n := 0
	for _, r := range items(lookup(spec, "rules")) {
		n += len(items(lookup(lookup(r, "http"), "paths")))
	}
	return n
}

func routeIndex(spec *yaml.Node, rule, path int) int {
	n := 0
	for i, r := range items(lookup(spec, "rules")) {
		if i == rule {
			return n + path
		}
		n += len(items(lookup(lookup(r, "http"), "paths")))
	}
	return n
}

// ingressTLS records an Ingress tls entry: its hosts get certificates from
// ACME when a cert-manager Certificate (or issuer annotation) covers them,
// else from files the user exports from the Secret.
func (im *importer) ingressTLS(s src, field string, hosts []string, secret, issuer string) {
	covered := false
	for _, o := range im.certs {
		if str(lookup(lookup(o.doc, "spec"), "secretName")) == secret && secret != "" {
			covered = true
		}
	}
	if covered || issuer != "" {
		for _, h := range hosts {
			im.addACMEHost(s, field+".hosts", h)
		}
		if secret != "" {
			im.r.untr(s, field+".secretName", "Kubernetes Secret %q is not used: edgeguard obtains and stores the certificate for %s itself by ACME (data_dir)", secret, strings.Join(hosts, ", "))
		}
		return
	}
	im.tls.https = true
	cert, key := "certs/"+secret+"/tls.crt", "certs/"+secret+"/tls.key"
	im.tls.certs = append(im.tls.certs, certFiles{cert: cert, key: key})
	im.r.untr(s, field+".secretName", "Kubernetes Secret %q: export it to %s and %s (kubectl get secret %s -o jsonpath='{.data.tls\\.crt}' | base64 -d > %s; likewise tls.key), or use ACME (listen.tls.acme.hosts)", secret, cert, key, secret, cert)
}

func (im *importer) addACMEHost(s src, field, h string) {
	if strings.Contains(h, "*") {
		im.r.untr(s, field, "wildcard name %q needs a DNS-01 challenge, which edgeguard's ACME client does not do; provide the certificate as files", h)
		return
	}
	for _, x := range im.tls.acmeHosts {
		if x == h {
			return
		}
	}
	im.tls.https = true
	im.tls.acmeHosts = append(im.tls.acmeHosts, h)
}

const letsEncryptStaging = "https://acme-staging-v02.api.letsencrypt.org/directory"

// issuer reports a cert-manager issuer: Kubernetes-only, but a name with
// "staging" selects Let's Encrypt's staging directory.
func (im *importer) issuer(s src, field, name, kind string) {
	if strings.Contains(strings.ToLower(name), "staging") {
		im.tls.directoryURL = letsEncryptStaging
		im.r.untr(s, field, "cert-manager %s %q is Kubernetes-only: edgeguard's ACME client uses Let's Encrypt staging (listen.tls.acme.directory_url, from the name); set email and directory_url there to match the issuer", kind, name)
		return
	}
	im.r.untr(s, field, "cert-manager %s %q is Kubernetes-only: edgeguard's ACME client uses listen.tls.acme (default Let's Encrypt production); set email and directory_url there to match the issuer", kind, name)
}

// certificate translates a cert-manager Certificate into ACME hosts.
func (im *importer) certificate(o object) {
	s := at(o.file, "Certificate "+o.name, o.doc)
	f := newFields(&im.r, s, "", o.doc)
	im.metadata(f)
	spec := newFields(&im.r, s, "spec.", f.get("spec"))
	f.rest("Certificate field with no edgeguard equivalent")
	im.tls.used = true
	if n := spec.get("secretName"); n != nil {
		im.r.untr(s.with(spec.keyNode("secretName")), "spec.secretName", "Kubernetes Secret %q is not used: edgeguard stores ACME certificates in its data_dir", str(n))
	}
	if ir := spec.get("issuerRef"); ir != nil {
		irf := newFields(&im.r, s.with(ir), "spec.issuerRef.", ir)
		name, kind := str(irf.get("name")), str(irf.get("kind"))
		irf.ignore("group")
		irf.rest("no edgeguard equivalent")
		if kind == "" {
			kind = "Issuer"
		}
		im.issuer(s.with(spec.keyNode("issuerRef")), "spec.issuerRef", name, kind)
	}
	var hosts []string
	if cn := str(spec.get("commonName")); cn != "" {
		hosts = append(hosts, cn)
	}
	dn := spec.get("dnsNames")
	hosts = append(hosts, strList(dn)...)
	for _, h := range hosts {
		im.addACMEHost(s.with(spec.keyNode("dnsNames")), "spec.dnsNames", h)
	}
	if len(hosts) == 0 {
		im.r.untr(s, "spec.dnsNames", "no dnsNames or commonName: no certificate imported")
	}
	if rb := str(spec.get("renewBefore")); rb != "" {
		if d, err := time.ParseDuration(rb); err == nil && d > 0 {
			im.tls.renewBefore = d
		} else {
			im.r.untr(s.with(spec.keyNode("renewBefore")), "spec.renewBefore", "cannot parse duration %q", rb)
		}
	}
	spec.ignore("usages")
	spec.rest("no edgeguard equivalent (edgeguard's ACME certificates are ECDSA P-256, renewed 30 days before expiry)")
}

// nginxKeys are the NGINX ingress ConfigMap keys edgeguard maps.
var nginxKeys = map[string]bool{
	"ssl-protocols": true, "ssl-ciphers": true, "ssl-prefer-server-ciphers": true,
	"hsts": true, "hsts-max-age": true, "hsts-include-subdomains": true, "hsts-preload": true,
	"ssl-redirect": true, "force-ssl-redirect": true,
}

// configMap translates the NGINX ingress controller's ConfigMap.
func (im *importer) configMap(o object) {
	s := at(o.file, "ConfigMap "+o.name, o.doc)
	f := newFields(&im.r, s, "", o.doc)
	im.metadata(f)
	data := f.get("data")
	f.ignore("binaryData", "immutable")
	f.rest("ConfigMap field with no edgeguard equivalent")
	known := 0
	if data != nil && data.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(data.Content); i += 2 {
			if nginxKeys[data.Content[i].Value] {
				known++
			}
		}
	}
	if known == 0 && !strings.Contains(o.name, "nginx") && !strings.Contains(o.name, "ingress") {
		im.r.untr(s, "", "not an NGINX ingress configuration (no ssl-*/hsts* keys); skipped")
		return
	}
	if data == nil || data.Kind != yaml.MappingNode {
		return
	}
	im.tls.used = true
	if im.tls.src.file == "" {
		im.tls.src = s
	}
	for i := 0; i+1 < len(data.Content); i += 2 {
		k, v := data.Content[i], resolve(data.Content[i+1])
		ks := s.with(k)
		field := "data." + k.Value
		val := strings.TrimSpace(str(v))
		switch k.Value {
		case "ssl-protocols":
			min := ""
			for _, p := range strings.Fields(val) {
				switch p {
				case "TLSv1", "TLSv1.1", "SSLv3", "SSLv2":
					im.r.note(ks, field, "%s is insecure and not offered by edgeguard (TLS 1.2 is the lowest)", p)
				case "TLSv1.2":
					min = "1.2"
				case "TLSv1.3":
					if min == "" {
						min = "1.3"
					}
				default:
					im.r.untr(ks, field, "unknown protocol %q", p)
				}
			}
			if min == "" {
				im.r.untr(ks, field, "no protocol edgeguard offers (TLSv1.2, TLSv1.3) in %q; default 1.2 kept", val)
				continue
			}
			im.tls.minVersion = min
		case "ssl-ciphers":
			if _, err := tlsconf.ParseCiphers(val); err != nil {
				im.r.untr(ks, field, "edgeguard cannot use these ciphers (%v); the default (Mozilla intermediate) is kept", err)
				continue
			}
			im.tls.ciphers = val
		case "ssl-prefer-server-ciphers":
			im.r.note(ks, field, "Go's TLS server always chooses the cipher suite itself (server preference); nothing to set")
		case "hsts", "hsts-include-subdomains", "hsts-preload", "ssl-redirect", "force-ssl-redirect":
			b, ok := boolOf(v)
			if !ok {
				im.r.untr(ks, field, "want \"true\" or \"false\", got %q", val)
				continue
			}
			switch k.Value {
			case "hsts":
				im.tls.hstsEnabled = &b
			case "hsts-include-subdomains":
				im.tls.hstsSub = &b
			case "hsts-preload":
				im.tls.hstsPreload = b
			case "ssl-redirect":
				im.tls.redirect = im.tls.redirect || b
			case "force-ssl-redirect":
				im.tls.force = im.tls.force || b
			}
		case "hsts-max-age":
			n, ok := intOf(v)
			if !ok || n < 0 {
				im.r.untr(ks, field, "want a number of seconds, got %q", val)
				continue
			}
			im.tls.hstsMaxAge = &n
		default:
			im.r.untr(ks, field, "NGINX ingress setting with no edgeguard equivalent")
		}
	}
}
