package cluster

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"net/netip"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/edgeguard/edgeguard/filters/blocklist"
	"github.com/edgeguard/edgeguard/filters/iprestrict"
)

// Blocklist propagation. Conflicts are resolved last-writer-wins by wall
// time: an add carries its CreatedAt, a removal the time it happened, and
// a node keeps the newest version per prefix (tombstones for removals are
// kept for tombstoneTTL so that a push-pull from a node that missed the
// removal does not bring the entry back).

const tombstoneTTL = 10 * time.Minute

// maxBlockState bounds the blocklist JSON accepted from a peer.
const maxBlockState = 64 << 20

type blockMsg struct {
	Op     string          `json:"op"` // add, remove
	Entry  blocklist.Entry `json:"entry"`
	At     time.Time       `json:"at,omitzero"` // remove: when
	Sender string          `json:"sender,omitempty"`
}

type blockStateDoc struct {
	Entries    []blocklist.Entry `json:"entries"`
	Tombstones []tombstone       `json:"tombstones,omitempty"`
}

type tombstone struct {
	Prefix netip.Prefix `json:"prefix"`
	At     time.Time    `json:"at"`
}

type blockState struct {
	mu   sync.Mutex
	l    *blocklist.List
	seen map[addrKey]blocklist.Entry // last entry received from the cluster, by prefix
	dead map[addrKey]time.Time       // tombstones
}

func (s *blockState) init() {
	s.seen = map[addrKey]blocklist.Entry{}
	s.dead = map[addrKey]time.Time{}
}

func (s *blockState) list() *blocklist.List {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.l
}

func sameEntry(a, b blocklist.Entry) bool {
	return a.Prefix == b.Prefix && a.Reason == b.Reason && a.Source == b.Source &&
		a.CreatedAt.Equal(b.CreatedAt) && a.ExpiresAt.Equal(b.ExpiresAt)
}

func (s *blockState) attach(n *Node, l *blocklist.List) {
	s.mu.Lock()
	if s.l != nil {
		s.mu.Unlock()
		return
	}
	s.l = l
	s.mu.Unlock()
	l.OnChange(func(c blocklist.Change) { s.onLocal(n, c) })
}

// onLocal is the blocklist hook: it sends local changes to the cluster and
// ignores the ones the cluster made.
func (s *blockState) onLocal(n *Node, c blocklist.Change) {
	if n.closed.Load() {
		return
	}
	p := c.Entry.Prefix
	var m blockMsg
	switch c.Op {
	case blocklist.Added:
		s.mu.Lock()
		if e, ok := s.seen[p]; ok && sameEntry(e, c.Entry) {
			s.mu.Unlock()
			return // applied from the cluster
		}
		s.seen[p] = c.Entry
		delete(s.dead, p)
		s.mu.Unlock()
		m = blockMsg{Op: "add", Entry: c.Entry}
	case blocklist.Removed:
		now := n.now().UTC()
		s.mu.Lock()
		if _, ok := s.seen[p]; !ok {
			if _, ok := s.dead[p]; ok {
				s.mu.Unlock()
				return // removed by the cluster
			}
		}
		delete(s.seen, p)
		s.dead[p] = now
		s.mu.Unlock()
		m = blockMsg{Op: "remove", Entry: c.Entry, At: now}
	default:
		return // expiry happens everywhere at the same absolute time
	}
	m.Sender = n.self
	b, err := json.Marshal(&m)
	if err != nil {
		return
	}
	msg := append([]byte{msgBlock}, b...)
	// Direct to every live member now (TCP, in the background: blocks
	// are rare and must arrive), and by gossip for members this node does
	// not know of yet.
	for _, p := range n.peers() {
		n.sendWG.Add(1)
		go func() {
			defer n.sendWG.Done()
			if err := n.ml.SendReliable(p, msg); err != nil {
				n.log.Debug("cluster: send block", "to", p.Name, "err", err)
			}
		}()
	}
	n.bq.QueueBroadcast(&blockBroadcast{prefix: p, msg: msg})
}

