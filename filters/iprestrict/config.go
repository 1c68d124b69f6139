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
type compiled struct {
	allow, deny *bart.Lite // nil when the list is empty
	status      int
	message     string // "" means the default message with the client IP
	nAllow      int
	nDeny       int
}

// Deprecation is a warning about an old field name, with its place.
type Deprecation struct {
	File, Path string
	Line       int
	Old, New   string
}

// compile validates cfg (decoded from n) and builds the prefix tables.
// Problems are recorded on n; ok is false when there were any. Warnings
// about deprecated names are returned for the caller to log.
func compile(n confnode.Node, cfg *Config) (c compiled, warnings []Deprecation, ok bool) {
	before := len(n.Errs.List)

	allowField, denyField := "allow", "deny"
	allow, deny := cfg.Allow, cfg.Deny
	if len(cfg.Whitelist) > 0 || n.Field("whitelist").Present() {
		if n.Field("allow").Present() {
			n.FieldErrorf("whitelist", "cannot be combined with allow: whitelist is the old name of allow, keep only allow")
		} else {
			allow, allowField = cfg.Whitelist, "whitelist"
			warnings = append(warnings, deprecation(n, "whitelist", "allow"))
		}
	}
	if len(cfg.Blacklist) > 0 || n.Field("blacklist").Present() {
		if n.Field("deny").Present() {
			n.FieldErrorf("blacklist", "cannot be combined with deny: blacklist is the old name of deny, keep only deny")
		} else {
			deny, denyField = cfg.Blacklist, "blacklist"
			warnings = append(warnings, deprecation(n, "blacklist", "deny"))
		}
	}

	if len(allow) == 0 && len(deny) == 0 {
		n.Errorf("at least one of allow or deny must be non-empty")
	}
	c.allow, c.nAllow = buildTable(n.Field(allowField), allow)
	c.deny, c.nDeny = buildTable(n.Field(denyField), deny)

	c.status = cfg.Status
	if !n.Field("status").Present() {
		c.status = DefaultStatus
	} else if c.status < 400 || c.status > 599 {
		n.FieldErrorf("status", "must be an HTTP error status (400-599), got %d", c.status)
	}
	c.message = cfg.Message
	return c, warnings, len(n.Errs.List) == before
}

func deprecation(n confnode.Node, old, repl string) Deprecation {
	f := n.Field(old)
	return Deprecation{File: f.File, Path: f.Path, Line: f.Line(), Old: old, New: repl}
}

// buildTable parses entries into a prefix table, recording an error at the
// index of every bad entry. It returns nil for an empty list.
func buildTable(n confnode.Node, entries []string) (*bart.Lite, int) {
	if len(entries) == 0 {
		return nil, 0
	}
	t := new(bart.Lite)
	for i, s := range entries {
		p, err := ParsePrefix(s)
		if err != nil {
			n.Index(i).Errorf("invalid IP address or CIDR %q: %v", s, err)
			continue
		}
		t.Insert(p)
	}
	return t, len(entries)
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

// Contains reports whether addr (unmapped first) is in t. t may be nil.
func Contains(t *bart.Lite, addr netip.Addr) bool {
	return t != nil && t.Contains(addr.Unmap())
}
