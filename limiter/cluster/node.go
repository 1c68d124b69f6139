// Package cluster makes several edgeguard gateways share rate-limit state
// and IP blocks by gossip (github.com/hashicorp/memberlist), without Redis.
//
// A Node is one gateway's cluster membership. Rate-limit engines register
// with it (RegisterEngine; the rate-limiting plugin does so for `policy:
// cluster`), and so does the dynamic blocklist (AttachBlocklist).
//
// Rate limits: every node admits from its own copy of every bucket, so
// nothing on the request path waits on the network. Every sync interval the
// node drains the consumption of each key since the last sync
// (limiter.Engine.Drain) and sends it, in UDP batches of up to 1200 bytes,
// to every other live member. A receiver applies it to its copy
// (ApplyRemoteDebt), back-dated to the start of the sender's interval, and
// lets buckets go into debt, so consumption that several nodes admitted in
// the same interval is paid back afterwards. See README.md for the design,
// the comparison with Gubernator's owner-based GLOBAL mode and the measured
// accuracy.
//
// Blocks: a block added or removed on any node is sent directly to every
// member and gossiped; entries carry absolute expiry times, so they expire
// everywhere at the same instant. A node that joins (or rejoins after a
// partition) receives the blocklist and the state of every busy bucket in
// memberlist's push-pull exchange (LocalState / MergeRemoteState).
package cluster

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/hashicorp/memberlist"

	"github.com/edgeguard/edgeguard/filters/blocklist"
	"github.com/edgeguard/edgeguard/limiter"
)

// SharedKey is the filters.Env.Shared key under which the gateway stores
// its *Node, so that the rate-limiting plugin can find it.
const SharedKey = "cluster"

// DebtBursts is how far (in bursts) remote consumption may push a bucket
// below empty. It bounds how much of an overshoot (several nodes admitting
// in the same sync interval) is paid back.
const DebtBursts = 16

// Options are the parts of a node that are not configuration.
type Options struct {
	// Transport replaces the UDP/TCP transport on bind_addr:bind_port
	// (tests: memberlist.MockNetwork).
	Transport memberlist.Transport
	// Metrics receives the edgeguard_cluster_* metrics (nil: none).
	Metrics *metrics.Set
	// Logger (nil: discard). memberlist's own log goes to it at debug level.
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Tune adjusts the memberlist configuration before the node starts
	// (default: memberlist.DefaultLANConfig).
	Tune func(*memberlist.Config)
	// ManualSync disables the sync loop; the caller calls SyncNow.
	ManualSync bool
	// RejoinInterval is how often a node retries dead members and its
	// seeds (default 2s).
	RejoinInterval time.Duration
	// Blocklist, when set, is attached (AttachBlocklist) before the node
	// joins, so that the join brings the cluster's current blocks.
	Blocklist *blocklist.List
}

// Node is a gateway's membership in the cluster. Its methods are safe for
// concurrent use.
type Node struct {
	cfg      Config
	ml       *memberlist.Memberlist
	tr       *transport
	bq       *memberlist.TransmitLimitedQueue
	now      func() time.Time
	log      *slog.Logger
	enc      bool
	self     string
	selfAddr string

	engMu   sync.RWMutex
	engines map[string]*limiter.Engine
	// pending holds rate state received (on join) for engines not yet
	// registered: the gateway joins before it builds its plugins.
	pending      map[string][]pendingState
	pendingBytes int

	blk blockState

	memMu   sync.Mutex
	members map[string]*member

	syncMu    sync.Mutex
	lastDrain time.Time
	lastBeat  time.Time // real time of the last heartbeat
	writer    batchWriter
	out       []byte // this round's batches, [len][batch]...

	inflightMu sync.Mutex
	inflight   map[string]*peerQueue // reliable sends per peer
	sendWG     sync.WaitGroup
	lastSync   atomic.Int64 // unix ns of the last SyncNow

	stop     chan struct{}
	closed   atomic.Bool
	wg       sync.WaitGroup
	shutOnce sync.Once

	batchesSent, batchesRcvd, keysSent, keysRcvd, badMsgs, skipped *metrics.Counter
}

