//go:build !unix

package deadline

type awaiter struct{}

// WriteAwait is Write where RawConn offers no file descriptor to write
// (see the unix version).
func (c *Conn) WriteAwait(p []byte, now int64) (int, error) { return c.Write(p) }
