package filters

import (
	"net/netip"
	"reflect"
	"testing"
	"time"
)

// TestCtxReset checks that Reset clears every field a request may have set,
// including the scratch slots of the filters that used them, and keeps the
// buffers.
func TestCtxReset(t *testing.T) {
	c := &Ctx{Scratch: make([]byte, 0, 512), RequestID: make([]byte, 0, 64)}
	c.ClientIP = netip.MustParseAddr("192.0.2.1")
	c.RequestID = append(c.RequestID, "rid"...)
	c.Scratch = append(c.Scratch, "scratch"...)
	c.Route, c.Service, c.Credential = "r", "s", "cred"
	c.Consumer = &Consumer{ID: "c"}
	c.Start = time.Now()
	c.UpstreamDur, c.UpstreamStatus, c.UpstreamError = time.Second, 200, "x"
	c.RejectedBy, c.RejectReason, c.BodyLimit, c.BodyLimitBy = "f", "why", 10, "f"
	c.Host, c.Path = []byte("h"), []byte("/p")
	for _, i := range []int{0, 3} {
		c.CurFilter, c.CurName = i, "f"
		l := c.Local()
		l.N[0], l.N[3], l.P = 7, 9, "state"
	}
	ridCap, scratchCap, locals := cap(c.RequestID), cap(c.Scratch), c.locals
	c.Reset()

	if len(c.RequestID) != 0 || cap(c.RequestID) != ridCap || len(c.Scratch) != 0 || cap(c.Scratch) != scratchCap {
		t.Fatalf("buffers not kept empty: RequestID %d/%d Scratch %d/%d", len(c.RequestID), cap(c.RequestID), len(c.Scratch), cap(c.Scratch))
	}
	if c.locals != locals {
		t.Fatal("locals array not kept")
	}
	for i := range c.locals {
		if c.locals[i] != (Local{}) {
			t.Fatalf("locals[%d] = %+v after Reset", i, c.locals[i])
		}
	}
	// Every other field is zero.
	v := reflect.ValueOf(c).Elem()
	for i := 0; i < v.NumField(); i++ {
		name := v.Type().Field(i).Name
		switch name {
		case "RequestID", "Scratch", "locals":
			continue
		}
		if !v.Field(i).IsZero() {
			t.Errorf("%s = %v after Reset", name, v.Field(i))
		}
	}
}

func BenchmarkCtxReset(b *testing.B) {
	c := &Ctx{}
	c.CurFilter = 2
	c.Local().N[0] = 1
	b.ReportAllocs()
	for b.Loop() {
		c.Route, c.Start, c.nLocals = "r", time.Unix(1, 0), 3
		c.Reset()
	}
}