type member struct {
	name     string
	addr     string // host:port
	ip       net.IP // copies: memberlist mutates its own Node structs
	port     uint16
	state    string // alive, suspect, dead, left
	since    time.Time
	lastSync time.Time // last batch or heartbeat received from it
}

// New starts a node: it binds the gossip port, joins the seeds it can
// reach (the others are retried in the background) and starts the sync
// loop. cfg must have passed Validate.
func New(cfg Config, opts Options) (*Node, error) {
	key, err := cfg.Key()
	if err != nil {
		return nil, err
	}
	if key == nil && !cfg.Insecure {
		return nil, errors.New("cluster: refusing to start without a secret (set insecure: true to allow plain-text gossip)")
	}
	if ip := net.ParseIP(cfg.BindAddr); key == nil && opts.Transport == nil && (ip == nil || !ip.IsLoopback()) && !cfg.InsecureAllowPublic {
		return nil, fmt.Errorf("cluster: refusing plain-text gossip on %q, which is not a loopback address (set a secret, or insecure_allow_public: true)", cfg.BindAddr)
	}
	if cfg.SyncInterval <= 0 {
		cfg.SyncInterval = DefaultSyncInterval
	}
	if cfg.NodeName == "" {
		cfg.NodeName = defaultNodeName()
	}
	n := &Node{
		cfg:     cfg,
		now:     opts.Now,
		log:     opts.Logger,
		enc:     key != nil,
		self:    cfg.NodeName,
		engines: map[string]*limiter.Engine{},
		members: map[string]*member{},
		stop:    make(chan struct{}),
	}
	if n.now == nil {
		n.now = time.Now
	}
	if n.log == nil {
		n.log = slog.New(slog.DiscardHandler)
	}
	if key == nil {
		n.log.Warn("cluster: gossip is plain text and unauthenticated (insecure: true); anyone who can reach it can join "+
			"and change the shared blocklist and rate limits; set a secret", "bind_addr", cfg.BindAddr, "public", cfg.InsecureAllowPublic)
	}
	n.blk.init()
	set := opts.Metrics
	if set == nil {
		set = metrics.NewSet()
	}
	n.batchesSent = set.GetOrCreateCounter(`edgeguard_cluster_sync_batches_total{dir="sent"}`)
	n.batchesRcvd = set.GetOrCreateCounter(`edgeguard_cluster_sync_batches_total{dir="received"}`)
	n.keysSent = set.GetOrCreateCounter(`edgeguard_cluster_sync_keys_total{dir="sent"}`)
	n.keysRcvd = set.GetOrCreateCounter(`edgeguard_cluster_sync_keys_total{dir="received"}`)
	n.badMsgs = set.GetOrCreateCounter(`edgeguard_cluster_bad_messages_total`)
	n.skipped = set.GetOrCreateCounter(`edgeguard_cluster_sync_dropped_total`)
	set.GetOrCreateGauge(`edgeguard_cluster_members{state="alive"}`, func() float64 { return float64(n.count("alive")) })
	set.GetOrCreateGauge(`edgeguard_cluster_members{state="dead"}`, func() float64 { return float64(n.count("dead")) })
	set.GetOrCreateGauge(`edgeguard_cluster_sync_lag_seconds`, func() float64 { return n.syncLag().Seconds() })

	mc := memberlist.DefaultLANConfig()
	mc.Name = cfg.NodeName
	mc.BindAddr = cfg.BindAddr
	if cfg.BindPort != nil {
		mc.BindPort = *cfg.BindPort
	}
	mc.AdvertiseAddr = cfg.AdvertiseAddr
	mc.AdvertisePort = cfg.AdvertisePort
	mc.Delegate = (*delegate)(n)
	mc.Events = (*events)(n)
	// memberlist's LZW compression allocates ~90 KB per message: at 10,000
	// active keys that is ~30 MB of garbage per sync round for a 2.6×
	// smaller wire size (README). Gossip runs on the LAN; keep it off.
	mc.EnableCompression = false
	mc.Logger = slog.NewLogLogger(n.log.Handler(), slog.LevelDebug)
	mc.LogOutput = nil
	if key != nil {
		kr, err := memberlist.NewKeyring(nil, key)
		if err != nil {
			return nil, fmt.Errorf("cluster: %w", err)
		}
		mc.Keyring = kr
		mc.GossipVerifyIncoming, mc.GossipVerifyOutgoing = true, true
	}
	if opts.Tune != nil {
		opts.Tune(mc)
	}
	inner := opts.Transport
	if inner == nil {
		nt, err := memberlist.NewNetTransport(&memberlist.NetTransportConfig{
			BindAddrs: []string{mc.BindAddr}, BindPort: mc.BindPort, Logger: mc.Logger,
		})
		if err != nil {
			return nil, fmt.Errorf("cluster: cannot listen on %s: %w", net.JoinHostPort(mc.BindAddr, strconv.Itoa(mc.BindPort)), err)
		}
		if mc.BindPort == 0 {
			mc.BindPort = nt.GetAutoBindPort()
		}
		inner = nt
	}
	if mc.AdvertisePort == 0 {
		mc.AdvertisePort = mc.BindPort
	}
	n.tr = newTransport(inner, set)
	mc.Transport = n.tr
	n.bq = &memberlist.TransmitLimitedQueue{NumNodes: n.numAlive, RetransmitMult: mc.RetransmitMult}

	ml, err := memberlist.Create(mc)
	if err != nil {
		n.tr.Shutdown()
		return nil, fmt.Errorf("cluster: %w", err)
	}
	n.ml = ml
	n.selfAddr = ml.LocalNode().Address()
	if opts.Blocklist != nil {
		n.AttachBlocklist(opts.Blocklist)
	}
	if len(cfg.Seeds) > 0 {
		if _, err := ml.Join(n.otherSeeds()); err != nil {
			n.log.Warn("cluster: no seed reachable yet; retrying in the background", "err", err)
		}
	}
	if !opts.ManualSync {
		n.wg.Add(1)
		go n.syncLoop()
	}
	ri := opts.RejoinInterval
	if ri <= 0 {
		ri = 2 * time.Second
	}
	n.wg.Add(1)
	go n.rejoinLoop(ri)
	return n, nil
}

