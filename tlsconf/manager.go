// Package tlsconf terminates TLS for edgeguard: a certificate manager that
// chooses certificate chains by SNI (exact names, `*.example.com` wildcards,
// a default), reloads them when their files change or on Reload (SIGHUP)
// and keeps the old ones when a new one is bad; server settings with
// Mozilla's "intermediate" defaults (TLS 1.2 and 1.3, ECDHE + AEAD suites,
// rotated session ticket keys); OpenSSL cipher names mapped to Go's suites;
// ACME certificates through golang.org/x/crypto/acme/autocert; client
// certificates (mTLS); the HSTS header; the HTTP→HTTPS redirect; and the
// client side *tls.Config for https upstreams.
//
// The gateway (package proxy, tls.go) owns the listeners; this package owns
// everything about certificates and TLS parameters, so it can be tested and
// benchmarked on its own.
package tlsconf

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"
)

// Options configure a Manager.
type Options struct {
	// Logger receives reloads and rejected certificates (default: discard).
	Logger *slog.Logger
	// DataDir is edgeguard's data directory; ACME state goes to
	// DataDir/acme.
	DataDir string
}

// Manager serves certificates and TLS settings; it is safe for concurrent
// use. Create it with New, give Listener() to tls.NewListener, call Update
// on config reload, Reload on SIGHUP and Close at shutdown.
type Manager struct {
	log     *slog.Logger
	dataDir string

	cfg    atomic.Pointer[Config]
	certs  atomic.Pointer[certSet]
	server atomic.Pointer[tls.Config]
	acme   atomic.Pointer[acmeState]
	base   *tls.Config

	mu      sync.Mutex // serialises Reload/Update/rotation
	stamps  []fileStamp
	failed  []fileStamp
	keys    [][32]byte
	reloads atomic.Uint64
	rejects atomic.Uint64

	stop chan struct{}
	done sync.WaitGroup
}

type acmeState struct {
	cfg   ACME
	m     *autocert.Manager
	hosts map[string]bool
}

type fileStamp struct {
	name  string
	size  int64
	mtime time.Time
}

// New loads every certificate of cfg (an error if one is bad) and starts
// the file watcher and the ticket key rotation.
func New(cfg Config, opts Options) (*Manager, error) {
	m := &Manager{log: opts.Logger, dataDir: opts.DataDir, stop: make(chan struct{})}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	m.base = &tls.Config{GetConfigForClient: m.configForClient, MinVersion: tls.VersionTLS12}
	m.rotateKeys()
	if err := m.Update(cfg); err != nil {
		return nil, err
	}
	m.done.Add(2)
	go m.watch()
	go m.rotate()
	return m, nil
}

// Listener returns the config for tls.NewListener. It delegates every
// handshake to the settings in force, so Update changes versions, suites
// and certificates without restarting the listener.
func (m *Manager) Listener() *tls.Config { return m.base }

// Config returns the settings in force.
func (m *Manager) Config() *Config { return m.cfg.Load() }

// Reloads returns how many certificate reloads succeeded and were refused.
func (m *Manager) Reloads() (ok, refused uint64) { return m.reloads.Load(), m.rejects.Load() }

func (m *Manager) configForClient(*tls.ClientHelloInfo) (*tls.Config, error) {
	return m.server.Load(), nil
}

// Update installs a new configuration (a gateway config reload). It loads
// the certificates first; on error nothing changes.
func (m *Manager) Update(cfg Config) error {
	cfg.Defaults()
	m.mu.Lock()
	defer m.mu.Unlock()
	set, err := loadSet(cfg.Certificates, time.Now())
	if err != nil {
		return err
	}
	sc, err := m.serverConfig(&cfg)
	if err != nil {
		return err
	}
	if err := m.updateACME(&cfg); err != nil {
		return err
	}
	if cfg.ACME.Enabled() {
		sc.NextProtos = append(sc.NextProtos, acme.ALPNProto)
	}
	m.stamps = stampsOf(cfg.Certificates)
	m.failed = nil
	m.cfg.Store(&cfg)
	m.certs.Store(set)
	m.server.Store(sc)
	return nil
}

