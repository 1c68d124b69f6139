package cluster

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/hashicorp/memberlist"
)

// errPartitioned is what a partitioned transport answers to writes and dials.
var errPartitioned = errors.New("cluster: node is partitioned (test)")

// transport wraps the memberlist transport of a node: it counts the bytes
// of every packet and stream (gossip bytes sent/received) and can cut the
// node off the network (Partition) so tests can simulate a network split
// without root privileges.
type transport struct {
	inner   memberlist.Transport
	packets chan *memberlist.Packet
	streams chan net.Conn
	stop    chan struct{}
	done    chan struct{}
	wg      sync.WaitGroup
	once    sync.Once

	cut       atomic.Bool
	sent, rcv *metrics.Counter
}

func newTransport(inner memberlist.Transport, set *metrics.Set) *transport {
	if set == nil {
		set = metrics.NewSet() // private; still counts for Status
	}
	t := &transport{
		inner:   inner,
		packets: make(chan *memberlist.Packet),
		streams: make(chan net.Conn),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
		sent:    set.GetOrCreateCounter(`edgeguard_cluster_gossip_bytes_total{dir="sent"}`),
		rcv:     set.GetOrCreateCounter(`edgeguard_cluster_gossip_bytes_total{dir="received"}`),
	}
	t.wg.Add(2)
	go t.pumpPackets()
	go t.pumpStreams()
	return t
}

// The pumps forward the inner transport's packets and streams until
// Shutdown. After stop is closed they drop what still arrives (the inner
// transport blocks on its unbuffered channels until its listeners are
// closed) and return once done is closed.
func (t *transport) pumpPackets() {
	defer t.wg.Done()
	in := t.inner.PacketCh()
	for {
		select {
		case p := <-in:
			if t.cut.Load() {
				continue
			}
			t.rcv.Add(len(p.Buf))
			select {
			case t.packets <- p:
			case <-t.stop:
			}
		case <-t.done:
			return
		}
	}
}

func (t *transport) pumpStreams() {
	defer t.wg.Done()
	in := t.inner.StreamCh()
	for {
		select {
		case c := <-in:
			if t.cut.Load() {
				c.Close()
				continue
			}
			select {
			case t.streams <- &countConn{Conn: c, t: t}:
			case <-t.stop:
				c.Close()
			}
		case <-t.done:
			return
		}
	}
}

func (t *transport) FinalAdvertiseAddr(ip string, port int) (net.IP, int, error) {
	return t.inner.FinalAdvertiseAddr(ip, port)
}

func (t *transport) WriteTo(b []byte, addr string) (time.Time, error) {
	if t.cut.Load() {
		return time.Now(), nil // lost on the wire, as UDP would be
	}
	t.sent.Add(len(b))
	return t.inner.WriteTo(b, addr)
}

func (t *transport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	if t.cut.Load() {
		return time.Now(), nil
	}
	t.sent.Add(len(b))
	if nt, ok := t.inner.(memberlist.NodeAwareTransport); ok {
		return nt.WriteToAddress(b, a)
	}
	return t.inner.WriteTo(b, a.Addr)
}

func (t *transport) PacketCh() <-chan *memberlist.Packet { return t.packets }

func (t *transport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	if t.cut.Load() {
		return nil, errPartitioned
	}
	c, err := t.inner.DialTimeout(addr, timeout)
	if err != nil {
		return nil, err
	}
	return &countConn{Conn: c, t: t}, nil
}

func (t *transport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	if t.cut.Load() {
		return nil, errPartitioned
	}
	var c net.Conn
	var err error
	if nt, ok := t.inner.(memberlist.NodeAwareTransport); ok {
		c, err = nt.DialAddressTimeout(a, timeout)
	} else {
		c, err = t.inner.DialTimeout(a.Addr, timeout)
	}
	if err != nil {
		return nil, err
	}
	return &countConn{Conn: c, t: t}, nil
}

func (t *transport) StreamCh() <-chan net.Conn { return t.streams }

func (t *transport) Shutdown() error {
	var err error
	t.once.Do(func() {
		close(t.stop)
		err = t.inner.Shutdown()
		close(t.done)
		t.wg.Wait()
	})
	return err
}

// countConn counts a stream's bytes (push-pull state, reliable messages).
type countConn struct {
	net.Conn
	t *transport
}

func (c *countConn) Read(b []byte) (int, error) {
	if c.t.cut.Load() {
		return 0, errPartitioned
	}
	n, err := c.Conn.Read(b)
	c.t.rcv.Add(n)
	return n, err
}

func (c *countConn) Write(b []byte) (int, error) {
	if c.t.cut.Load() {
		return 0, errPartitioned
	}
	n, err := c.Conn.Write(b)
	c.t.sent.Add(n)
	return n, err
}

var _ memberlist.NodeAwareTransport = (*transport)(nil)
