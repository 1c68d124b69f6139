//go:build !race

package gatewayid

const raceEnabled = false