// serverConfig builds the per-handshake settings (without certificates,
// which GetCertificate chooses).
func (m *Manager) serverConfig(cfg *Config) (*tls.Config, error) {
	minV, err := ParseVersion(cfg.MinVersion)
	if err != nil {
		return nil, err
	}
	ciphers := cfg.Ciphers
	if ciphers == "" {
		ciphers = DefaultCiphers
	}
	suites, err := ParseCiphers(ciphers)
	if err != nil {
		return nil, err
	}
	curves, err := ParseCurves(cfg.Curves)
	if err != nil {
		return nil, err
	}
	sc := &tls.Config{
		MinVersion:       minV,
		MaxVersion:       tls.VersionTLS13,
		CipherSuites:     suites,
		CurvePreferences: curves,
		// Go always applies its own server-side suite order for TLS 1.2
		// (AES-GCM first with AES hardware, else ChaCha20); the field is
		// kept for readers who look for it.
		PreferServerCipherSuites: true,
		NextProtos:               []string{"http/1.1"},
		GetCertificate:           m.getCertificate,
		Renegotiation:            tls.RenegotiateNever,
	}
	if cfg.ClientCAFile != "" {
		pool, err := LoadCAPool(cfg.ClientCAFile)
		if err != nil {
			return nil, err
		}
		sc.ClientCAs = pool
		sc.ClientAuth = tls.RequireAndVerifyClientCert
		if cfg.ClientAuth == "optional" {
			sc.ClientAuth = tls.VerifyClientCertIfGiven
		}
	}
	sc.SetSessionTicketKeys(m.keys)
	return sc, nil
}

func (m *Manager) updateACME(cfg *Config) error {
	old := m.acme.Load()
	if !cfg.ACME.Enabled() {
		m.acme.Store(nil)
		return nil
	}
	if old != nil && reflect.DeepEqual(old.cfg, cfg.ACME) {
		return nil
	}
	dir := filepath.Join(m.dataDir, "acme")
	if m.dataDir == "" {
		return errors.New("tls: acme needs a data directory")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("tls: acme: %v", err)
	}
	client := &acme.Client{DirectoryURL: cfg.ACME.DirectoryURL}
	if client.DirectoryURL == "" {
		client.DirectoryURL = autocert.DefaultACMEDirectory
	}
	if cfg.ACME.CAFile != "" {
		pool, err := LoadCAPool(cfg.ACME.CAFile)
		if err != nil {
			return err
		}
		client.HTTPClient = &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	}
	st := &acmeState{cfg: cfg.ACME, hosts: map[string]bool{}}
	for _, h := range cfg.ACME.Hosts {
		st.hosts[normName(h)] = true
	}
	st.m = &autocert.Manager{
		Prompt:      autocert.AcceptTOS,
		Cache:       autocert.DirCache(dir),
		HostPolicy:  autocert.HostWhitelist(cfg.ACME.Hosts...),
		RenewBefore: cfg.ACME.RenewBefore,
		Client:      client,
		Email:       cfg.ACME.Email,
	}
	m.acme.Store(st)
	return nil
}

// ACMEHTTPHandler returns autocert's http-01 handler (for
// /.well-known/acme-challenge/ on the HTTP listener) or nil without ACME.
func (m *Manager) ACMEHTTPHandler(fallback http.Handler) http.Handler {
	st := m.acme.Load()
	if st == nil {
		return nil
	}
	h := st.m.HTTPHandler(fallback)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// autocert checks r.Host against the allow-list port included;
		// validation on a port other than 80 (tests, a port-mapping
		// proxy) sends "host:port".
		if host, _, err := net.SplitHostPort(r.Host); err == nil {
			r.Host = host
		}
		h.ServeHTTP(w, r)
	})
}

// getCertificate chooses by SNI: ACME challenges and ACME hosts first, then
// exact names, wildcards, the default.
func (m *Manager) getCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	name := normName(hello.ServerName)
	if st := m.acme.Load(); st != nil && name != "" && (st.hosts[name] || slices.Contains(hello.SupportedProtos, acme.ALPNProto)) {
		c, err := st.m.GetCertificate(hello)
		if err == nil {
			return c, nil
		}
		m.log.Warn("tls: acme certificate unavailable", "host", name, "err", err)
	}
	set := m.certs.Load()
	if cs := set.lookup(name); cs != nil {
		return pick(hello, cs), nil
	}
	if set != nil && set.def != nil {
		return set.def, nil
	}
	return nil, fmt.Errorf("tls: no certificate for %q", name)
}

// HasCertificate reports whether host (no port) is served by a certificate
// of its own or the default; the HTTP listener redirects such hosts when
// redirect_http is on. host is not retained.
func (m *Manager) HasCertificate(host []byte) bool {
	name := normName(b2s(host))
	if st := m.acme.Load(); st != nil && st.hosts[name] {
		return true
	}
	set := m.certs.Load()
	return set.lookup(name) != nil || (set != nil && set.def != nil)
}

