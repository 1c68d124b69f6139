package cluster

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgeguard/edgeguard/proxy/config/confnode"
)

func decode(t *testing.T, file, yaml string) (*Config, error) {
	t.Helper()
	root, errs := confnode.Parse(file, []byte(yaml))
	if err := errs.Err(); err != nil {
		return nil, err
	}
	cfg, _ := Decode(root.Field("cluster"))
	return cfg, errs.Err()
}

func TestConfigErrors(t *testing.T) {
	// Each message follows its field path without repeating it
	// ("cluster.bind_port: must be ...", not "cluster.bind_port: cluster:
	// bind_port must be ...").
	cases := []struct{ yaml, want string }{
		{"cluster: {seeds: [a:1]}", "test.yaml:1:10: cluster: a secret (or secret_file) is required"},
		{"cluster: {secret: short}", "cluster.secret: must be base64 of 16, 24 or 32 bytes"},
		{"cluster: {insecure: true, secret: " + testSecret + "}", "cluster.insecure: cannot be true when a secret is set"},
		{"cluster: {insecure: true, seeds: [nohost]}", `cluster.seeds[0]: must be host:port, not "nohost"`},
		{"cluster: {insecure: true, seeds: ['h:99999']}", `cluster.seeds[0]: port must be 1-65535 (got "h:99999")`},
		{"cluster: {insecure: true, bind_addr: localhost}", `cluster.bind_addr: must be an IP address, not "localhost"`},
		{"cluster: {insecure: true, bind_port: 70000}", "cluster.bind_port: must be 0-65535 (0: any free port)"},
		{"cluster: {insecure: true, advertise_port: 70000}", "cluster.advertise_port: must be 0-65535"},
		{"cluster: {insecure: true, node_name: " + strings.Repeat("n", 129) + "}", "cluster.node_name: must be at most 128 characters"},
		{"cluster: {insecure: true, sync_interval: 1ms}", "cluster.sync_interval: must be between 10ms and 10s"},
		{"cluster: {insecure: true, sync_intervall: 1s}", `cluster.sync_intervall: unknown field (did you mean "sync_interval"?)`},
		{"cluster: {insecure: true, advertise_addr: x}", `cluster.advertise_addr: must be an IP address, not "x"`},
		// Plain-text gossip anyone can join: loopback only, unless opted in twice.
		{"cluster: {insecure: true}", "cluster.bind_addr: with insecure: true (plain-text gossip anyone can join) must be a loopback address, not 0.0.0.0"},
		{"cluster: {insecure: true, bind_addr: 10.0.0.11}", "cluster.bind_addr: with insecure: true"},
		{"cluster: {insecure: true, bind_addr: '::'}", "cluster.bind_addr: with insecure: true"},
		{"cluster: {secret: " + testSecret + ", insecure_allow_public: true}", "cluster.insecure_allow_public: only with insecure: true"},
	}
	for _, c := range cases {
		_, err := decode(t, "test.yaml", c.yaml)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s:\n got %v\nwant %q", c.yaml, err, c.want)
		}
	}
}

func TestConfigDefaultsAndSecretFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "cluster.key"), []byte(testSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := decode(t, filepath.Join(dir, "edgeguard.yaml"), "cluster:\n  node_name: gw-1\n  secret_file: cluster.key\n  seeds: [10.0.0.2:7946]\n")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Secret != testSecret || cfg.BindAddr != DefaultBindAddr || *cfg.BindPort != DefaultBindPort ||
		cfg.SyncInterval != DefaultSyncInterval || cfg.NodeName != "gw-1" {
		t.Fatalf("defaults: %+v", cfg)
	}
	if k, err := cfg.Key(); err != nil || len(k) != 32 {
		t.Fatalf("key: %d bytes, %v", len(k), err)
	}
	// At run time Key's error names its package and field.
	if _, err := (&Config{Secret: "short"}).Key(); err == nil || !strings.HasPrefix(err.Error(), "cluster: secret must be base64") {
		t.Fatalf("short secret: %v", err)
	}
	// A long passphrase is hashed into a 32-byte key.
	c2 := Config{Secret: strings.Repeat("correct horse battery staple ", 2)}
	if k, err := c2.Key(); err != nil || len(k) != 32 {
		t.Fatalf("passphrase key: %d bytes, %v", len(k), err)
	}
	// Absent section: no cluster, no error.
	if cfg, err := decode(t, "x.yaml", "listen: :8000\n"); cfg != nil || err != nil {
		t.Fatalf("absent: %v %v", cfg, err)
	}
}

