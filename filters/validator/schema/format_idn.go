package schema

import (
	"bytes"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/idna"
	"golang.org/x/text/unicode/norm"
)

// idnaProfile checks labels as IDNA2008 registration does (RFC 5891):
// punycode, disallowed code points, the Bidi rule (RFC 5893), the joiner
// rules (CONTEXTJ) and hyphen placement. checkULabel adds the RFC 5892
// exceptions and CONTEXTO rules the package does not implement. This path
// allocates; it runs only for labels that are (or decode to) Unicode.
var idnaProfile = idna.New(idna.ValidateForRegistration(), idna.BidiRule(), idna.CheckJoiners(true),
	idna.CheckHyphens(true), idna.StrictDomainName(true))

// isALabel reports whether an LDH label is a valid A-label when it starts
// with "xn--" (other LDH labels are fine).
func isALabel(label []byte) bool {
	if len(label) < 4 || !strings.EqualFold(bstr(label[:4]), "xn--") {
		if len(label) >= 4 && label[2] == '-' && label[3] == '-' {
			return false // "--" in positions 3-4 is reserved for A-labels (RFC 5891 4.2.3.1)
		}
		return true
	}
	u, err := idnaProfile.ToUnicode(string(label))
	if err != nil || u == string(label) {
		return false
	}
	return checkULabel(u)
}

// checkULabel applies RFC 5892's exceptions (DISALLOWED U+0640, U+07FA,
// U+302E, U+302F, U+3031-3035, U+303B) and CONTEXTO rules (Appendix A).
func checkULabel(u string) bool {
	rs := []rune(u)
	if len(rs) > 0 && unicode.In(rs[0], unicode.Mn, unicode.Mc, unicode.Me) {
		return false
	}
	arabic, extArabic, kanaOrHan, katakanaDot := false, false, false, false
	for i, r := range rs {
		switch {
		case r == 0x0640, r == 0x07FA, r == 0x302E, r == 0x302F, r >= 0x3031 && r <= 0x3035, r == 0x303B:
			return false
		case r == 0x00B7: // MIDDLE DOT: between two 'l'
			if i == 0 || i == len(rs)-1 || rs[i-1] != 'l' || rs[i+1] != 'l' {
				return false
			}
		case r == 0x0375: // GREEK KERAIA: followed by Greek
			if i == len(rs)-1 || !unicode.Is(unicode.Greek, rs[i+1]) {
				return false
			}
		case r == 0x05F3 || r == 0x05F4: // GERESH, GERSHAYIM: after Hebrew
			if i == 0 || !unicode.Is(unicode.Hebrew, rs[i-1]) {
				return false
			}
		case r == 0x30FB:
			katakanaDot = true
		case r >= 0x0660 && r <= 0x0669:
			arabic = true
		case r >= 0x06F0 && r <= 0x06F9:
			extArabic = true
		}
		if !(unicode.In(r, unicode.L, unicode.M, unicode.Nd) || r == '-' || r == 0x00B7 || r == 0x0375 ||
			r == 0x05F3 || r == 0x05F4 || r == 0x30FB || r == 0x200C || r == 0x200D ||
			r == 0x00DF || r == 0x03C2 || r == 0x06FD || r == 0x06FE || r == 0x0F0B || r == 0x3007) {
			return false // symbols, punctuation, controls are DISALLOWED, but for the PVALID
			// exceptions of RFC 5892 2.6
		}
		if r != 0x30FB && (unicode.Is(unicode.Hiragana, r) || unicode.Is(unicode.Katakana, r) || unicode.Is(unicode.Han, r)) {
			kanaOrHan = true
		}
	}
	if arabic && extArabic {
		return false
	}
	if katakanaDot && !kanaOrHan {
		return false
	}
	return true
}

// isIDNHostname checks an internationalized host name: each label an LDH
// label, a valid A-label or a valid U-label; label separators may be the
// ideographic full stops of RFC 3490 too.
func isIDNHostname(s []byte) bool {
	if len(s) == 0 {
		return false
	}
	str := string(s)
	for _, dot := range []string{"\u3002", "\uff0e", "\uff61"} {
		str = strings.ReplaceAll(str, dot, ".")
	}
	ascii, err := idnaProfile.ToASCII(str)
	if err != nil || len(ascii) > 253 {
		return false
	}
	for _, label := range strings.Split(str, ".") {
		if label == "" {
			return false
		}
		if isASCII(label) {
			if !isHostname([]byte(label)) {
				return false
			}
			continue
		}
		a, err := idnaProfile.ToASCII(label)
		if err != nil || len(a) > 63 || !checkULabel(label) {
			return false
		}
	}
	return true
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// isIDNEmail checks an internationalized address (RFC 6531): a local part
// that may hold UTF-8, and an internationalized domain.
func isIDNEmail(s []byte) bool {
	at := bytes.LastIndexByte(s, '@')
	if at <= 0 {
		return false
	}
	local, domain := s[:at], s[at+1:]
	var ascii []byte
	for _, r := range string(local) {
		if r >= utf8.RuneSelf {
			ascii = append(ascii, 'a')
		} else {
			ascii = append(ascii, byte(r))
		}
	}
	if !isEmail(append(ascii, "@a.b"...)) {
		return false
	}
	if len(domain) > 1 && domain[0] == '[' {
		return isEmail(append([]byte("a@"), domain...))
	}
	// a domain that is not in NFC is still a valid address (RFC 6531
	// leaves normalisation to the receiver)
	return isIDNHostname(norm.NFC.Bytes(domain))
}
