package router

import (
	"fmt"
	"testing"
)

func BenchmarkMatch(b *testing.B) {
	var specs []Spec[int]
	for i := 0; i < 100; i++ {
		specs = append(specs, Spec[int]{Hosts: []string{fmt.Sprintf("svc%d.example.com", i)}, Paths: []string{"/v1", "/v1/premium", "/v2"}, Value: i})
	}
	specs = append(specs, Spec[int]{Hosts: []string{"*.example.com"}, Value: -1})
	hosts, _ := Compile(specs)
	// Routes that name no host (the quickstart, peerbench): Host is not read.
	anyHost, _ := Compile([]Spec[int]{{Paths: []string{"/v1"}, Value: 1}, {Paths: []string{"/v1/premium"}, Value: 2}, {Paths: []string{"/"}, Value: 3}})
	for _, bc := range []struct {
		name string
		r    *Router[int]
	}{{"hosts", hosts}, {"any-host", anyHost}} {
		b.Run(bc.name, func(b *testing.B) {
			h, p, m := []byte("svc42.example.com:8443"), []byte("/v1/premium/items"), []byte("GET")
			b.ReportAllocs()
			for b.Loop() {
				bc.r.Match(h, p, m)
			}
		})
	}
}
