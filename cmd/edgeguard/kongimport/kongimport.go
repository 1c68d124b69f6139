package kongimport

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/edgeguard/edgeguard/proxy/config/confnode"
)

// Source is one input file.
type Source struct {
	Name string // shown in problems
	Data []byte
}

// Options tune an import.
type Options struct {
	// Targets replaces the placeholder target of a service ("name:port")
	// by an address: service name → "host:port" (or http(s)://host:port).
	Targets map[string]string
}

// Result is a finished import.
type Result struct {
	// Config is the edgeguard YAML.
	Config []byte
	// Untranslated lists everything that was not carried over; when it is
	// not empty the import is partial.
	Untranslated []Problem
	// Notes are facts about the translation that need no action to keep
	// the same policies (merged routes, inferred plugin kinds, …).
	Notes []Problem
}

// Partial reports whether something was not translated.
func (r *Result) Partial() bool { return len(r.Untranslated) > 0 }

// Import reads every source and writes one edgeguard config. It returns an
// error only for bad options (a --target naming no service); problems in
// the inputs are in the Result.
func Import(srcs []Source, opts Options) (*Result, error) {
	im := newImporter(opts)
	for _, s := range srcs {
		im.read(s)
	}
	im.translate()
	for name := range opts.Targets {
		if im.svcByName[name] == nil {
			return nil, fmt.Errorf("--target %s: no service named %q in the input (services: %s)", name, name, strings.Join(im.serviceNames(), ", "))
		}
	}
	im.resolveTargets()
	out := im.finish()
	sortProblems(im.r.untranslated)
	sortProblems(im.r.notes)
	return &Result{Config: out, Untranslated: im.r.untranslated, Notes: im.r.notes}, nil
}

func newImporter(opts Options) *importer {
	return &importer{opts: opts, pluginByName: map[string]*plugin{}, svcByName: map[string]*service{}, routeByName: map[string]*route{}}
}

// The model the inputs are gathered into.

type plugin struct {
	name   string
	kind   string
	config *yaml.Node // owned copy
	src    src        // the object
	cfgSrc src        // its config block
	used   bool
	global bool
}

type service struct {
	name                 string
	target               string // host:port, http(s)://host:port
	placeholder          bool   // target is the Kubernetes service name
	connect, read, write time.Duration
	retries              *int64
	src                  src
}

type route struct {
	name                    string
	hosts, paths, methods   []string
	service                 string
	plugins                 []string
	stripPath, preserveHost bool
	src                     src
}

type certFiles struct{ cert, key string }

type tlsModel struct {
	used         bool // some input configures TLS
	https        bool // certificates or ACME: listen.https is needed
	minVersion   string
	ciphers      string
	hstsEnabled  *bool
	hstsMaxAge   *int64
	hstsSub      *bool
	hstsPreload  bool
	redirect     bool
	force        bool
	acmeHosts    []string
	directoryURL string
	renewBefore  time.Duration
	certs        []certFiles
	src          src // the first ConfigMap with TLS settings
}

type importer struct {
	opts Options
	r    report

	// raw objects, gathered from every file before translation
	kongPlugins []object
	ingresses   []object
	certs       []object
	configMaps  []object
	kongFiles   []object

	plugins      []*plugin
	pluginByName map[string]*plugin
	services     []*service
	svcByName    map[string]*service
	routes       []*route
	routeByName  map[string]*route
	consumers    []*yaml.Node
	global       []string
	tls          tlsModel
	inList       bool
	kongCompat   bool
}

type object struct {
	file string
	doc  *yaml.Node // mapping
	name string     // metadata.name
}

var yamlLine = regexp.MustCompile(`line (\d+)`)

// read splits a file into documents and sorts them by kind.
func (im *importer) read(s Source) {
	dec := yaml.NewDecoder(bytes.NewReader(s.Data))
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			p := src{file: s.Name}
			if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
				p.line, _ = strconv.Atoi(m[1])
			}
			im.r.untr(p, "", "cannot parse YAML (the rest of the file is skipped): %v", strings.TrimPrefix(err.Error(), "yaml: "))
			return
		}
		if len(doc.Content) == 0 {
			continue
		}
		root := resolve(doc.Content[0])
		if isNull(root) {
			continue
		}
		im.classify(s.Name, root)
	}
}

