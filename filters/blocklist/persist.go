package blocklist

import (
	"bytes"
	"container/heap"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/gaissmai/bart"

	"github.com/edgeguard/edgeguard/filters/iprestrict"
)

// fileVersion is the format version written to the file.
const fileVersion = 1

// maxFileSize bounds what Open reads (a list at MaxEntries with long
// reasons stays far below it).
const maxFileSize = 256 << 20

// fileFormat is the JSON document on disk.
type fileFormat struct {
	Version int               `json:"version"`
	SavedAt time.Time         `json:"saved_at"`
	Entries []json.RawMessage `json:"entries"`
}

// CorruptError is the warning Open returns when the file could not be read
// completely. The list is usable; Skipped entries (or the whole file) were
// dropped and the original file was moved to MovedTo.
type CorruptError struct {
	Path    string
	MovedTo string // "" when the file could not be moved aside
	Loaded  int    // entries kept
	Skipped int    // entries dropped (0 when the whole file was unreadable)
	Err     error
}

func (e *CorruptError) Error() string {
	moved := "kept in place (could not move it aside)"
	if e.MovedTo != "" {
		moved = "moved to " + e.MovedTo
	}
	if e.Skipped > 0 {
		return fmt.Sprintf("blocklist: %s: skipped %d bad entries, loaded %d (original %s): %v",
			e.Path, e.Skipped, e.Loaded, moved, e.Err)
	}
	return fmt.Sprintf("blocklist: %s: corrupt file, starting with an empty blocklist (original %s): %v",
		e.Path, moved, e.Err)
}

func (e *CorruptError) Unwrap() error { return e.Err }

// load reads l.path into the empty list. It returns a *CorruptError as a
// warning, or a hard error when the file exists but cannot be read.
func (l *List) load() (warn *CorruptError, err error) {
	data, err := os.ReadFile(l.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("blocklist: cannot read %s: %w", l.path, err)
	}
	entries, skipped, err := decodeFile(data, l.now(), l.max)
	if err != nil && skipped == 0 {
		return l.corrupt(err, 0), nil
	}
	t := new(bart.Fast[int64])
	for _, e := range entries {
		l.entries[e.Prefix] = e
		if !e.ExpiresAt.IsZero() {
			heap.Push(&l.expiry, expiryItem{at: expiryValue(e), p: e.Prefix})
		}
		t.Insert(e.Prefix, expiryValue(e))
	}
	l.snap.Store(&snapshot{t: t, n: len(l.entries)})
	if skipped > 0 {
		// Keep the original for inspection; the next save writes the
		// entries that were good.
		l.dirty = true
		return l.corrupt(err, skipped), nil
	}
	return nil, nil
}

// decodeFile parses the file format. It returns the active entries
// (canonical, unique, at most max), the number of bad entries skipped and
// the first problem. With skipped == 0, a non-nil error means the whole
// document is unusable.
func decodeFile(data []byte, now time.Time, max int) (entries []Entry, skipped int, err error) {
	if len(data) > maxFileSize {
		return nil, 0, fmt.Errorf("file larger than %d bytes", maxFileSize)
	}
	var f fileFormat
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&f); err != nil {
		return nil, 0, err
	}
	if dec.More() {
		return nil, 0, errors.New("trailing data after the JSON document")
	}
	if f.Version != fileVersion {
		return nil, 0, fmt.Errorf("unsupported version %d (want %d)", f.Version, fileVersion)
	}
	seen := make(map[netip.Prefix]int, len(f.Entries))
	var firstErr error
	for i, raw := range f.Entries {
		var e Entry
		err := json.Unmarshal(raw, &e)
		if err == nil && !e.Prefix.IsValid() {
			err = errors.New("missing prefix")
		}
		if err == nil && (len(e.Reason) > MaxTextLen || len(e.Source) > MaxTextLen) {
			err = errors.New("reason or source too long")
		}
		if err == nil {
			// what cannot be written back (a year past 9999) is refused
			// now rather than failing every later save
			_, err = json.Marshal(e)
		}
		if err == nil && len(entries) >= max {
			err = fmt.Errorf("more than %d entries", max)
		}
		if err != nil {
			skipped++
			if firstErr == nil {
				firstErr = fmt.Errorf("entry %d: %w", i, err)
			}
			continue
		}
		if !e.Active(now) {
			continue // expired while we were down
		}
		e.Prefix = iprestrict.Canonical(e.Prefix)
		if j, dup := seen[e.Prefix]; dup {
			entries[j] = e // the later one wins, as with Add
			continue
		}
		seen[e.Prefix] = len(entries)
		entries = append(entries, e)
	}
	return entries, skipped, firstErr
}

// corrupt moves the file aside and describes the problem.
func (l *List) corrupt(err error, skipped int) *CorruptError {
	ce := &CorruptError{Path: l.path, Loaded: len(l.entries), Skipped: skipped, Err: err}
	dst := l.path + "." + time.Now().UTC().Format("20060102T150405.000000000Z") + ".corrupt"
	if rerr := os.Rename(l.path, dst); rerr == nil {
		ce.MovedTo = dst
		syncDir(filepath.Dir(l.path))
	}
	return ce
}

// Flush writes the list to its file if it changed since the last write. It
// is safe to call at any time (the admin API may call it before answering
// so that an acknowledged change is on disk).
func (l *List) Flush() error {
	if l.path == "" {
		return nil
	}
	l.saveMu.Lock()
	defer l.saveMu.Unlock()

	l.mu.Lock()
	if !l.dirty {
		l.mu.Unlock()
		return nil
	}
	now := l.now()
	entries := make([]Entry, 0, len(l.entries))
	for _, e := range l.entries {
		if e.Active(now) {
			entries = append(entries, e)
		}
	}
	l.dirty = false
	l.mu.Unlock()

	if err := l.write(entries, now); err != nil {
		l.mu.Lock()
		l.dirty = true
		l.mu.Unlock()
		return err
	}
	return nil
}

func (l *List) write(entries []Entry, now time.Time) error {
	data, err := encodeFile(entries, now)
	if err != nil {
		return err
	}
	return writeFileAtomic(l.path, data)
}

// encodeFile renders entries in the file format, sorted by prefix so that
// the file diffs well between saves. It sorts entries in place.
func encodeFile(entries []Entry, now time.Time) ([]byte, error) {
	slices.SortFunc(entries, func(a, b Entry) int { return comparePrefix(a.Prefix, b.Prefix) })
	f := fileFormat{Version: fileVersion, SavedAt: now.UTC(), Entries: make([]json.RawMessage, len(entries))}
	for i, e := range entries {
		b, err := json.Marshal(e)
		if err != nil {
			return nil, fmt.Errorf("blocklist: cannot encode entry: %w", err)
		}
		f.Entries[i] = b
	}
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("blocklist: cannot encode: %w", err)
	}
	return append(data, '\n'), nil
}

// writeFileAtomic replaces path with data so that a crash leaves either the
// old or the new file: temporary file in the same directory, fsync,
// rename, fsync of the directory.
func writeFileAtomic(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("blocklist: cannot create temporary file: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err = tmp.Write(data); err != nil {
		return fmt.Errorf("blocklist: cannot write %s: %w", tmp.Name(), err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("blocklist: cannot sync %s: %w", tmp.Name(), err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("blocklist: cannot close %s: %w", tmp.Name(), err)
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("blocklist: cannot replace %s: %w", path, err)
	}
	syncDir(dir)
	return nil
}

// syncDir makes a rename in dir durable. Errors are ignored: some file
// systems do not support syncing directories.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}
