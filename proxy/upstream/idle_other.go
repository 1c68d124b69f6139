//go:build !unix

package upstream

import "net"

// peerSent cannot look at the socket here: a pooled connection is used
// as it is.
func peerSent(net.Conn) bool { return false }
