package botdetect

import (
	"fmt"
	"math/bits"
	"regexp"
	"regexp/syntax"
	"strings"
)

// MaxPatterns is the most patterns one Matcher holds (all lists together).
const MaxPatterns = 4096

// Matcher finds the first of several ordered lists of User-Agent regexps
// that has a match, case-insensitively, in one pass over the input.
//
// All patterns are compiled at load into one prefilter automaton over the
// literal strings that their matches must contain (an Aho-Corasick DFA over
// case-folded bytes, see literals.go), plus one Go regexp per pattern. For
// an input, the automaton marks the patterns whose literals occur; a
// pattern that is fully described by its literals (plain names such as
// `curl`, alternations, small classes) matches right there, the others are
// confirmed by running their regexp, only for the lists that can still
// decide the answer. Patterns without any usable literal (such as `^.*$`)
// are run on every input. The cost is one table step per input byte plus
// the few confirming regexps, instead of one regexp per pattern.
//
// This is hand-written because it is the hot path of bot-detection and no
// maintained Go library offers a case-folding multi-literal prefilter that
// reports hits without allocating; Go's regexp alone is linear in the
// number of patterns (measured in the README).
//
// A Matcher is immutable and safe for concurrent use; Match does not
// allocate.
type Matcher struct {
	nlists    int
	listStart []int32          // pattern ids of list l: [listStart[l], listStart[l+1])
	listOf    []int32          // list of each pattern id
	res       []*regexp.Regexp // per pattern id, compiled with (?i)
	src       []string         // per pattern id, as given
	always    [][]int32        // per list: patterns without literals, run every time

	class [256]uint8 // input byte → symbol class (ASCII letters folded)
	ncls  uint32
	// delta[s + class] is the next state after state s (states are
	// stored premultiplied by ncls, so a step is one add and one load),
	// with outFlag set when that state has outputs.
	delta    []uint32
	outStart []uint32 // outputs of state s (not premultiplied): outs[outStart[s]:outStart[s+1]]
	outs     []uint32 // pattern id << 1 | 1 if exact
}

const outFlag = 1 << 31

// PatternError is a pattern that does not compile.
type PatternError struct {
	List, Index int
	Pattern     string
	Err         error
}

func (e *PatternError) Error() string {
	return fmt.Sprintf("invalid regular expression %q: %v", e.Pattern, e.Err)
}

func (e *PatternError) Unwrap() error { return e.Err }

// Compile builds a Matcher over lists, in priority order. Patterns use Go's
// RE2 syntax (no lookaround or backreferences) and are matched
// case-insensitively; `(?-i)` inside a pattern turns that off for it. The
// first bad pattern is returned as a *PatternError.
func Compile(lists [][]string) (*Matcher, error) {
	m := &Matcher{nlists: len(lists), listStart: make([]int32, len(lists)+1), always: make([][]int32, len(lists))}
	total := 0
	for _, l := range lists {
		total += len(l)
	}
	if total > MaxPatterns {
		return nil, fmt.Errorf("too many patterns (%d, at most %d)", total, MaxPatterns)
	}
	type lit struct {
		pid   int32
		exact bool
	}
	lits := map[string][]lit{}
	var order []string // literals in first-seen order, for a deterministic automaton
	for li, list := range lists {
		m.listStart[li] = int32(len(m.res))
		for i, src := range list {
			pid := int32(len(m.res))
			re, err := regexp.Compile("(?i)" + src)
			if err != nil {
				return nil, &PatternError{List: li, Index: i, Pattern: src, Err: cleanRegexpError(err)}
			}
			parsed, err := syntax.Parse("(?i)"+src, syntax.Perl)
			if err != nil {
				return nil, &PatternError{List: li, Index: i, Pattern: src, Err: cleanRegexpError(err)}
			}
			m.res = append(m.res, re)
			m.src = append(m.src, src)
			m.listOf = append(m.listOf, int32(li))

			// A top-level alternation is analysed branch by branch: a hit
			// of an exact branch is a match of the pattern even when
			// other branches need their regexp (`curl|java/\d`).
			top := parsed.Simplify()
			for top.Op == syntax.OpCapture {
				top = top.Sub[0]
			}
			branches := []*syntax.Regexp{top}
			if top.Op == syntax.OpAlternate {
				branches = top.Sub
			}
			var infos []info
			always := false
			for _, b := range branches {
				in := analyze(b)
				if in.exact && len(in.set) == 0 {
					continue // never matches
				}
				if !usable(in.set) {
					always = true
					break
				}
				infos = append(infos, in)
			}
			if always {
				m.always[li] = append(m.always[li], pid)
				continue
			}
			for _, in := range infos {
				for _, s := range in.set {
					if _, seen := lits[s]; !seen {
						order = append(order, s)
					}
					lits[s] = append(lits[s], lit{pid, in.exact})
				}
			}
		}
	}
	m.listStart[len(lists)] = int32(len(m.res))

	// symbol classes: one per byte used in a literal, 0 for the rest
	for _, s := range order {
		for i := 0; i < len(s); i++ {
			if m.class[s[i]] == 0 {
				m.ncls++
				m.class[s[i]] = uint8(m.ncls)
			}
		}
	}
	m.ncls++ // class 0
	for c := 'A'; c <= 'Z'; c++ {
		m.class[c] = m.class[c+'a'-'A']
	}

	// trie
	n := m.ncls
	const none = ^uint32(0)
	newState := func() uint32 {
		s := uint32(len(m.delta)) / n
		for range n {
			m.delta = append(m.delta, none)
		}
		return s
	}
	newState() // root
	var outputs [][]uint32
	outputs = append(outputs, nil)
	for _, s := range order {
		st := uint32(0)
		for i := 0; i < len(s); i++ {
			c := uint32(m.class[s[i]])
			if m.delta[st*n+c] == none {
				ns := newState()
				outputs = append(outputs, nil)
				m.delta[st*n+c] = ns
			}
			st = m.delta[st*n+c]
		}
		for _, l := range lits[s] {
			o := uint32(l.pid) << 1
			if l.exact {
				o |= 1
			}
			outputs[st] = append(outputs[st], o)
		}
	}

	// failure links (breadth first), completing the DFA
	nstates := uint32(len(m.delta)) / n
	fail := make([]uint32, nstates)
	queue := make([]uint32, 0, nstates)
	for c := range n {
		t := m.delta[c]
		if t == none {
			m.delta[c] = 0
		} else {
			fail[t] = 0
			queue = append(queue, t)
		}
	}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		outputs[s] = append(outputs[s], outputs[fail[s]]...)
		for c := range n {
			t := m.delta[s*n+c]
			if t == none {
				m.delta[s*n+c] = m.delta[fail[s]*n+c]
				continue
			}
			fail[t] = m.delta[fail[s]*n+c]
			queue = append(queue, t)
		}
	}

	// flatten outputs and flag the transitions into states that have some
	m.outStart = make([]uint32, nstates+1)
	for s := range nstates {
		m.outStart[s] = uint32(len(m.outs))
		m.outs = append(m.outs, dedupeOuts(outputs[s])...)
	}
	m.outStart[nstates] = uint32(len(m.outs))
	for i, t := range m.delta {
		flag := uint32(0)
		if m.outStart[t+1] > m.outStart[t] {
			flag = outFlag
		}
		m.delta[i] = t*n | flag
	}
	return m, nil
}