func TestRefusesWithoutSecret(t *testing.T) {
	port := 0
	_, err := New(Config{NodeName: "x", BindAddr: "127.0.0.1", BindPort: &port, SyncInterval: time.Second}, Options{})
	if err == nil || !strings.Contains(err.Error(), "refusing to start without a secret") {
		t.Fatalf("got %v", err)
	}
}

// TestWrongSecretCannotJoin: a node with another key is not let in.
func TestWrongSecretCannotJoin(t *testing.T) {
	h := &harness{t: t, sync: time.Second}
	a := h.start("a", true)
	port := 0
	other := Config{NodeName: "b", BindAddr: "127.0.0.1", BindPort: &port, Secret: "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", Seeds: []string{a.Addr()}}
	b, err := New(other, Options{Tune: fastLAN, ManualSync: true, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Shutdown()
	time.Sleep(200 * time.Millisecond)
	if a.ml.NumMembers() != 1 || b.ml.NumMembers() != 1 {
		t.Fatalf("members: a sees %d, b sees %d; want 1 each", a.ml.NumMembers(), b.ml.NumMembers())
	}
}

// TestInsecureBind: plain-text gossip is accepted on a loopback address,
// or anywhere with insecure_allow_public: true.
func TestInsecureBind(t *testing.T) {
	for _, y := range []string{
		"cluster: {insecure: true, bind_addr: 127.0.0.1}",
		"cluster: {insecure: true, bind_addr: '::1'}",
		"cluster: {insecure: true, insecure_allow_public: true}",
		"cluster: {insecure: true, bind_addr: 10.0.0.11, insecure_allow_public: true}",
	} {
		if _, err := decode(t, "test.yaml", y); err != nil {
			t.Errorf("%s: %v", y, err)
		}
	}
	port := 0
	_, err := New(Config{NodeName: "x", BindAddr: "0.0.0.0", BindPort: &port, Insecure: true, SyncInterval: time.Second}, Options{})
	if err == nil || !strings.Contains(err.Error(), "refusing plain-text gossip") {
		t.Fatalf("New, insecure on 0.0.0.0: %v", err)
	}
}

// TestInsecureWarns: a node with plain-text gossip says so at start.
func TestInsecureWarns(t *testing.T) {
	var logs lockedBuffer
	port := 0
	n, err := New(Config{NodeName: "x", BindAddr: "127.0.0.1", BindPort: &port, Insecure: true, SyncInterval: time.Second},
		Options{ManualSync: true, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	n.Shutdown()
	if s := logs.String(); !strings.Contains(s, "level=WARN") || !strings.Contains(s, "gossip is plain text") {
		t.Errorf("no warning about plain-text gossip:\n%s", s)
	}
}

// TestMembershipLogged: joins, leaves and deaths of peers are logged.
func TestMembershipLogged(t *testing.T) {
	var logs lockedBuffer
	start := func(name string, seeds ...string) *Node {
		port := 0
		cfg := Config{NodeName: name, BindAddr: "127.0.0.1", BindPort: &port, Seeds: seeds, Secret: testSecret, SyncInterval: time.Second}
		opts := Options{Tune: fastLAN, ManualSync: true, RejoinInterval: time.Hour, Logger: testLogger()}
		if name == "a" {
			opts.Logger = slog.New(slog.NewTextHandler(&logs, nil))
		}
		n, err := New(cfg, opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { n.Shutdown() })
		return n
	}
	a := start("a")
	b := start("b", a.Addr())
	c := start("c", a.Addr())
	has := func(s string) func() bool { return func() bool { return strings.Contains(logs.String(), s) } }
	waitFor(t, 5*time.Second, "join logged", has("level=INFO msg=\"cluster: member joined\" member=c"))
	b.Shutdown()
	waitFor(t, 5*time.Second, "leave logged", has("level=INFO msg=\"cluster: member left\" member=b"))
	for _, m := range a.Status().Members {
		if m.Name == "b" && m.State != "left" {
			t.Errorf("b shut down: state %q, want left (not counted as dead)", m.State)
		}
	}
	c.kill()
	waitFor(t, 10*time.Second, "death logged", has("level=WARN msg=\"cluster: member dead\" member=c"))
	if strings.Contains(logs.String(), "member=a") {
		t.Errorf("the node logged itself:\n%s", logs.String())
	}
}

// lockedBuffer is a bytes.Buffer safe for concurrent writers.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