// classify files one document (or List item) by kind.
func (im *importer) classify(file string, root *yaml.Node) {
	if root.Kind != yaml.MappingNode {
		im.r.untr(at(file, "", root), "", "not a Kubernetes object or kong.yml (got %s)", confnode.KindName(root))
		return
	}
	if lookup(root, "_format_version") != nil {
		im.kongFiles = append(im.kongFiles, object{file: file, doc: root})
		return
	}
	kind := str(lookup(root, "kind"))
	api := str(lookup(root, "apiVersion"))
	name := str(lookup(lookup(root, "metadata"), "name"))
	o := object{file: file, doc: root, name: name}
	switch {
	case kind == "KongPlugin" || kind == "KongClusterPlugin":
		im.kongPlugins = append(im.kongPlugins, o)
	case kind == "Ingress":
		im.ingresses = append(im.ingresses, o)
	case kind == "Certificate" && strings.HasPrefix(api, "cert-manager.io/"):
		im.certs = append(im.certs, o)
	case kind == "ConfigMap":
		im.configMaps = append(im.configMaps, o)
	case kind == "List" && !im.inList:
		im.inList = true
		for _, it := range items(lookup(root, "items")) {
			im.classify(file, it)
		}
		im.inList = false
	case kind == "":
		im.r.untr(at(file, "", root), "", "not a Kubernetes object (no kind) or kong.yml (no _format_version); skipped")
	default:
		what := "edgeguard has no equivalent"
		switch kind {
		case "Secret":
			what = "Kubernetes Secrets are not imported; give secrets to edgeguard as ${ENV} or *_file fields"
		case "Service", "Deployment", "StatefulSet", "DaemonSet", "Namespace", "ServiceAccount":
			what = "workload objects are not part of the gateway config"
		case "KongConsumer", "KongIngress", "KongUpstreamPolicy", "TCPIngress", "UDPIngress", "HTTPRoute", "Gateway", "GatewayClass":
			what = "not supported by the importer yet"
		case "ClusterIssuer", "Issuer":
			what = "cert-manager issuers are Kubernetes-only; edgeguard's ACME client is configured in listen.tls.acme"
		}
		im.r.untr(at(file, kind+" "+name, root), "", "%s %s: %s", api, kind, what)
	}
}

func (im *importer) translate() {
	for _, o := range im.kongPlugins {
		im.kongPlugin(o)
	}
	for _, o := range im.kongFiles {
		im.kongYML(o)
	}
	for _, o := range im.configMaps {
		im.configMap(o)
	}
	for _, o := range im.certs {
		im.certificate(o)
	}
	for _, o := range im.ingresses {
		im.ingress(o)
	}
	if im.tls.used && !im.tls.https {
		s := im.tls.src
		if s.file == "" {
			s.file = "(input)"
		}
		im.r.note(s, "", "no Ingress spec.tls or Certificate gives a certificate: listen.https is not set, so TLS settings and HTTPS redirects have no effect until listen.tls.certificates or acme.hosts are added")
	}
	for _, p := range im.plugins {
		if p.kind == "jwt" && (p.used || p.global) && len(im.consumers) == 0 && lookup(p.config, "issuers") == nil && lookup(p.config, "anonymous") == nil {
			im.r.note(p.src, "", "no consumer with jwt_secrets in the input (Kong keeps them in KongConsumer credentials / Secrets): every token is refused until consumers[].jwt_secrets or config.issuers (JWKS) are added")
		}
		if !p.used && !p.global {
			im.r.note(p.src, "", "no Ingress or route uses this plugin and it is not global: imported as instance %q that no route lists (add it to routes[].plugins or global_plugins)", p.name)
		}
	}
}

// addPlugin registers an instance under a unique name.
func (im *importer) addPlugin(p *plugin) *plugin {
	base := p.name
	for i := 2; im.pluginByName[p.name] != nil; i++ {
		p.name = fmt.Sprintf("%s-%d", base, i)
	}
	if p.name != base {
		im.r.note(p.src, "", "plugin instance name %q is taken; renamed to %q", base, p.name)
	}
	im.plugins = append(im.plugins, p)
	im.pluginByName[p.name] = p
	return p
}

// addService returns the service for a Kubernetes backend or kong.yml
// service, creating it once.
func (im *importer) addService(sv *service) *service {
	if old := im.svcByName[sv.name]; old != nil {
		return old
	}
	im.services = append(im.services, sv)
	im.svcByName[sv.name] = sv
	return sv
}

