package cluster

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/edgeguard/edgeguard/proxy/config/confnode"
)

// Defaults of Config.
const (
	DefaultBindAddr     = "0.0.0.0"
	DefaultBindPort     = 7946
	DefaultSyncInterval = 100 * time.Millisecond
	// MinSecretLen is the shortest passphrase accepted as a secret (a
	// base64 key of 16, 24 or 32 bytes is accepted as is).
	MinSecretLen = 32
)

// Config is the gateway's `cluster:` section.
//
//	cluster:
//	  node_name: gw-1               # default: host name
//	  bind_addr: 0.0.0.0            # gossip UDP and TCP
//	  bind_port: 7946
//	  advertise_addr: 10.0.0.11     # what peers dial (default: bind address or a private IP)
//	  advertise_port: 7946
//	  seeds: [10.0.0.12:7946, 10.0.0.13:7946]
//	  secret_file: /etc/edgeguard/cluster.key   # or secret: ${EDGEGUARD_CLUSTER_SECRET}
//	  sync_interval: 100ms
//
// insecure: true (no secret) needs a loopback bind_addr unless
// insecure_allow_public: true is set as well.
//
// secret_file is handled by confnode (any `x_file` key of a string field).
type Config struct {
	NodeName      string   `yaml:"node_name"`
	BindAddr      string   `yaml:"bind_addr"`
	BindPort      *int     `yaml:"bind_port"`
	AdvertiseAddr string   `yaml:"advertise_addr"`
	AdvertisePort int      `yaml:"advertise_port"`
	Seeds         []string `yaml:"seeds"`
	// Secret is the gossip encryption key (memberlist keyring, AES-GCM):
	// base64 of 16, 24 or 32 bytes (`openssl rand -base64 32`), or a
	// passphrase of at least MinSecretLen characters (its SHA-256 is used).
	Secret string `yaml:"secret"`
	// Insecure allows running without a secret (plain-text gossip that
	// anyone who can reach bind_port can join). Never in production.
	Insecure bool `yaml:"insecure"`
	// InsecureAllowPublic allows Insecure with a bind_addr that is not a
	// loopback address (0.0.0.0, a LAN address): anyone who can reach it
	// can join and push blocks (even 0.0.0.0/0) and rate-limit debt. Only
	// for a network no one else can reach.
	InsecureAllowPublic bool          `yaml:"insecure_allow_public"`
	SyncInterval        time.Duration `yaml:"sync_interval"`
}

// Decode decodes and validates a `cluster:` node. ok is false when errors
// were recorded on n; absent (n not present) gives nil, true.
func Decode(n confnode.Node) (cfg *Config, ok bool) {
	if !n.Present() {
		return nil, true
	}
	cfg = &Config{}
	if !n.Decode(cfg) {
		return nil, false
	}
	if !cfg.Validate(n) {
		return nil, false
	}
	return cfg, true
}

// Validate checks cfg and fills in defaults, recording problems on n (the
// `cluster:` node). It reports whether cfg is valid.
func (c *Config) Validate(n confnode.Node) bool {
	before := len(n.Errs.List)
	if c.NodeName == "" {
		c.NodeName = defaultNodeName()
	}
	if len(c.NodeName) > 128 {
		n.FieldErrorf("node_name", "must be at most 128 characters")
	}
	if c.BindAddr == "" {
		c.BindAddr = DefaultBindAddr
	}
	if net.ParseIP(c.BindAddr) == nil {
		n.FieldErrorf("bind_addr", "must be an IP address, not %q", c.BindAddr)
	}
	if c.BindPort == nil {
		p := DefaultBindPort
		c.BindPort = &p
	}
	if *c.BindPort < 0 || *c.BindPort > 65535 {
		n.FieldErrorf("bind_port", "must be 0-65535 (0: any free port)")
	}
	if c.AdvertiseAddr != "" && net.ParseIP(c.AdvertiseAddr) == nil {
		n.FieldErrorf("advertise_addr", "must be an IP address, not %q", c.AdvertiseAddr)
	}
	if c.AdvertisePort < 0 || c.AdvertisePort > 65535 {
		n.FieldErrorf("advertise_port", "must be 0-65535")
	}
	for i, s := range c.Seeds {
		host, port, err := net.SplitHostPort(s)
		if err != nil || host == "" {
			n.Field("seeds").Index(i).Errorf("must be host:port, not %q", s)
			continue
		}
		if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
			n.Field("seeds").Index(i).Errorf("port must be 1-65535 (got %q)", s)
		}
	}
	switch {
	case c.Secret != "":
		if c.Insecure {
			n.FieldErrorf("insecure", "cannot be true when a secret is set; remove one")
		}
		if _, ok := c.key(); !ok {
			n.FieldErrorf("secret", secretRule, MinSecretLen)
		}
	case !c.Insecure:
		n.Errorf("a secret (or secret_file) is required for gossip encryption; set insecure: true to run without one (not for production)")
	default:
		if ip := net.ParseIP(c.BindAddr); ip != nil && !ip.IsLoopback() && !c.InsecureAllowPublic {
			n.FieldErrorf("bind_addr", "with insecure: true (plain-text gossip anyone can join) must be a loopback address, not %s; "+
				"set a secret, or insecure_allow_public: true on a network no one else can reach", c.BindAddr)
		}
	}
	if c.InsecureAllowPublic && !c.Insecure {
		n.FieldErrorf("insecure_allow_public", "only with insecure: true")
	}
	if c.SyncInterval == 0 {
		c.SyncInterval = DefaultSyncInterval
	}
	if c.SyncInterval < 10*time.Millisecond || c.SyncInterval > 10*time.Second {
		n.FieldErrorf("sync_interval", "must be between 10ms and 10s")
	}
	return len(n.Errs.List) == before
}

// secretRule is what a secret must be (a format for MinSecretLen). It is
// the message at cluster.secret and, after "cluster: secret ", Key's error.
const secretRule = "must be base64 of 16, 24 or 32 bytes (openssl rand -base64 32) or a passphrase of at least %d characters"

// Key returns the 16, 24 or 32-byte AES key of Secret (nil for no secret).
func (c *Config) Key() ([]byte, error) {
	k, ok := c.key()
	if !ok {
		return nil, fmt.Errorf("cluster: secret "+secretRule, MinSecretLen)
	}
	return k, nil
}

// key is Key; ok is false when Secret is set but is not a valid secret.
func (c *Config) key() (k []byte, ok bool) {
	s := strings.TrimSpace(c.Secret)
	if s == "" {
		return nil, true
	}
	if k, err := base64.StdEncoding.DecodeString(s); err == nil && (len(k) == 16 || len(k) == 24 || len(k) == 32) {
		return k, true
	}
	if len(s) < MinSecretLen {
		return nil, false
	}
	sum := sha256.Sum256([]byte(s))
	return sum[:], true
}
