package cluster

import (
	"os"
	"path/filepath"
	"strings"
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
