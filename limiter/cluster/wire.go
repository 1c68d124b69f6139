package cluster

import (
	"encoding/binary"
	"errors"
	"math/bits"
	"time"

	"github.com/edgeguard/edgeguard/limiter"
)

// Message types (first byte of a user message).
const (
	msgRate      byte = 1 // a batch of rate-limit deltas
	msgHeartbeat byte = 2 // "I synced and had nothing to send"
	msgBlock     byte = 3 // a blocklist change (JSON)
	msgMulti     byte = 4 // [len][msgRate batch]... (sent over TCP)
)

// stateVersion is the first byte of LocalState.
const stateVersion byte = 1

// maxPacket is the largest rate batch payload: below memberlist's 1400-byte
// UDP buffer with room for the encryption (29 bytes) and message headers.
const maxPacket = 1200

// Limits the decoder enforces on peer input.
const (
	maxNameLen = 255
	maxKeyLen  = 48 + 1 // the engine's stored key form (≤ 48 or 0xFF + 32)
)

var errShort = errors.New("cluster: truncated message")
var errBad = errors.New("cluster: malformed message")

// rateHeader is the start of a msgRate batch.
type rateHeader struct {
	sender string
	window time.Duration // how long the sender's drain covered
	engine string
}

// batchWriter builds msgRate packets for one engine: a header, then entries
// [ref][name if ref==0][klen][key][n]. A limit is named on first use in a
// packet and referred to by index (1-based) after that.
type batchWriter struct {
	buf  []byte
	hdr  int
	refs []*limiter.Limit
	n    int // entries in buf
}

func (w *batchWriter) reset(h *rateHeader) {
	w.buf = append(w.buf[:0], msgRate)
	w.buf = appendString(w.buf, h.sender)
	w.buf = binary.AppendUvarint(w.buf, uint64(max(h.window, 0)))
	w.buf = appendString(w.buf, h.engine)
	w.hdr = len(w.buf)
	w.refs = w.refs[:0]
	w.n = 0
}

// add appends an entry; it reports false (and appends nothing) when the
// packet is full.
func (w *batchWriter) add(lim *limiter.Limit, key []byte, n uint32) bool {
	ref := 0
	for i, l := range w.refs {
		if l == lim {
			ref = i + 1
			break
		}
	}
	need := 1 + len(key) + 1 + binary.MaxVarintLen32 + 1
	if ref == 0 {
		need += len(lim.Name()) + 1
	}
	if len(w.buf)+need > maxPacket && w.n > 0 {
		return false
	}
	w.buf = binary.AppendUvarint(w.buf, uint64(ref))
	if ref == 0 {
		w.buf = appendString(w.buf, lim.Name())
		w.refs = append(w.refs, lim)
	}
	w.buf = appendBytes(w.buf, key)
	w.buf = binary.AppendUvarint(w.buf, uint64(n))
	w.n++
	return true
}

// rateEntry is one decoded delta.
type rateEntry struct {
	lim string
	key []byte // aliases the message
	n   uint64
}

// parseRate decodes a msgRate batch (b without the type byte) and calls fn
// for every entry. It stops at the first malformed byte; entries before
// it have been delivered.
func parseRate(b []byte, onHeader func(*rateHeader) bool, fn func(*rateEntry)) error {
	var h rateHeader
	var err error
	if h.sender, b, err = readString(b); err != nil {
		return err
	}
	w, b, err := readUvarint(b)
	if err != nil {
		return err
	}
	if w > uint64(time.Hour) {
		return errBad
	}
	h.window = time.Duration(w)
	if h.engine, b, err = readString(b); err != nil {
		return err
	}
	if onHeader != nil && !onHeader(&h) {
		return nil
	}
	var names []string
	for len(b) > 0 {
		var e rateEntry
		ref, rest, err := readUvarint(b)
		if err != nil {
			return err
		}
		b = rest
		switch {
		case ref == 0:
			if len(names) >= 64 {
				return errBad
			}
			if e.lim, b, err = readString(b); err != nil {
				return err
			}
			names = append(names, e.lim)
		case ref <= uint64(len(names)):
			e.lim = names[ref-1]
		default:
			return errBad
		}
		if e.key, b, err = readBytes(b, maxKeyLen); err != nil {
			return err
		}
		if e.n, b, err = readUvarint(b); err != nil {
			return err
		}
		if e.n == 0 || e.n > 1<<32 {
			return errBad
		}
		fn(&e)
	}
	return nil
}