// applyBlockMsg applies a peer's change (msg without the type byte).
func (n *Node) applyBlockMsg(b []byte) error {
	var m blockMsg
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	if m.Sender == n.self {
		return nil
	}
	switch m.Op {
	case "add":
		return n.blk.applyAdd(m.Entry)
	case "remove":
		n.blk.applyRemove(m.Entry.Prefix, m.At)
		return nil
	}
	return errors.New("cluster: unknown block op")
}

func (s *blockState) applyAdd(e blocklist.Entry) error {
	if !e.Prefix.IsValid() {
		return errors.New("cluster: invalid prefix")
	}
	e.Prefix = iprestrict.Canonical(e.Prefix)
	s.mu.Lock()
	l := s.l
	if l == nil {
		s.mu.Unlock()
		return nil
	}
	if at, ok := s.dead[e.Prefix]; ok && !e.CreatedAt.After(at) {
		s.mu.Unlock()
		return nil // removed after it was created
	}
	s.mu.Unlock()
	if cur, ok := l.Get(e.Prefix); ok && (cur.CreatedAt.After(e.CreatedAt) || sameEntry(cur, e)) {
		return nil // ours is newer, or already there
	}
	s.mu.Lock()
	s.seen[e.Prefix] = e
	delete(s.dead, e.Prefix)
	s.mu.Unlock()
	_, _, err := l.Put(e)
	return err
}

func (s *blockState) applyRemove(p netip.Prefix, at time.Time) {
	if !p.IsValid() {
		return
	}
	p = iprestrict.Canonical(p)
	s.mu.Lock()
	l := s.l
	if old, ok := s.dead[p]; !ok || at.After(old) {
		s.dead[p] = at
	}
	delete(s.seen, p)
	s.mu.Unlock()
	if l == nil {
		return
	}
	if cur, ok := l.Get(p); ok && !cur.CreatedAt.After(at) {
		l.Remove(p)
	}
}

// stateJSON is the blocklist part of LocalState.
func (s *blockState) stateJSON(now time.Time) []byte {
	s.mu.Lock()
	l := s.l
	doc := blockStateDoc{}
	for p, at := range s.dead {
		doc.Tombstones = append(doc.Tombstones, tombstone{Prefix: p, At: at})
	}
	s.mu.Unlock()
	if l == nil {
		return nil
	}
	for _, e := range l.Entries() {
		if e.Active(now) {
			doc.Entries = append(doc.Entries, e)
		}
	}
	b, _ := json.Marshal(&doc)
	return b
}

func (s *blockState) mergeJSON(n *Node, b []byte) error {
	if len(b) == 0 || s.list() == nil {
		return nil
	}
	var doc blockStateDoc
	if err := json.Unmarshal(b, &doc); err != nil {
		return err
	}
	for _, t := range doc.Tombstones {
		s.applyRemove(t.Prefix, t.At)
	}
	var firstErr error
	for _, e := range doc.Entries {
		if err := s.applyAdd(e); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	return firstErr
}

// prune drops old tombstones and remembered entries that have expired.
func (s *blockState) prune(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for p, at := range s.dead {
		if now.Sub(at) > tombstoneTTL {
			delete(s.dead, p)
		}
	}
	for p, e := range s.seen {
		if !e.Active(now) {
			delete(s.seen, p)
		}
	}
}

// blockBroadcast is a change in memberlist's gossip queue; a newer change
// of the same prefix replaces an older one still queued.
type blockBroadcast struct {
	prefix netip.Prefix
	msg    []byte
}

func (b *blockBroadcast) Invalidates(other memberlist.Broadcast) bool {
	o, ok := other.(*blockBroadcast)
	return ok && o.prefix == b.prefix
}
func (b *blockBroadcast) Message() []byte { return b.msg }
func (b *blockBroadcast) Finished()       {}

func appendUvarint(b []byte, v uint64) []byte { return binary.AppendUvarint(b, v) }

func appendBytesLong(b, s []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func readBytesLong(b []byte) ([]byte, []byte, error) {
	return readBytes(b, maxBlockState)
}
