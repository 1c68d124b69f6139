package clientip

import (
	"net/netip"
	"strings"
	"testing"
)

func TestResolve(t *testing.T) {
	r, err := New([]string{"10.0.0.0/8", "::1", "192.168.0.0/16"}, "")
	if err != nil {
		t.Fatal(err)
	}
	ip := netip.MustParseAddr
	split := func(s ...string) [][]byte {
		var out [][]byte
		for _, x := range s {
			out = append(out, []byte(x))
		}
		return out
	}
	cases := []struct {
		name string
		peer string
		xff  [][]byte
		want string
	}{
		{"untrusted peer ignores xff", "203.0.113.9", split("1.2.3.4"), "203.0.113.9"},
		{"untrusted mapped peer", "::ffff:203.0.113.9", split("1.2.3.4"), "203.0.113.9"},
		{"trusted peer no xff", "10.1.1.1", nil, "10.1.1.1"},
		{"trusted peer one hop", "10.1.1.1", split("198.51.100.7"), "198.51.100.7"},
		{"spoofed left part ignored", "10.1.1.1", split("6.6.6.6, 198.51.100.7"), "198.51.100.7"},
		{"skips trusted hops", "10.1.1.1", split("6.6.6.6, 198.51.100.7, 10.2.2.2, 192.168.1.1"), "198.51.100.7"},
		{"several lines", "10.1.1.1", split("6.6.6.6", "198.51.100.7, 10.2.2.2"), "198.51.100.7"},
		{"all trusted gives leftmost", "10.1.1.1", split("10.9.9.9, 10.2.2.2"), "10.9.9.9"},
		{"garbage stops at last trusted", "10.1.1.1", split("6.6.6.6, garbage, 10.2.2.2"), "10.2.2.2"},
		{"garbage right after peer", "10.1.1.1", split("1.2.3.4, not-an-ip"), "10.1.1.1"},
		{"port forms", "10.1.1.1", split("198.51.100.7:4711"), "198.51.100.7"},
		{"v6 bracket port", "::1", split("[2001:db8::1]:443"), "2001:db8::1"},
		{"v6 bare", "::1", split("2001:db8::2"), "2001:db8::2"},
		{"mapped in xff", "::1", split("::ffff:198.51.100.7"), "198.51.100.7"},
		{"empty items", "10.1.1.1", split(" , 198.51.100.7 ,, "), "198.51.100.7"},
		{"zone rejected", "10.1.1.1", split("fe80::1%eth0"), "10.1.1.1"},
	}
	for _, c := range cases {
		got := r.Resolve(ip(c.peer), c.xff)
		if got != ip(c.want) {
			t.Errorf("%s: got %v want %v", c.name, got, c.want)
		}
	}
}

func TestNoTrusted(t *testing.T) {
	r, _ := New(nil, "")
	if got := r.Resolve(netip.MustParseAddr("10.0.0.1"), [][]byte{[]byte("1.1.1.1")}); got.String() != "10.0.0.1" {
		t.Fatal(got)
	}
}

func TestParsePrefix(t *testing.T) {
	for in, want := range map[string]string{
		"10.0.0.0/8": "10.0.0.0/8", "192.168.1.100": "192.168.1.100/32", "::1": "::1/128",
		"::ffff:10.0.0.0/104": "10.0.0.0/8", "2001:db8::/32": "2001:db8::/32",
		"::ffff:1.2.3.4": "1.2.3.4/32", "::ffff:1.2.3.4/128": "1.2.3.4/32",
		"::ffff:0:0/96": "0.0.0.0/0", "::/0": "::/0", "::/8": "::/8",
	} {
		p, err := ParsePrefix(in)
		if err != nil || p.String() != want {
			t.Errorf("ParsePrefix(%q) = %v, %v; want %s", in, p, err, want)
		}
	}
	for in, want := range map[string]string{
		"10.0.0.0/33":  `"10.0.0.0/33" is not an IP address or CIDR`,
		"bogus":        `"bogus" is not an IP address or CIDR`,
		"":             `"" is not an IP address or CIDR`,
		"1.2.3":        `"1.2.3" is not an IP address or CIDR`,
		"fe80::1%eth0": `"fe80::1%eth0": zones are not allowed`,
		// one rule for host bits everywhere (the admin API and ip-restriction alike)
		"127.0.0.111/24": `"127.0.0.111/24": host bits are set: write 127.0.0.0/24 for the network or 127.0.0.111/32 for the single address`,
		"2001:db8::1/64": `"2001:db8::1/64": host bits are set: write 2001:db8::/64 for the network or 2001:db8::1/128 for the single address`,
		// mapped prefixes: checked in their IPv4 form
		"::ffff:10.1.2.3/104": `"::ffff:10.1.2.3/104": host bits are set: write 10.0.0.0/8 for the network or 10.1.2.3/32`,
		// shorter than /96: an error asking for the IPv4 form, never ::/8
		"::ffff:10.0.0.0/8":  `"::ffff:10.0.0.0/8": an IPv4-mapped prefix needs a length of at least /96 (::ffff:a.b.c.d/n is a.b.c.d/(n-96)): write the IPv4 form, such as 10.0.0.0/8`,
		"::ffff:10.0.0.0/64": `write the IPv4 form, such as a.b.c.d/n`,
	} {
		p, err := ParsePrefix(in)
		if err == nil {
			t.Errorf("ParsePrefix(%q) = %v: want an error", in, p)
		} else if !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "::/8") {
			t.Errorf("ParsePrefix(%q): error %q, want %q", in, err, want)
		}
	}
}

func TestResolveAllocs(t *testing.T) {
	r, _ := New([]string{"10.0.0.0/8"}, "")
	peer := netip.MustParseAddr("10.1.1.1")
	xff := [][]byte{[]byte("6.6.6.6, 198.51.100.7, 10.2.2.2")}
	if n := testing.AllocsPerRun(100, func() { r.Resolve(peer, xff) }); n != 0 {
		t.Fatalf("allocs = %v", n)
	}
	v6 := [][]byte{[]byte("2001:db8::1")}
	if n := testing.AllocsPerRun(100, func() { r.Resolve(peer, v6) }); n != 0 {
		t.Fatalf("v6 allocs = %v", n)
	}
}
