package blocklist

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strings"
	"time"
)

// Limits on the ttl of an entry added with Add (0 means no expiry). A ttl
// under MinTTL would give an entry that has expired, or nearly, by the time
// the admin API answers 201; MaxTTL is far beyond any real block and well
// inside what time.Duration holds.
const (
	MinTTL = time.Second
	MaxTTL = 876000 * time.Hour // 100 years
)

// durationSyntax is time.ParseDuration's syntax: a duration that matches it
// but does not parse is too large for time.Duration.
var durationSyntax = regexp.MustCompile(`^[-+]?(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+$`)

// ParseTTL parses the ttl of an admin API block ("30m", "1h", "720h"): a Go
// duration from MinTTL to MaxTTL. An empty string is 0: no expiry. The
// error says what is wrong (not a duration, not positive, too short, too
// large) and names the limit; it starts with "ttl".
func ParseTTL(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	const omit = "omit ttl for a block without expiry"
	d, err := time.ParseDuration(s)
	if err != nil && durationSyntax.MatchString(s) {
		// well-formed, beyond what time.Duration holds
		d, err = time.Duration(math.MaxInt64), nil
		if strings.HasPrefix(s, "-") {
			d = math.MinInt64
		}
	}
	switch {
	case err != nil:
		return 0, fmt.Errorf("ttl %q is not a duration: want one such as 30m or 1h (%s)", s, omit)
	case d > MaxTTL:
		return 0, fmt.Errorf("ttl %q is too large: at most %s (100 years); %s", s, fmtHours(MaxTTL), omit)
	case d <= 0:
		return 0, fmt.Errorf("ttl %q is not positive: want a duration such as 30m or 1h (%s)", s, omit)
	}
	if err := checkTTL(d); err != nil {
		return 0, fmt.Errorf("ttl %q %w", s, err)
	}
	return d, nil
}

// checkTTL checks a ttl other than 0 against MinTTL and MaxTTL; the error
// completes a sentence that starts with the ttl.
func checkTTL(d time.Duration) error {
	switch {
	case d < 0:
		return errors.New("is negative")
	case d < MinTTL:
		return fmt.Errorf("is too short: at least %s", MinTTL)
	case d > MaxTTL:
		return fmt.Errorf("is too large: at most %s (100 years); omit it (ttl 0) for a block without expiry", fmtHours(MaxTTL))
	}
	return nil
}

// fmtHours writes a whole number of hours as "876000h" (Duration.String
// would say "876000h0m0s").
func fmtHours(d time.Duration) string { return fmt.Sprintf("%dh", d/time.Hour) }
