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
	r, _ := Compile(specs)
	h, p, m := []byte("svc42.example.com"), []byte("/v1/premium/items"), []byte("GET")
	b.ReportAllocs()
	for b.Loop() {
		r.Match(h, p, m)
	}
}