func dedupeOuts(o []uint32) []uint32 {
	var out []uint32
	for _, x := range o {
		dup := false
		for _, y := range out {
			if x == y {
				dup = true
				break
			}
		}
		if !dup {
			out = append(out, x)
		}
	}
	return out
}

// cleanRegexpError drops Go's "error parsing regexp: " prefix and the (?i)
// this package adds.
func cleanRegexpError(err error) error {
	msg := strings.TrimPrefix(err.Error(), "error parsing regexp: ")
	msg = strings.Replace(msg, "`(?i)", "`", 1)
	return fmt.Errorf("%s (Go RE2 syntax: no lookaround or backreferences)", msg)
}

// Match returns the index of the first list, from list `from` on, that
// has a pattern matching somewhere in ua, or -1. Lists before `from` are
// ignored. It does not allocate.
func (m *Matcher) Match(ua []byte, from int) int {
	if m == nil || from >= m.nlists {
		return -1
	}
	var cand [MaxPatterns / 64]uint64
	best := m.nlists
	n := m.ncls
	delta, outs, outStart, listOf := m.delta, m.outs, m.outStart, m.listOf
	st := uint32(0)
	for i := 0; i < len(ua); i++ {
		b := ua[i]
		c := m.class[b]
		if b >= 0x80 {
			// the two runes that Unicode folds to ASCII letters
			if b == 0xE2 && i+2 < len(ua) && ua[i+1] == 0x84 && ua[i+2] == 0xAA {
				c, i = m.class['k'], i+2
			} else if b == 0xC5 && i+1 < len(ua) && ua[i+1] == 0xBF {
				c, i = m.class['s'], i+1
			}
		}
		next := delta[st+uint32(c)]
		st = next &^ outFlag
		if next&outFlag == 0 {
			continue
		}
		s := st / n
		for _, o := range outs[outStart[s]:outStart[s+1]] {
			pid := o >> 1
			if o&1 == 0 {
				cand[pid>>6] |= 1 << (pid & 63)
				continue
			}
			if l := int(listOf[pid]); l < best && l >= from {
				if l == from {
					return l
				}
				best = l
			}
		}
	}
	for l := from; l < best; l++ {
		for _, pid := range m.always[l] {
			if m.res[pid].Match(ua) {
				return l
			}
		}
		lo, hi := uint32(m.listStart[l]), uint32(m.listStart[l+1])
		if lo == hi {
			continue
		}
		for w := lo >> 6; w <= (hi-1)>>6; w++ {
			for word := cand[w]; word != 0; word &= word - 1 {
				pid := w<<6 | uint32(bits.TrailingZeros64(word))
				if pid >= lo && pid < hi && m.res[pid].Match(ua) {
					return l
				}
			}
		}
	}
	if best < m.nlists {
		return best
	}
	return -1
}

// Stats describes a compiled Matcher, for logs and tests.
type Stats struct {
	Patterns  int // all patterns
	Exact     int // decided by the prefilter alone (at least some branches)
	Confirmed int // prefiltered, always confirmed by their regexp
	Always    int // without literals: run on every input
	States    int // automaton states
	Classes   int // symbol classes
}

// Stats returns counts about m.
func (m *Matcher) Stats() Stats {
	st := Stats{Patterns: len(m.res), States: len(m.outStart) - 1, Classes: int(m.ncls)}
	exact := make([]bool, len(m.res))
	lit := make([]bool, len(m.res))
	for _, o := range m.outs {
		lit[o>>1] = true
		if o&1 != 0 {
			exact[o>>1] = true
		}
	}
	for _, a := range m.always {
		st.Always += len(a)
	}
	for i := range m.res {
		switch {
		case exact[i]:
			st.Exact++
		case lit[i]:
			st.Confirmed++
		}
	}
	return st
}

// Always returns the indexes (within list l) of the patterns that have no
// literal and run on every input; config load warns about them.
func (m *Matcher) Always(l int) []int {
	var out []int
	for _, pid := range m.always[l] {
		out = append(out, int(pid-m.listStart[l]))
	}
	return out
}
