package iprestrict

import (
	"fmt"
	"net/netip"

	"github.com/gaissmai/bart"

	"github.com/edgeguard/edgeguard/proxy/config/confnode"
)

// Config is the `config:` block of an ip-restriction plugin instance, with
// Kong's field names.
type Config struct {
	// Allow lists IPv4/IPv6 addresses and CIDRs. When non-empty, only
	// clients inside one of them pass (after Deny was checked).
	Allow []string `yaml:"allow,omitempty"`
	// Deny lists addresses and CIDRs that are always rejected; it is checked
	// first and wins over Allow, as in Kong.
	Deny []string `yaml:"deny,omitempty"`
	// Status is the rejection status (default 403; 400–599).
	Status int `yaml:"status,omitempty"`
	// Message is the rejection body's message (default
	// `IP address not allowed: <client ip>`).
	Message string `yaml:"message,omitempty"`

	// Whitelist and Blacklist are Kong's names before 2.1 (removed in 3.0).
	// They are accepted as Allow and Deny with a deprecation warning in
	// the log; combining an old name with its new one is an error.
	Whitelist []string `yaml:"whitelist,omitempty"`
	Blacklist []string `yaml:"blacklist,omitempty"`
}

// DefaultStatus is Kong's rejection status.
const DefaultStatus = 403

// compiled is the frozen form of a Config.
//
// Both lists live in one prefix table whose longest match gives the
// decision directly: every deny prefix is stored as valDeny, and every
// allow prefix that no deny prefix covers as valAllow (an allow prefix
// inside a deny prefix can never pass, so it is left out). Then the
// longest stored prefix around an address is a deny prefix exactly when
// some deny prefix contains the address (a longer allow prefix inside it
// would have been left out), which is Kong's "deny first" rule, and one
// table walk replaces two (measured: 15% faster than a Contains on two
// tables, see README).
type compiled struct {
	t        *bart.Fast[uint8] // nil when both lists are empty
	hasAllow bool              // a client outside every allow prefix is rejected
	status   int
	message  string // "" means the default message with the client IP
	nAllow   int
	nDeny    int
}

const (
	valDeny  uint8 = 1
	valAllow uint8 = 2
)

// deprecation is a warning about an old field name, with its place.
type deprecation struct {
	File, Path string
	Line       int
	Old, New   string
}

// compile validates cfg (decoded from n) and builds the prefix tables.
// Problems are recorded on n; ok is false when there were any. Warnings
// about deprecated names are returned for the caller to log.
func compile(n confnode.Node, cfg *Config) (c compiled, warnings []deprecation, ok bool) {
	before := len(n.Errs.List)

	allowField, denyField := "allow", "deny"
	allow, deny := cfg.Allow, cfg.Deny
	if len(cfg.Whitelist) > 0 || n.Field("whitelist").Present() {
		if n.Field("allow").Present() {
			n.FieldErrorf("whitelist", "cannot be combined with allow: whitelist is the old name of allow, keep only allow")
		} else {
			allow, allowField = cfg.Whitelist, "whitelist"
			warnings = append(warnings, deprecated(n, "whitelist", "allow"))
		}
	}
	if len(cfg.Blacklist) > 0 || n.Field("blacklist").Present() {
		if n.Field("deny").Present() {
			n.FieldErrorf("blacklist", "cannot be combined with deny: blacklist is the old name of deny, keep only deny")
		} else {
			deny, denyField = cfg.Blacklist, "blacklist"
			warnings = append(warnings, deprecated(n, "blacklist", "deny"))
		}
	}

	if len(allow) == 0 && len(deny) == 0 {
		n.Errorf("at least one of allow or deny must be non-empty")
	}
	allowP := parseList(n.Field(allowField), allow)
	denyP := parseList(n.Field(denyField), deny)
	c.t = merge(allowP, denyP)
	c.hasAllow, c.nAllow, c.nDeny = len(allow) > 0, len(allow), len(deny)

	c.status = cfg.Status
	if !n.Field("status").Present() {
		c.status = DefaultStatus
	} else if c.status < 400 || c.status > 599 {
		n.FieldErrorf("status", "must be an HTTP error status (400-599), got %d", c.status)
	}
	c.message = cfg.Message
	return c, warnings, len(n.Errs.List) == before
}

func deprecated(n confnode.Node, old, repl string) deprecation {
	f := n.Field(old)
	return deprecation{File: f.File, Path: f.Path, Line: f.Line(), Old: old, New: repl}
}

// parseList parses entries, recording an error at the index of every bad
// entry.
func parseList(n confnode.Node, entries []string) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(entries))
	for i, s := range entries {
		p, err := ParsePrefix(s)
		if err != nil {
			n.Index(i).Errorf("invalid IP address or CIDR %q: %v", s, err)
			continue
		}
		out = append(out, p)
	}
	return out
}

// merge builds the decision table (see compiled).
func merge(allow, deny []netip.Prefix) *bart.Fast[uint8] {
	if len(allow) == 0 && len(deny) == 0 {
		return nil
	}
	t := new(bart.Fast[uint8])
	denyOnly := new(bart.Lite)
	for _, p := range deny {
		t.Insert(p, valDeny)
		denyOnly.Insert(p)
	}
	for _, p := range allow {
		if denyOnly.LookupPrefix(p) {
			continue // inside (or equal to) a deny prefix: never passes
		}
		t.Insert(p, valAllow)
	}
	return t
}

// NewTable parses entries (addresses or CIDRs, see ParsePrefix) into a
// prefix table; it is for callers outside the plugin config, such as tests
// or the admin API. The first bad entry is returned as an error naming its
// index.
func NewTable(entries []string) (*bart.Lite, error) {
	t := new(bart.Lite)
	for i, s := range entries {
		p, err := ParsePrefix(s)
		if err != nil {
			return nil, &EntryError{Index: i, Value: s, Err: err}
		}
		t.Insert(p)
	}
	return t, nil
}

// EntryError is a bad list entry.
type EntryError struct {
	Index int
	Value string
	Err   error
}

func (e *EntryError) Error() string {
	return fmt.Sprintf("ip-restriction: entry %d: invalid IP address or CIDR %q: %v", e.Index, e.Value, e.Err)
}

func (e *EntryError) Unwrap() error { return e.Err }