func defaultNodeName() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "edgeguard"
	}
	return h
}

// Name returns the node's name.
func (n *Node) Name() string { return n.self }

// Addr returns the address peers use to reach this node (host:port).
func (n *Node) Addr() string { return n.selfAddr }

// Join joins the cluster through the given addresses (host:port) and
// returns how many it reached.
func (n *Node) Join(addrs ...string) (int, error) { return n.ml.Join(addrs) }

// Shutdown leaves the cluster (telling the others) and stops every
// goroutine of the node. It is idempotent.
func (n *Node) Shutdown() error {
	var err error
	n.shutOnce.Do(func() {
		n.closed.Store(true)
		close(n.stop)
		n.wg.Wait()
		// Tell the others this is a leave, not a crash (see NodeMeta).
		if e := n.ml.UpdateNode(time.Second); e != nil {
			n.log.Debug("cluster: announce leave", "err", e)
		}
		if e := n.ml.Leave(time.Second); e != nil {
			n.log.Debug("cluster: leave", "err", e)
		}
		err = n.ml.Shutdown()
		n.sendWG.Wait()
	})
	return err
}

// kill stops the node without leaving, as a crash would (tests).
func (n *Node) kill() {
	n.shutOnce.Do(func() {
		n.closed.Store(true)
		close(n.stop)
		n.wg.Wait()
		n.ml.Shutdown()
		n.sendWG.Wait()
	})
}

