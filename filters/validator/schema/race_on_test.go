//go:build race

package schema

// raceEnabled: the race detector allocates and sync.Pool drops items at
// random under it, so allocation counts are meaningless there.
const raceEnabled = true
