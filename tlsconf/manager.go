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
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
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
	// RetryInterval is how often a certificate pair that failed to load is
	// tried again although its files did not change, e.g. one that was not
	// yet valid (default 30s).
	RetryInterval time.Duration
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
	slots   []slot     // one per configured pair, under mu
	retry   time.Duration
	keys    [][32]byte
	reloads atomic.Uint64
	rejects atomic.Uint64

	stop chan struct{}
	done sync.WaitGroup
}

type acmeState struct {
	cfg     ACME
	m       *autocert.Manager
	hosts   map[string]bool
	retired atomic.Bool // replaced by a config reload: no more CA requests
}

// retire stops st's manager from talking to the CA. autocert has no way
// to stop a Manager's renewal timers, so they keep firing, but each
// renewal fails without a request (and autocert retries it every 30-60
// minutes).
func (st *acmeState) retire() {
	if st != nil {
		st.retired.Store(true)
	}
}

// retiredTransport fails every request once its manager is retired.
type retiredTransport struct {
	next    http.RoundTripper
	retired *atomic.Bool
}

func (t retiredTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if t.retired.Load() {
		return nil, errors.New("tls: acme settings replaced by a config reload")
	}
	return t.next.RoundTrip(r)
}

// logCache logs each certificate autocert stores, which is what it does
// after every issuance and renewal (autocert has no hook of its own).
type logCache struct {
	autocert.Cache
	log         *slog.Logger
	renewBefore time.Duration
}

func (c logCache) Put(ctx context.Context, key string, data []byte) error {
	err := c.Cache.Put(ctx, key, data)
	if strings.Contains(key, "+") && !strings.HasSuffix(key, "+rsa") || strings.HasPrefix(key, "acme_account") {
		return err // challenge tokens, the account key
	}
	rest := data
	for {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		leaf, perr := x509.ParseCertificate(b.Bytes)
		if perr != nil {
			break
		}
		c.log.Info("tls: acme certificate issued", "host", key, "serial", leaf.SerialNumber.String(),
			"not_after", leaf.NotAfter.UTC().Format(time.RFC3339), "err", err)
		if life := leaf.NotAfter.Sub(leaf.NotBefore); c.renewBefore >= life {
			c.log.Error("tls: acme renew_before is not shorter than the certificate lifetime: it will be renewed again at once",
				"host", key, "renew_before", c.renewBefore.String(), "lifetime", life.String())
		}
		break
	}
	return err
}

type fileStamp struct {
	name  string
	size  int64
	mtime time.Time
}

// slot is one configured certificate pair and the last good certificate
// loaded from it, which keeps serving while newer files are bad.
type slot struct {
	files  CertFiles
	stamp  [2]fileStamp     // of the files last loaded or tried
	cert   *tls.Certificate // last good; never nil once Update succeeded
	failed bool             // stamp did not load: retried every retry
	tried  time.Time
}

