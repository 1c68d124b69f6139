//go:build !race

package httplog

const raceEnabled = false
