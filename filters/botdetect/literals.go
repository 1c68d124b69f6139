package botdetect

import (
	"regexp/syntax"
	"slices"
	"unicode"
)

// Literal analysis: for every pattern, a set of ASCII strings (lower case)
// such that every match of the pattern contains one of them, found by
// walking the parsed regexp. When the set describes the matches completely
// (the pattern is a literal, an alternation of literals, a small character
// class ...), a hit in the prefilter is already a match and no regexp runs.
//
// Matching is case-insensitive. Input bytes are folded to lower-case ASCII
// before the prefilter sees them, and the two non-ASCII runes that fold to
// ASCII letters (U+212A KELVIN SIGN → k, U+017F LONG S → s) are mapped too,
// so the prefilter never misses what Go's (?i) matching would find.

const (
	maxSetSize = 64  // strings in one literal set
	maxLitLen  = 256 // bytes in one literal
)

// info describes what a sub-expression can match.
type info struct {
	// exact: set is the complete list of strings the expression matches
	// (folded). Otherwise set is a list of which every match contains one;
	// a nil set or one holding "" means no requirement.
	exact bool
	set   []string
}

var (
	noInfo    = info{}                               // matches something, requires nothing
	emptyInfo = info{exact: true, set: []string{""}} // matches only ""
)

// usable reports whether a requirement set constrains anything.
func usable(set []string) bool {
	if len(set) == 0 {
		return false
	}
	return !slices.Contains(set, "")
}

// minLen is the length of the shortest string of set.
func minLen(set []string) int {
	m := -1
	for _, s := range set {
		if m < 0 || len(s) < m {
			m = len(s)
		}
	}
	return m
}

// better returns the more selective of two requirement sets: the one whose
// shortest string is longer (fewer false hits), then the smaller one.
func better(a, b []string) []string {
	switch {
	case !usable(a):
		if usable(b) {
			return b
		}
		return nil
	case !usable(b):
		return a
	}
	la, lb := minLen(a), minLen(b)
	if la != lb {
		if la > lb {
			return a
		}
		return b
	}
	if len(b) < len(a) {
		return b
	}
	return a
}

func dedupe(set []string) []string {
	slices.Sort(set)
	return slices.Compact(set)
}

// cross concatenates every string of a with every string of b; ok is false
// when the result would be too large.
func cross(a, b []string) ([]string, bool) {
	if len(a)*len(b) > maxSetSize {
		return nil, false
	}
	out := make([]string, 0, len(a)*len(b))
	for _, x := range a {
		for _, y := range b {
			if len(x)+len(y) > maxLitLen {
				return nil, false
			}
			out = append(out, x+y)
		}
	}
	return dedupe(out), true
}

// foldRune maps r to the lower-case ASCII byte the prefilter sees for it,
// or 0 when r is not (and does not fold to) ASCII.
func foldRune(r rune) byte {
	switch {
	case r >= 'A' && r <= 'Z':
		return byte(r) + 'a' - 'A'
	case r < 0x80:
		return byte(r)
	case r == 0x212A: // KELVIN SIGN
		return 'k'
	case r == 0x17F: // LATIN SMALL LETTER LONG S
		return 's'
	}
	return 0
}

// orbit returns the runes that case-insensitive matching treats as r.
func orbit(r rune) []rune {
	out := []rune{r}
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		out = append(out, f)
	}
	return out
}

// analyze computes the info of re (already simplified).
func analyze(re *syntax.Regexp) info {
	switch re.Op {
	case syntax.OpNoMatch:
		return info{exact: true, set: []string{}}
	case syntax.OpEmptyMatch:
		return emptyInfo
	case syntax.OpLiteral:
		return analyzeLiteral(re.Rune, re.Flags&syntax.FoldCase != 0)
	case syntax.OpCharClass:
		return analyzeClass(re.Rune)
	case syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		return noInfo
	case syntax.OpBeginLine, syntax.OpEndLine, syntax.OpBeginText, syntax.OpEndText,
		syntax.OpWordBoundary, syntax.OpNoWordBoundary:
		// zero-width, but it constrains where a match may be: not exact
		return noInfo
	case syntax.OpCapture:
		return analyze(re.Sub[0])
	case syntax.OpStar:
		return noInfo
	case syntax.OpQuest:
		sub := analyze(re.Sub[0])
		if sub.exact && len(sub.set)+1 <= maxSetSize {
			return info{exact: true, set: dedupe(append(slices.Clone(sub.set), ""))}
		}
		return noInfo
	case syntax.OpPlus:
		return info{set: analyze(re.Sub[0]).set}
	case syntax.OpRepeat:
		if re.Min == 0 {
			return noInfo
		}
		return info{set: analyze(re.Sub[0]).set}
	case syntax.OpConcat:
		return analyzeConcat(re.Sub)
	case syntax.OpAlternate:
		return analyzeAlternate(re.Sub)
	}
	return noInfo
}