// New loads every certificate of cfg (an error if one is bad) and starts
// the file watcher and the ticket key rotation.
func New(cfg Config, opts Options) (*Manager, error) {
	m := &Manager{log: opts.Logger, dataDir: opts.DataDir, retry: opts.RetryInterval, stop: make(chan struct{})}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	if m.retry <= 0 {
		m.retry = 30 * time.Second
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
// the certificates first; a bad pair whose files served a good certificate
// before keeps that certificate (logged, and retried like in the watcher),
// any other bad pair is an error and nothing changes.
func (m *Manager) Update(cfg Config) error {
	cfg.Defaults()
	m.mu.Lock()
	defer m.mu.Unlock()
	now := time.Now()
	slots := make([]slot, len(cfg.Certificates))
	var errs []error
	for i, cf := range cfg.Certificates {
		s := &slots[i]
		s.files, s.stamp = cf, stampOf(cf)
		c, err := LoadPair(cf, now)
		if err == nil {
			s.cert = c
			continue
		}
		prev := m.slotFor(cf)
		if prev == nil {
			errs = append(errs, err)
			continue
		}
		s.cert, s.failed, s.tried = prev.cert, true, now
		m.rejects.Add(1)
		m.log.Error("tls: certificate refused, the previous one from these files keeps serving", "cert_file", cf.CertFile, "err", err)
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	set := buildSet(slots)
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
	for _, s := range m.slots {
		unserve(s)
	}
	m.slots = slots
	for _, s := range m.slots {
		serve(s)
	}
	m.cfg.Store(&cfg)
	m.certs.Store(set)
	m.server.Store(sc)
	return nil
}

// slotFor returns the slot loaded from the same files, or nil.
func (m *Manager) slotFor(cf CertFiles) *slot {
	for i := range m.slots {
		if s := &m.slots[i]; s.files.CertFile == cf.CertFile && s.files.KeyFile == cf.KeyFile && s.cert != nil {
			return s
		}
	}
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
		old.retire()
		return nil
	}
	if old != nil && reflect.DeepEqual(old.cfg, cfg.ACME) {
		return nil // the same manager keeps its certificates and timers
	}
	dir := filepath.Join(m.dataDir, "acme")
	if m.dataDir == "" {
		return errors.New("tls: acme needs a data directory")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("tls: acme: %v", err)
	}
	st := &acmeState{cfg: cfg.ACME, hosts: map[string]bool{}}
	client := &acme.Client{DirectoryURL: cfg.ACME.DirectoryURL}
	if client.DirectoryURL == "" {
		client.DirectoryURL = autocert.DefaultACMEDirectory
	}
	tr := http.DefaultTransport
	if cfg.ACME.CAFile != "" {
		pool, err := LoadCAPool(cfg.ACME.CAFile)
		if err != nil {
			return err
		}
		tr = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	}
	client.HTTPClient = &http.Client{Timeout: 60 * time.Second, Transport: retiredTransport{tr, &st.retired}}
	for _, h := range cfg.ACME.Hosts {
		st.hosts[normName(h)] = true
	}
	st.m = &autocert.Manager{
		Prompt:      autocert.AcceptTOS,
		Cache:       logCache{autocert.DirCache(dir), m.log, cfg.ACME.RenewBefore},
		HostPolicy:  autocert.HostWhitelist(cfg.ACME.Hosts...),
		RenewBefore: cfg.ACME.RenewBefore,
		Client:      client,
		Email:       cfg.ACME.Email,
	}
	m.acme.Store(st)
	old.retire()
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

// Reload reads every certificate pair again now (the admin API). Each
// pair is loaded on its own: good ones are installed, a bad one is logged
// and returned, and its slot keeps its last good certificate.
func (m *Manager) Reload() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	var errs []error
	now := time.Now()
	for i := range m.slots {
		if err := m.loadSlot(i, stampOf(m.slots[i].files), now); err != nil {
			errs = append(errs, err)
		}
	}
	m.certs.Store(buildSet(m.slots))
	return errors.Join(errs...)
}

// loadSlot loads slot i's files (stamp st); on error the slot keeps its
// certificate and is marked failed. Called with mu held; the caller
// installs buildSet(m.slots).
func (m *Manager) loadSlot(i int, st [2]fileStamp, now time.Time) error {
	s := &m.slots[i]
	s.stamp, s.tried = st, now
	c, err := LoadPair(s.files, now)
	if err != nil {
		s.failed = true
		m.rejects.Add(1)
		m.log.Error("tls: certificate refused, the previous one from these files keeps serving", "cert_file", s.files.CertFile, "err", err)
		return err
	}
	unserve(*s)
	s.cert, s.failed = c, false
	serve(*s)
	m.reloads.Add(1)
	m.log.Info("tls: certificate reloaded", "cert_file", s.files.CertFile, "serial", c.Leaf.SerialNumber.String(), "names", certNames(c.Leaf))
	return nil
}

// watch polls the certificate files (size and mtime) and reloads a pair
// when its files change. Pairs are independent: a bad one never holds
// back another. A pair that failed (a certificate written before its key,
// one not yet valid) is tried again when its files change or every
// RetryInterval.
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
		now, changed := time.Now(), false
		for i, s := range m.slots {
			st := stampOf(s.files)
			if st != s.stamp || s.failed && now.Sub(s.tried) >= m.retry {
				changed = m.loadSlot(i, st, now) == nil || changed
			}
		}
		if changed {
			m.certs.Store(buildSet(m.slots))
		}
		interval := m.cfg.Load().ReloadInterval
		m.mu.Unlock()
		t.Reset(interval)
	}
}

func stampOf(f CertFiles) [2]fileStamp {
	var out [2]fileStamp
	for i, name := range []string{f.CertFile, f.KeyFile} {
		out[i].name = name
		if fi, err := os.Stat(name); err == nil {
			out[i].size, out[i].mtime = fi.Size(), fi.ModTime()
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
	m.mu.Lock()
	for _, s := range m.slots {
		unserve(s)
	}
	m.mu.Unlock()
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
