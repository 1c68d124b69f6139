package filters

import (
	"log/slog"
	"sync"

	"github.com/VictoriaMetrics/metrics"
)

// Env is what a plugin's New may use besides its own config: the consumers,
// the logger, the metrics set, the data directory, and components that must
// outlive a config reload.
type Env struct {
	// Consumers are the configured identities, by username.
	Consumers map[string]*Consumer
	Logger    *slog.Logger
	Metrics   *metrics.Set
	DataDir   string
	// Shared survives reloads; see Shared.
	Shared *Shared
	// InstanceName is the name of the plugin instance being built.
	InstanceName string
}

// Shared holds long-lived components that must survive a config reload (rate
// limit buckets, JWKS key sets, the blocklist), keyed by a string the plugin
// chooses (include what must change the component, such as its config).
// It is safe for concurrent use.
type Shared struct {
	mu sync.Mutex
	m  map[string]any
}

// NewShared returns an empty Shared.
func NewShared() *Shared { return &Shared{m: map[string]any{}} }

// Get returns the component stored under key, creating it with create on
// first use.
func (s *Shared) Get(key string, create func() any) any {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := s.m[key]; ok {
		return v
	}
	v := create()
	s.m[key] = v
	return v
}