// Reload reloads the certificate files now (SIGHUP). A bad file is logged
// and returned; the certificates in force are kept.
func (m *Manager) Reload() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.reloadLocked(stampsOf(m.cfg.Load().Certificates))
}

func (m *Manager) reloadLocked(stamps []fileStamp) error {
	cfg := m.cfg.Load()
	set, err := loadSet(cfg.Certificates, time.Now())
	if err != nil {
		m.failed = stamps
		m.rejects.Add(1)
		m.log.Error("tls: new certificates refused, the previous ones keep serving", "err", err)
		return err
	}
	m.stamps, m.failed = stamps, nil
	m.certs.Store(set)
	m.reloads.Add(1)
	m.log.Info("tls: certificates reloaded", "count", len(set.all))
	return nil
}

// watch polls the certificate files (size and mtime) and reloads when they
// change. A change that fails to load is retried only when the files change
// again (a cert written before its key loads on the second change).
func (m *Manager) watch() {
	defer m.done.Done()
	t := time.NewTimer(m.cfg.Load().ReloadInterval)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
		}
		m.mu.Lock()
		cfg := m.cfg.Load()
		now := stampsOf(cfg.Certificates)
		if !slices.Equal(now, m.stamps) && !slices.Equal(now, m.failed) {
			m.reloadLocked(now)
		}
		m.mu.Unlock()
		t.Reset(cfg.ReloadInterval)
	}
}

func stampsOf(files []CertFiles) []fileStamp {
	out := make([]fileStamp, 0, 2*len(files))
	for _, f := range files {
		for _, name := range []string{f.CertFile, f.KeyFile} {
			st := fileStamp{name: name}
			if fi, err := os.Stat(name); err == nil {
				st.size, st.mtime = fi.Size(), fi.ModTime()
			}
			out = append(out, st)
		}
	}
	return out
}

// rotate replaces the session ticket key every SessionTicketRotation;
// the two previous keys still decrypt, so a ticket lives up to three
// periods.
func (m *Manager) rotate() {
	defer m.done.Done()
	for {
		t := time.NewTimer(m.cfg.Load().SessionTicketRotation)
		select {
		case <-m.stop:
			t.Stop()
			return
		case <-t.C:
		}
		m.mu.Lock()
		m.rotateKeys()
		m.server.Load().SetSessionTicketKeys(m.keys)
		m.mu.Unlock()
	}
}

// RotateTicketKeys rotates the session ticket keys now (tests, or an
// operator who suspects a key leaked).
func (m *Manager) RotateTicketKeys() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.rotateKeys()
	m.server.Load().SetSessionTicketKeys(m.keys)
}

func (m *Manager) rotateKeys() {
	var k [32]byte
	if _, err := rand.Read(k[:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	m.keys = append([][32]byte{k}, m.keys...)
	if len(m.keys) > 3 {
		m.keys = m.keys[:3]
	}
	m.base.SetSessionTicketKeys(m.keys)
}

// Close stops the watcher and the rotation.
func (m *Manager) Close() {
	select {
	case <-m.stop:
	default:
		close(m.stop)
	}
	m.done.Wait()
}

// ClientSubject returns the verified client certificate's subject
// (RFC 2253) or "" when the client sent none.
func ClientSubject(cs *tls.ConnectionState) string {
	if cs == nil || len(cs.VerifiedChains) == 0 || len(cs.VerifiedChains[0]) == 0 {
		return ""
	}
	return cs.VerifiedChains[0][0].Subject.String()
}

// Leaf returns the certificate that would answer name for a modern client
// (TLS 1.3, ECDSA), for tests and the admin API.
func (m *Manager) Leaf(name string) (*x509.Certificate, error) {
	c, err := m.getCertificate(&tls.ClientHelloInfo{ServerName: name, SupportedVersions: []uint16{tls.VersionTLS13, tls.VersionTLS12},
		CipherSuites:     []uint16{tls.TLS_AES_128_GCM_SHA256, tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256},
		SignatureSchemes: []tls.SignatureScheme{tls.ECDSAWithP256AndSHA256, tls.PSSWithSHA256}, SupportedCurves: []tls.CurveID{tls.X25519, tls.CurveP256}})
	if err != nil {
		return nil, err
	}
	return c.Leaf, nil
}