func analyzeLiteral(runes []rune, fold bool) info {
	// A literal with a rune outside ASCII cannot be a prefilter string;
	// its longest ASCII run still has to occur.
	b := make([]byte, 0, len(runes))
	caseSensitive := false
	var best []byte
	ascii := true
	for _, r := range runes {
		c := byte(0)
		if r < 0x80 {
			c = foldRune(r)
		}
		if c == 0 {
			ascii = false
			if len(b) > len(best) {
				best = slices.Clone(b)
			}
			b = b[:0]
			continue
		}
		if !fold && unicode.IsLetter(r) {
			caseSensitive = true
		}
		b = append(b, c)
	}
	if len(b) > len(best) {
		best = b
	}
	if len(best) > maxLitLen {
		best = best[:maxLitLen]
		ascii = false
	}
	if ascii && !caseSensitive {
		return info{exact: true, set: []string{string(best)}}
	}
	if len(best) == 0 {
		return noInfo
	}
	return info{set: []string{string(best)}}
}

// analyzeClass handles a character class given as rune ranges.
func analyzeClass(ranges []rune) info {
	set := map[byte]bool{}
	members := map[rune]bool{}
	size := 0
	for i := 0; i+1 < len(ranges); i += 2 {
		lo, hi := ranges[i], ranges[i+1]
		size += int(hi-lo) + 1
		if size > 16 {
			return noInfo
		}
		for r := lo; r <= hi; r++ {
			c := foldRune(r)
			if c == 0 {
				return noInfo // matches runes the prefilter cannot see
			}
			set[c] = true
			members[r] = true
		}
	}
	out := make([]string, 0, len(set))
	for c := range set {
		out = append(out, string(rune(c)))
	}
	out = dedupe(out)
	if len(out) > 4 {
		return noInfo // too unselective to be worth a set
	}
	// exact only if the class holds every rune that folds to its
	// members; [G] (case-sensitive) would otherwise be taken for [Gg]
	for r := range members {
		for _, o := range orbit(r) {
			if foldRune(o) != 0 && !members[o] {
				return info{set: out}
			}
		}
	}
	return info{exact: true, set: out}
}

func analyzeConcat(subs []*syntax.Regexp) info {
	run := []string{""} // exact strings of the current run of exact parts
	allExact := true
	var best []string
	for _, s := range subs {
		if s.Op == syntax.OpPlus {
			// x+ starts with x: the run goes on through one x, then ends
			if sub := analyze(s.Sub[0]); sub.exact && len(sub.set) > 0 {
				allExact = false
				if next, ok := cross(run, sub.set); ok {
					best = better(best, next)
				} else {
					best = better(best, better(run, sub.set))
				}
				run = []string{""}
				continue
			}
		}
		in := analyze(s)
		if in.exact {
			if len(in.set) == 0 {
				return info{exact: true, set: []string{}} // part never matches
			}
			if next, ok := cross(run, in.set); ok {
				run = next
				continue
			}
			// too large: what we have is still required; start anew
			allExact = false
			best = better(best, run)
			run = in.set
			continue
		}
		allExact = false
		best = better(best, run)
		best = better(best, in.set)
		run = []string{""}
	}
	if allExact {
		return info{exact: true, set: run}
	}
	return info{set: better(best, run)}
}

func analyzeAlternate(subs []*syntax.Regexp) info {
	exact := true
	var union []string
	for _, s := range subs {
		in := analyze(s)
		if !in.exact {
			exact = false
		}
		if !in.exact && !usable(in.set) {
			return noInfo // one branch requires nothing
		}
		union = append(union, in.set...)
	}
	union = dedupe(union)
	if len(union) > maxSetSize {
		return noInfo
	}
	if !exact && !usable(union) {
		return noInfo
	}
	return info{exact: exact, set: union}
}