// RegisterEngine makes name's engine part of the cluster sync. name must be
// the same on every node (the rate-limiting plugin uses its instance name)
// and e must have been created with TrackDeltas. Registering a name again
// replaces its engine (config reload).
func (n *Node) RegisterEngine(name string, e *limiter.Engine) error {
	if len(name) > maxNameLen {
		return fmt.Errorf("cluster: engine name longer than %d bytes", maxNameLen)
	}
	n.engMu.Lock()
	n.engines[name] = e
	ps := n.pending[name]
	delete(n.pending, name)
	for _, p := range ps {
		n.pendingBytes -= len(p.key) + 64
	}
	n.engMu.Unlock()
	// State received before the engine existed, merged as of when it
	// arrived (bucket state is absolute in time, so nothing is lost).
	now := n.now()
	for i := range ps {
		p := &ps[i]
		if now.Sub(p.at) > time.Hour {
			continue
		}
		if lim := e.LimitByName(p.lim); lim != nil {
			e.MergeUsage(p.key, lim, &p.u, p.at)
		}
	}
	return nil
}

// pendingState is a key's state waiting for its engine.
type pendingState struct {
	lim string
	key []byte
	u   limiter.Usage
	at  time.Time
}

// maxPending bounds the state kept for engines not registered yet.
const maxPending = 32 << 20

func (n *Node) keepPending(engine string, s *stateEntry, at time.Time) {
	n.engMu.Lock()
	defer n.engMu.Unlock()
	if e := n.engines[engine]; e != nil {
		if lim := e.LimitByName(s.lim); lim != nil {
			e.MergeUsage(s.key, lim, &s.u, at)
		}
		return
	}
	if n.pendingBytes > maxPending {
		return
	}
	if n.pending == nil {
		n.pending = map[string][]pendingState{}
	}
	n.pending[engine] = append(n.pending[engine], pendingState{lim: s.lim, key: append([]byte(nil), s.key...), u: s.u, at: at})
	n.pendingBytes += len(s.key) + 64
}

func (n *Node) engine(name string) *limiter.Engine {
	n.engMu.RLock()
	defer n.engMu.RUnlock()
	return n.engines[name]
}

// otherSeeds returns the seeds except this node's own address.
func (n *Node) otherSeeds() []string {
	self := n.selfAddr
	var out []string
	for _, s := range n.cfg.Seeds {
		if s != self {
			out = append(out, s)
		}
	}
	return out
}

// peers returns the live members other than this node, as copies (the
// *Node values memberlist.Members returns are updated in place by
// memberlist and cannot be read safely).
func (n *Node) peers() []*memberlist.Node {
	n.memMu.Lock()
	defer n.memMu.Unlock()
	out := make([]*memberlist.Node, 0, len(n.members))
	for _, m := range n.members {
		if m.name != n.self && m.state == "alive" {
			out = append(out, &memberlist.Node{Name: m.name, Addr: append(net.IP(nil), m.ip...), Port: m.port})
		}
	}
	return out
}

func (n *Node) numAlive() int { return n.ml.NumMembers() }

// syncLoop runs SyncNow every sync interval until Shutdown.
func (n *Node) syncLoop() {
	defer n.wg.Done()
	t := time.NewTicker(n.cfg.SyncInterval)
	defer t.Stop()
	for {
		select {
		case <-n.stop:
			return
		case <-t.C:
			n.SyncNow()
		}
	}
}