// State of the rate limiters in LocalState (push-pull): per engine, the
// keys whose buckets are not full with their Usage.

// appendRateState appends one engine's state: name, count, entries
// [ref][name if 0][klen][key][slot mask][ahead ns per set slot].
func appendRateState(b []byte, name string, e *limiter.Engine, now time.Time, maxBytes int) []byte {
	b = appendString(b, name)
	countAt := len(b)
	b = append(b, 0, 0, 0, 0) // count, fixed width, patched below
	var refs []*limiter.Limit
	count := uint32(0)
	full := false
	e.Export(now, func(key []byte, lim *limiter.Limit, u *limiter.Usage) {
		if full || len(b) > maxBytes {
			full = true
			return
		}
		ref := 0
		for i, l := range refs {
			if l == lim {
				ref = i + 1
				break
			}
		}
		b = binary.AppendUvarint(b, uint64(ref))
		if ref == 0 {
			b = appendString(b, lim.Name())
			refs = append(refs, lim)
		}
		b = appendBytes(b, key)
		mask := byte(0)
		for s, d := range u {
			if d > 0 {
				mask |= 1 << s
			}
		}
		b = append(b, mask)
		for _, d := range u {
			if d > 0 {
				b = binary.AppendUvarint(b, uint64(d))
			}
		}
		count++
	})
	binary.BigEndian.PutUint32(b[countAt:], count)
	return b
}

// stateEntry is one decoded key state.
type stateEntry struct {
	lim string
	key []byte
	u   limiter.Usage
}

// parseRateState decodes one engine's state from b and returns the rest.
func parseRateState(b []byte, fn func(engine string, e *stateEntry)) ([]byte, error) {
	name, b, err := readString(b)
	if err != nil {
		return nil, err
	}
	if len(b) < 4 {
		return nil, errShort
	}
	count := binary.BigEndian.Uint32(b)
	b = b[4:]
	var names []string
	for i := uint32(0); i < count; i++ {
		var e stateEntry
		ref, rest, err := readUvarint(b)
		if err != nil {
			return nil, err
		}
		b = rest
		switch {
		case ref == 0:
			if len(names) >= 1024 {
				return nil, errBad
			}
			if e.lim, b, err = readString(b); err != nil {
				return nil, err
			}
			names = append(names, e.lim)
		case ref <= uint64(len(names)):
			e.lim = names[ref-1]
		default:
			return nil, errBad
		}
		if e.key, b, err = readBytes(b, maxKeyLen); err != nil {
			return nil, err
		}
		if len(b) < 1 {
			return nil, errShort
		}
		mask := b[0]
		b = b[1:]
		if bits.Len8(mask) > limiter.MaxWindows {
			return nil, errBad
		}
		for s := 0; s < limiter.MaxWindows; s++ {
			if mask&(1<<s) == 0 {
				continue
			}
			var v uint64
			if v, b, err = readUvarint(b); err != nil {
				return nil, err
			}
			if v > 1<<62 {
				return nil, errBad
			}
			e.u[s] = time.Duration(v)
		}
		fn(name, &e)
	}
	return b, nil
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendBytes(b, s []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func readUvarint(b []byte) (uint64, []byte, error) {
	v, n := binary.Uvarint(b)
	if n <= 0 {
		return 0, nil, errShort
	}
	return v, b[n:], nil
}

func readBytes(b []byte, maxLen int) ([]byte, []byte, error) {
	l, b, err := readUvarint(b)
	if err != nil {
		return nil, nil, err
	}
	if l > uint64(maxLen) {
		return nil, nil, errBad
	}
	if uint64(len(b)) < l {
		return nil, nil, errShort
	}
	return b[:l:l], b[l:], nil
}

func readString(b []byte) (string, []byte, error) {
	s, b, err := readBytes(b, maxNameLen)
	return string(s), b, err
}
