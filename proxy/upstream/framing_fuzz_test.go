package upstream

import (
	"bytes"
	"strings"
	"testing"
)

// FuzzHasField compares hasField, which looks for a field name around a
// rare letter of it, with the plain reading of a head line by line: a line
// that starts with the name, optional spaces or tabs, then a colon. They
// must agree on every input; lfHead must not panic.
func FuzzHasField(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
		"HTTP/1.0 200 OK\r\ntransfer-encoding : chunked\r\n\r\n",
		"HTTP/1.1 200 OK\r\nX-Content-Length: 5\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Lengthy: 5\r\n\r\n",
		"HTTP/1.1 200 OK\nCONTENT-LENGTH:5\n\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, head []byte) {
		lfHead(head)
		for _, c := range []struct {
			name string
			k    int
		}{{"content-length", 11}, {"transfer-encoding", 5}} {
			if got, want := hasField(head, c.name, c.k), hasFieldRef(head, c.name); got != want {
				t.Fatalf("hasField(%q, %s) = %v, line by line %v", head, c.name, got, want)
			}
		}
	})
}

func hasFieldRef(head []byte, name string) bool {
	for i, line := range bytes.Split(head, []byte("\n")) {
		if i == 0 && len(line) < len(name) {
			continue
		}
		if len(line) <= len(name) || !strings.EqualFold(string(line[:len(name)]), name) {
			continue
		}
		rest := bytes.TrimLeft(line[len(name):], " \t")
		if len(rest) > 0 && rest[0] == ':' {
			return true
		}
	}
	return false
}