// SyncNow sends the consumption recorded since the last sync to every live
// member (the sync loop calls it every sync interval).
func (n *Node) SyncNow() {
	n.syncMu.Lock()
	defer n.syncMu.Unlock()
	if n.closed.Load() {
		return
	}
	now := n.now()
	window := n.cfg.SyncInterval
	if !n.lastDrain.IsZero() {
		window = max(now.Sub(n.lastDrain), 0)
	}
	n.lastDrain = now
	peers := n.peers()

	n.engMu.RLock()
	names := make([]string, 0, len(n.engines))
	for name := range n.engines {
		names = append(names, name)
	}
	n.engMu.RUnlock()

	w := &n.writer
	n.out = n.out[:0]
	packets, keys := 0, 0
	flush := func() {
		n.out = appendBytesLong(n.out, w.buf)
		packets++
		keys += w.n
	}
	for _, name := range names {
		e := n.engine(name)
		if e == nil {
			continue
		}
		h := rateHeader{sender: n.self, window: window, engine: name}
		w.reset(&h)
		e.Drain(func(key []byte, lim *limiter.Limit, cnt uint32) {
			if lim == nil || len(lim.Name()) > maxNameLen || len(peers) == 0 {
				return
			}
			if !w.add(lim, key, cnt) {
				flush()
				w.reset(&h)
				w.add(lim, key, cnt)
			}
		})
		if w.n > 0 {
			flush()
		}
	}
	switch {
	case len(peers) == 0:
	case packets == 0:
		// Heartbeats only feed Status and the lag metric: at most one per
		// sync interval of real time (SyncNow may be called faster).
		if time.Since(n.lastBeat) < n.cfg.SyncInterval {
			break
		}
		n.lastBeat = time.Now()
		hb := appendString([]byte{msgHeartbeat}, n.self)
		for _, p := range peers {
			_ = n.ml.SendBestEffort(p, hb)
		}
	case packets <= maxUDPPackets:
		// Few keys: one UDP packet per batch, nothing to set up.
		for b := n.out; len(b) > 0; {
			pkt, rest, _ := readBytesLong(b)
			b = rest
			for _, p := range peers {
				if err := n.ml.SendBestEffort(p, pkt); err != nil {
					n.log.Debug("cluster: send", "to", p.Name, "err", err)
					continue
				}
				n.batchesSent.Inc()
			}
		}
		n.keysSent.Add(keys * len(peers))
	default:
		// Many keys: one message per peer over TCP. memberlist reads
		// every UDP packet into a fresh 64 KB buffer, so hundreds of
		// packets per round would be ~64 KB of garbage each; a stream
		// costs about the message size, and it is not lossy.
		for _, p := range peers {
			n.sendReliable(p, n.out, packets, keys)
		}
	}
	n.lastSync.Store(now.UnixNano())
}

// maxUDPPackets is the most batches a sync round sends as UDP packets;
// larger rounds go over TCP.
const maxUDPPackets = 4

// maxQueued bounds the batches waiting for a slow peer; beyond it a round
// is dropped for that peer (its view is then more lenient, never stricter).
const maxQueued = 16 << 20

// peerQueue serialises the reliable sends to one peer: while one runs, the
// next rounds' batches are appended and go out together.
type peerQueue struct {
	busy    bool
	pending []byte // [len][batch]...
}

// sendReliable sends body ([len][batch]...) to p over TCP in the
// background, or queues it behind a send still running.
func (n *Node) sendReliable(p *memberlist.Node, body []byte, packets, keys int) {
	n.inflightMu.Lock()
	if n.inflight == nil {
		n.inflight = map[string]*peerQueue{}
	}
	q := n.inflight[p.Name]
	if q == nil {
		q = &peerQueue{}
		n.inflight[p.Name] = q
	}
	n.batchesSent.Add(packets)
	n.keysSent.Add(keys)
	if q.busy {
		if len(q.pending)+len(body) > maxQueued {
			n.skipped.Inc()
		} else {
			q.pending = append(q.pending, body...)
		}
		n.inflightMu.Unlock()
		return
	}
	q.busy = true
	n.inflightMu.Unlock()
	msg := append([]byte{msgMulti}, body...)
	n.sendWG.Add(1)
	go func() {
		defer n.sendWG.Done()
		for {
			if err := n.ml.SendReliable(p, msg); err != nil {
				n.log.Debug("cluster: send", "to", p.Name, "err", err)
			}
			n.inflightMu.Lock()
			if len(q.pending) == 0 || n.closed.Load() {
				q.busy, q.pending = false, nil
				n.inflightMu.Unlock()
				return
			}
			msg = append([]byte{msgMulti}, q.pending...)
			q.pending = nil
			n.inflightMu.Unlock()
		}
	}()
}

