//go:build race

package jwt

// raceEnabled: the race detector adds allocations, so AllocsPerRun checks
// are skipped under -race.
const raceEnabled = true