func (im *importer) serviceNames() []string {
	out := make([]string, 0, len(im.services))
	for _, s := range im.services {
		out = append(out, s.name)
	}
	return out
}

func (im *importer) resolveTargets() {
	for _, sv := range im.services {
		if t, ok := im.opts.Targets[sv.name]; ok {
			sv.target, sv.placeholder = t, false
			continue
		}
		if sv.placeholder && im.serviceUsed(sv.name) {
			im.r.note(sv.src, "", "service %q: target %q is the Kubernetes service's DNS name; outside the cluster set it with --target %s=host:port", sv.name, sv.target, sv.name)
		}
	}
}

// routeKey identifies routes that would shadow each other.
func routeKey(r *route, path string) string {
	hosts := append([]string(nil), r.hosts...)
	sort.Strings(hosts)
	methods := append([]string(nil), r.methods...)
	sort.Strings(methods)
	return strings.Join(hosts, ",") + "\x00" + path + "\x00" + strings.Join(methods, ",")
}

// addRoute adds r, merging it into an existing route with the same hosts,
// paths and methods when both go to the same service.
func (im *importer) addRoute(r *route) {
	for _, old := range im.routes {
		if len(old.paths) != len(r.paths) {
			continue
		}
		same := true
		for i := range r.paths {
			if routeKey(old, old.paths[i]) != routeKey(r, r.paths[i]) {
				same = false
				break
			}
		}
		if !same {
			continue
		}
		if old.service != r.service {
			im.r.untr(r.src, "", "route %q has the same hosts and paths as route %q (%s) but another service (%s); not imported", r.name, old.name, old.service, r.service)
			return
		}
		kinds := map[string]string{}
		for _, p := range old.plugins {
			kinds[im.pluginByName[p].kind] = p
		}
		var added []string
		for _, p := range r.plugins {
			k := im.pluginByName[p].kind
			if prev, dup := kinds[k]; dup {
				if prev != p {
					im.r.untr(r.src, "", "merged into route %q, which already has %s instance %q; %q is not applied there", old.name, k, prev, p)
				}
				continue
			}
			kinds[k] = p
			old.plugins = append(old.plugins, p)
			added = append(added, p)
		}
		extra := ""
		if len(added) > 0 {
			extra = fmt.Sprintf("; its plugins %s were added", strings.Join(added, ", "))
		}
		im.r.note(r.src, "", "same hosts, paths and service as route %q: merged into it%s", old.name, extra)
		old.stripPath = old.stripPath || r.stripPath
		old.preserveHost = old.preserveHost || r.preserveHost
		return
	}
	base := r.name
	for i := 2; im.routeByName[r.name] != nil; i++ {
		r.name = fmt.Sprintf("%s-%d", base, i)
	}
	im.routes = append(im.routes, r)
	im.routeByName[r.name] = r
}

// refPlugins resolves instance names a route lists; unknown names and a
// second instance of a kind are reported.
func (im *importer) refPlugins(s src, field string, names []string) []string {
	var out []string
	kinds := map[string]string{}
	for _, n := range names {
		p := im.pluginByName[n]
		if p == nil {
			im.r.untr(s, field, "no KongPlugin named %q (or it could not be imported); the route is imported without it", n)
			continue
		}
		if prev, dup := kinds[p.kind]; dup {
			im.r.untr(s, field, "%q and %q are both %s plugins; edgeguard runs one of each kind per route, %q is left out", prev, n, p.kind, n)
			continue
		}
		kinds[p.kind] = n
		p.used = true
		out = append(out, n)
	}
	return out
}

// validTarget reports whether s is host:port.
func validTarget(s string) bool {
	s = strings.TrimPrefix(strings.TrimPrefix(s, "http://"), "https://")
	h, p, err := net.SplitHostPort(s)
	return err == nil && h != "" && p != ""
}

// sortProblems orders problems by file and place, keeping the order of
// problems at the same place.
func sortProblems(ps []Problem) {
	sort.SliceStable(ps, func(a, b int) bool {
		x, y := ps[a], ps[b]
		if x.File != y.File {
			return x.File < y.File
		}
		if x.Line != y.Line {
			return x.Line < y.Line
		}
		return x.Col < y.Col
	})
}

func (im *importer) serviceUsed(name string) bool {
	for _, r := range im.routes {
		if r.service == name {
			return true
		}
	}
	return false
}