// applyRate applies a peer's batch (msg without the type byte).
func (n *Node) applyRate(msg []byte) error {
	now := n.now()
	var e *limiter.Engine
	var at time.Time
	var lastName string
	var lim *limiter.Limit
	keys := 0
	err := parseRate(msg, func(h *rateHeader) bool {
		n.touch(h.sender, now)
		if h.sender == n.self {
			return false
		}
		e = n.engine(h.engine)
		// Back-date to the start of the sender's interval, less a
		// transit allowance: applied earlier than it happened, remote
		// consumption can only be more lenient, never cause a false 429.
		at = now.Add(-h.window - n.cfg.SyncInterval/10)
		return e != nil
	}, func(r *rateEntry) {
		if r.lim != lastName || lim == nil {
			lastName, lim = r.lim, e.LimitByName(r.lim)
		}
		if lim == nil {
			return // a tier this node does not have (config drift)
		}
		e.ApplyRemoteDebt(r.key, lim, int64(r.n), at, DebtBursts)
		keys++
	})
	n.batchesRcvd.Inc()
	n.keysRcvd.Add(keys)
	return err
}

// touch records that a batch or heartbeat came from name.
func (n *Node) touch(name string, now time.Time) {
	n.memMu.Lock()
	if m := n.members[name]; m != nil {
		m.lastSync = now
	}
	n.memMu.Unlock()
}

// rejoinLoop retries dead members and, when alone, the seeds, so that a
// partition heals and a restarted seed is found again.
func (n *Node) rejoinLoop(every time.Duration) {
	defer n.wg.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-n.stop:
			return
		case <-t.C:
		}
		var addrs []string
		now := n.now()
		n.memMu.Lock()
		for name, m := range n.members {
			switch {
			case m.state == "dead" && now.Sub(m.since) > 10*time.Minute,
				m.state == "left" && now.Sub(m.since) > time.Minute:
				delete(n.members, name)
			case m.state == "dead":
				addrs = append(addrs, m.addr)
			}
		}
		n.memMu.Unlock()
		if n.ml.NumMembers() <= 1 {
			addrs = append(addrs, n.otherSeeds()...)
		}
		if len(addrs) > 0 {
			if k, err := n.ml.Join(addrs); err != nil && k == 0 {
				n.log.Debug("cluster: rejoin", "err", err)
			}
		}
		n.blk.prune(now)
	}
}

// events tracks membership for Status and metrics.
type events Node

func (ev *events) set(m *memberlist.Node, state string) {
	n := (*Node)(ev)
	now := n.now()
	n.memMu.Lock()
	defer n.memMu.Unlock()
	cur := n.members[m.Name]
	if cur == nil {
		cur = &member{name: m.Name}
		n.members[m.Name] = cur
	}
	changed := cur.state != state
	if changed {
		cur.since = now
	}
	// Called under memberlist's node lock: the only safe moment to read m.
	cur.ip = append(cur.ip[:0], m.Addr...)
	cur.port = m.Port
	cur.addr, cur.state = net.JoinHostPort(cur.ip.String(), strconv.Itoa(int(m.Port))), state
	if changed && m.Name != n.self {
		logMember(n.log, m.Name, cur.addr, state)
	}
}

// logMember logs a peer's change of state: joined and left at INFO, dead
// or suspect at WARN.
func logMember(log *slog.Logger, name, addr, state string) {
	switch state {
	case "alive":
		log.Info("cluster: member joined", "member", name, "addr", addr)
	case "left":
		log.Info("cluster: member left", "member", name, "addr", addr)
	default:
		log.Warn("cluster: member "+state, "member", name, "addr", addr)
	}
}

func (ev *events) NotifyJoin(m *memberlist.Node) { ev.set(m, "alive") }
func (ev *events) NotifyLeave(m *memberlist.Node) {
	if m.State == memberlist.StateLeft || bytes.Equal(m.Meta, metaLeaving) {
		ev.set(m, "left")
	} else {
		ev.set(m, "dead")
	}
}
func (ev *events) NotifyUpdate(m *memberlist.Node) { ev.set(m, stateName(m.State)) }

func stateName(s memberlist.NodeStateType) string {
	switch s {
	case memberlist.StateAlive:
		return "alive"
	case memberlist.StateSuspect:
		return "suspect"
	case memberlist.StateDead:
		return "dead"
	case memberlist.StateLeft:
		return "left"
	}
	return "unknown"
}

