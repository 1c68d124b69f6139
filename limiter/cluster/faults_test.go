package cluster

import (
	"testing"
	"time"

	"github.com/edgeguard/edgeguard/limiter"
)

// aliveIn reports how many members n sees alive.
func aliveIn(n *testNode) int { return n.ml.NumMembers() }

func TestPartitionAndRejoin(t *testing.T) {
	s := newSim(t, 3)
	even := []float64{66.7, 66.7, 66.7}
	s.run(2*time.Second, even)
	within(t, "before the partition", s.total(), ideal(2*time.Second), 0.05)

	// Cut node 2 off. The others notice within seconds.
	s.ns[2].tr.cut.Store(true)
	took := waitFor(t, 10*time.Second, "the partition to be noticed", func() bool {
		return aliveIn(s.ns[0]) == 2 && aliveIn(s.ns[1]) == 2 && aliveIn(s.ns[2]) == 1
	})
	t.Logf("partition noticed after %v", took.Round(time.Millisecond))
	if st := s.ns[0].Status(); st.Members[2].State != "dead" && st.Members[2].State != "suspect" {
		t.Errorf("status of n2 on n0: %+v", st.Members[2])
	}

	// Each side keeps enforcing on its own: node 2 with its local view.
	before := append([]int(nil), s.admitted...)
	s.run(3*time.Second, []float64{100, 100, 100})
	side01 := s.admitted[0] + s.admitted[1] - before[0] - before[1]
	side2 := s.admitted[2] - before[2]
	t.Logf("during the partition: nodes 0+1 admitted %d, node 2 admitted %d (3 s, limit 100/s)", side01, side2)
	if side01 > 320 || side2 > 320 || side2 < 250 {
		t.Errorf("partition: each side must enforce the limit on its own: got %d and %d in 3 s", side01, side2)
	}

	// Heal: node 2 rejoins (rejoin loop) and converges.
	s.ns[2].tr.cut.Store(false)
	took = waitFor(t, 15*time.Second, "the rejoin", func() bool {
		return aliveIn(s.ns[0]) == 3 && aliveIn(s.ns[1]) == 3 && aliveIn(s.ns[2]) == 3
	})
	t.Logf("rejoined after %v", took.Round(time.Millisecond))
	s.run(time.Second, even)
	mark := s.total()
	s.run(3*time.Second, even)
	within(t, "after the rejoin (3 s)", s.total()-mark, 3*simRate, 0.05)
}

func TestKillAndJoinUnderLoad(t *testing.T) {
	s := newSim(t, 3)
	s.run(2*time.Second, []float64{100, 100, 100})

	// Node 2 dies without leaving (as SIGKILL).
	s.ns[2].kill()
	s.live[2] = false
	took := waitFor(t, 10*time.Second, "the death to be noticed", func() bool {
		return aliveIn(s.ns[0]) == 2 && aliveIn(s.ns[1]) == 2
	})
	t.Logf("death noticed after %v", took.Round(time.Millisecond))
	mark := s.total()
	s.run(3*time.Second, []float64{150, 150, 0})
	within(t, "two survivors (3 s)", s.total()-mark, 3*simRate, 0.05)

	// A new node joins while the others are under load, and gets load at
	// once. It must be right within two sync intervals: without the state
	// transfer it would admit a full burst (100) at once.
	n3 := s.h.start("n3", true, s.ns[0].Addr())
	s.h.waitMembers([]*testNode{s.ns[0], s.ns[1], n3}, 3, 5*time.Second)
	s.ns = append(s.ns, n3)
	s.live = append(s.live, true)
	s.acc = append(s.acc, 0)
	s.admitted = append(s.admitted, 0)
	s.rejected = append(s.rejected, 0)
	var d limiter.Decision
	n3.engine.Peek(&d, s.key, n3.lim, 1, s.h.clock.Now())
	t.Logf("new node's view of the busy key on joining: %d tokens left", d.W[0].Remaining)
	mark = s.total()
	if d.W[0].Remaining > 10 {
		t.Errorf("the joining node did not receive the busy key's state: %d tokens left", d.W[0].Remaining)
	}
	s.run(2*simSync, []float64{100, 100, 0, 1000})
	first := s.admitted[3]
	t.Logf("new node, offered 1000/s, admitted %d in its first two sync intervals (cluster: %d, ideal 20)", first, s.total()-mark)
	if first > 25 || s.total()-mark > 35 {
		t.Errorf("join under load: new node admitted %d, cluster %d in 200 ms; want ≤ 25 and ≤ 35", first, s.total()-mark)
	}
	mark = s.total()
	s.run(3*time.Second, []float64{100, 100, 0, 100})
	within(t, "after the join (3 s)", s.total()-mark, 3*simRate, 0.05)
}