func (n *Node) count(state string) int {
	n.memMu.Lock()
	defer n.memMu.Unlock()
	k := 0
	for _, m := range n.members {
		if m.state == state {
			k++
		}
	}
	return k
}

// syncLag is the longest time since a live peer was last heard from by
// the sync (batch or heartbeat); 0 when alone.
func (n *Node) syncLag() time.Duration {
	now := n.now()
	var lag time.Duration
	n.memMu.Lock()
	defer n.memMu.Unlock()
	for _, m := range n.members {
		if m.name == n.self || m.state != "alive" {
			continue
		}
		ref := m.lastSync
		if ref.IsZero() {
			ref = m.since
		}
		lag = max(lag, now.Sub(ref))
	}
	return lag
}

// Status is what the admin endpoint GET /cluster shows.
type Status struct {
	Node         string         `json:"node"`
	Address      string         `json:"address"`
	Encrypted    bool           `json:"encrypted"`
	SyncInterval string         `json:"sync_interval"`
	LastSync     time.Time      `json:"last_sync,omitzero"` // last time this node sent its deltas
	SyncLag      string         `json:"sync_lag"`
	Members      []MemberStatus `json:"members"`
	RateLimiters []string       `json:"rate_limiters"`
	Blocklist    bool           `json:"blocklist"`
	GossipSent   uint64         `json:"gossip_bytes_sent"`
	GossipRcvd   uint64         `json:"gossip_bytes_received"`
}

// MemberStatus is one member in Status.
type MemberStatus struct {
	Name    string    `json:"name"`
	Address string    `json:"address"`
	State   string    `json:"state"` // alive, dead, left
	Since   time.Time `json:"since"`
	// LastSync is when this node last received a batch or heartbeat from
	// the member (zero for itself).
	LastSync time.Time `json:"last_sync,omitzero"`
	Self     bool      `json:"self,omitempty"`
}

// Status returns the node's view of the cluster.
func (n *Node) Status() Status {
	st := Status{
		Node:         n.self,
		Address:      n.selfAddr,
		Encrypted:    n.enc,
		SyncInterval: n.cfg.SyncInterval.String(),
		SyncLag:      n.syncLag().String(),
		GossipSent:   n.tr.sent.Get(),
		GossipRcvd:   n.tr.rcv.Get(),
	}
	if ns := n.lastSync.Load(); ns != 0 {
		st.LastSync = time.Unix(0, ns).UTC()
	}
	n.memMu.Lock()
	for _, m := range n.members {
		ms := MemberStatus{Name: m.name, Address: m.addr, State: m.state, Since: m.since.UTC(), Self: m.name == n.self}
		if !m.lastSync.IsZero() {
			ms.LastSync = m.lastSync.UTC()
		}
		st.Members = append(st.Members, ms)
	}
	n.memMu.Unlock()
	slices.SortFunc(st.Members, func(a, b MemberStatus) int {
		switch {
		case a.Name < b.Name:
			return -1
		case a.Name > b.Name:
			return 1
		}
		return 0
	})
	n.engMu.RLock()
	for name := range n.engines {
		st.RateLimiters = append(st.RateLimiters, name)
	}
	n.engMu.RUnlock()
	slices.Sort(st.RateLimiters)
	st.Blocklist = n.blk.list() != nil
	return st
}

// delegate is memberlist's view of the node.
type delegate Node

// NodeMeta is metaLeaving once Shutdown has begun: memberlist hands a
// left node to NotifyLeave with the state it had before (Node.State is
// not updated), so peers tell a leave from a death by this meta.
func (d *delegate) NodeMeta(limit int) []byte {
	if (*Node)(d).closed.Load() {
		return metaLeaving
	}
	return nil
}

var metaLeaving = []byte("leaving")

func (d *delegate) NotifyMsg(b []byte) {
	n := (*Node)(d)
	if len(b) == 0 {
		return
	}
	var err error
	switch b[0] {
	case msgRate:
		err = n.applyRate(b[1:])
	case msgHeartbeat:
		var name string
		if name, _, err = readString(b[1:]); err == nil {
			n.touch(name, n.now())
		}
	case msgBlock:
		err = n.applyBlockMsg(b[1:])
	case msgMulti:
		for rest := b[1:]; len(rest) > 0 && err == nil; {
			var pkt []byte
			if pkt, rest, err = readBytes(rest, maxPacket); err == nil {
				if len(pkt) == 0 || pkt[0] != msgRate {
					err = errBad
				} else {
					err = n.applyRate(pkt[1:])
				}
			}
		}
	default:
		err = errBad
	}
	if err != nil {
		n.badMsgs.Inc()
		n.log.Debug("cluster: bad message", "err", err)
	}
}

func (d *delegate) GetBroadcasts(overhead, limit int) [][]byte {
	return d.bq.GetBroadcasts(overhead, limit)
}

func (d *delegate) LocalState(join bool) []byte {
	return (*Node)(d).localState(join)
}

func (d *delegate) MergeRemoteState(buf []byte, join bool) {
	n := (*Node)(d)
	if err := n.mergeState(buf); err != nil {
		n.badMsgs.Inc()
		n.log.Warn("cluster: bad state from a peer", "err", err)
	}
}

// maxStateBytes bounds the rate-limit part of LocalState (memberlist
// refuses push-pull states above 20 MB).
const maxStateBytes = 16 << 20

// localState is the push-pull payload: [version][blocklist JSON][engines].
// The rate state is sent on joins only (a joining or rejoining node needs
// it; periodic push-pulls would only repeat what the deltas carried).
func (n *Node) localState(join bool) []byte {
	b := []byte{stateVersion}
	b = appendBytesLong(b, n.blk.stateJSON(n.now()))
	if !join {
		return binaryAppendCount(b, 0)
	}
	n.engMu.RLock()
	names := make([]string, 0, len(n.engines))
	for name := range n.engines {
		names = append(names, name)
	}
	n.engMu.RUnlock()
	slices.Sort(names)
	b = binaryAppendCount(b, len(names))
	now := n.now()
	for _, name := range names {
		b = appendRateState(b, name, n.engine(name), now, maxStateBytes)
	}
	return b
}

func (n *Node) mergeState(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	if b[0] != stateVersion {
		return fmt.Errorf("cluster: unknown state version %d", b[0])
	}
	blk, b, err := readBytesLong(b[1:])
	if err != nil {
		return err
	}
	if err := n.blk.mergeJSON(n, blk); err != nil {
		return err
	}
	count, b, err := readUvarint(b)
	if err != nil {
		return err
	}
	now := n.now()
	for i := uint64(0); i < count; i++ {
		var e *limiter.Engine
		var lastName, lastLim string
		var lim *limiter.Limit
		b, err = parseRateState(b, func(engine string, s *stateEntry) {
			if engine != lastName {
				lastName, e, lim, lastLim = engine, n.engine(engine), nil, ""
			}
			if e == nil {
				n.keepPending(engine, s, now)
				return
			}
			if lim == nil || s.lim != lastLim {
				lastLim, lim = s.lim, e.LimitByName(s.lim)
			}
			if lim != nil {
				e.MergeUsage(s.key, lim, &s.u, now)
			}
		})
		if err != nil {
			return err
		}
	}
	return nil
}

func binaryAppendCount(b []byte, k int) []byte { return appendUvarint(b, uint64(k)) }

// AttachBlocklist makes l cluster-wide: its changes are sent to every
// member and the members' changes are applied to it.
func (n *Node) AttachBlocklist(l *blocklist.List) { n.blk.attach(n, l) }

// addrKey is a comparable prefix for maps.
type addrKey = netip.Prefix

// Offline stands in for a Node where the cluster is configured but must not
// start (`edgeguard validate`): stored under SharedKey, it lets `policy:
// cluster` plugins build, and their engines sync with nobody.
type Offline struct{}

// RegisterEngine accepts the engine and does nothing.
func (Offline) RegisterEngine(string, *limiter.Engine) error { return nil }
