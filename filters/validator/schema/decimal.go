package schema

import (
	"math/big"
	"math/bits"
)

// num is an exact decimal view of a JSON number token, without allocating:
// value = ±0.D × 10^exp where D = a‖b are the significant digits (no leading
// or trailing zeros; two pieces because the token's '.' may split them).
// Zero has no digits. Exponents saturate at ±maxExp: two numbers that both
// exceed 10^(10^15) in magnitude (or both fall below 10^(-10^15)) compare
// equal; every other comparison is exact.
type num struct {
	neg  bool
	a, b []byte
	exp  int64
}

const maxExp = 1_000_000_000_000_000 / 1000 // 10^15: e*10+9 cannot overflow

func (x *num) zero() bool   { return len(x.a)+len(x.b) == 0 }
func (x *num) ndigits() int { return len(x.a) + len(x.b) }
func (x *num) digit(i int) byte {
	if i < len(x.a) {
		return x.a[i]
	}
	return x.b[i-len(x.a)]
}

// parseNum reads a token that passed the JSON number grammar.
func parseNum(s []byte) num {
	var x num
	i := 0
	if s[0] == '-' {
		x.neg = true
		i++
	}
	k := i
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	ip := s[k:i]
	var fp []byte
	if i < len(s) && s[i] == '.' {
		i++
		k = i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		fp = s[k:i]
	}
	var e int64
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		eneg := false
		if s[i] == '+' || s[i] == '-' {
			eneg = s[i] == '-'
			i++
		}
		for ; i < len(s); i++ {
			if e < maxExp {
				e = e*10 + int64(s[i]-'0')
			}
		}
		if e > maxExp {
			e = maxExp
		}
		if eneg {
			e = -e
		}
	}
	point := int64(len(ip)) + e
	for len(ip) > 0 && ip[0] == '0' {
		ip = ip[1:]
		point--
	}
	if len(ip) == 0 {
		for len(fp) > 0 && fp[0] == '0' {
			fp = fp[1:]
			point--
		}
	}
	for len(fp) > 0 && fp[len(fp)-1] == '0' {
		fp = fp[:len(fp)-1]
	}
	if len(fp) == 0 {
		for len(ip) > 0 && ip[len(ip)-1] == '0' {
			ip = ip[:len(ip)-1]
		}
	}
	x.a, x.b, x.exp = ip, fp, point
	if x.zero() {
		x.neg, x.exp = false, 0
	}
	return x
}

// cmpNum compares x and y exactly: -1, 0 or +1.
func cmpNum(x, y *num) int {
	xz, yz := x.zero(), y.zero()
	switch {
	case xz && yz:
		return 0
	case xz:
		if y.neg {
			return 1
		}
		return -1
	case yz:
		if x.neg {
			return -1
		}
		return 1
	case x.neg != y.neg:
		if x.neg {
			return -1
		}
		return 1
	}
	m := cmpMag(x, y)
	if x.neg {
		return -m
	}
	return m
}

func cmpMag(x, y *num) int {
	if x.exp != y.exp {
		if x.exp > y.exp {
			return 1
		}
		return -1
	}
	nx, ny := x.ndigits(), y.ndigits()
	n := min(nx, ny)
	for i := 0; i < n; i++ {
		dx, dy := x.digit(i), y.digit(i)
		if dx != dy {
			if dx > dy {
				return 1
			}
			return -1
		}
	}
	switch {
	case nx > ny:
		return 1
	case nx < ny:
		return -1
	}
	return 0
}

// isInt reports whether x has no fractional part (1.0 and 1e2 are integers,
// as in draft 6 and later and in the reference implementation).
func (x *num) isInt() bool {
	return x.zero() || x.exp >= int64(x.ndigits())
}

// divisor is a compiled multipleOf value: D × 10^dexp with D having no
// trailing zeros.
type divisor struct {
	d    uint64   // D when it fits in 19 digits
	big  *big.Int // D otherwise
	dexp int64
}

func newDivisor(x num) divisor {
	var dv divisor
	n := x.ndigits()
	dv.dexp = x.exp - int64(n)
	if n <= 19 {
		for i := 0; i < n; i++ {
			dv.d = dv.d*10 + uint64(x.digit(i)-'0')
		}
		return dv
	}
	s := make([]byte, 0, n)
	for i := 0; i < n; i++ {
		s = append(s, x.digit(i))
	}
	dv.big, _ = new(big.Int).SetString(string(s), 10)
	return dv
}

// multipleOf reports exactly whether x is an integer multiple of dv: with
// x = X × 10^xexp (X without trailing zeros), x/dv = (X/D) × 10^k where
// k = xexp - dexp. For k < 0 the quotient is an integer only when X is 0
// (10 does not divide X); otherwise D must divide X × 10^k, computed mod D in
// O(digits + log k) with 128-bit arithmetic, so 1e308 or a 10 000-digit
// number costs no float error and no allocation.
func multipleOf(x *num, dv *divisor) bool {
	if x.zero() {
		return true
	}
	n := x.ndigits()
	k := x.exp - int64(n) - dv.dexp
	if k < 0 {
		return false
	}
	if dv.big != nil {
		return multipleOfBig(x, dv, k)
	}
	D := dv.d
	if D == 1 {
		return true
	}
	var r uint64
	for i := 0; i < n; i++ {
		hi, lo := bits.Mul64(r, 10)
		lo, c := bits.Add64(lo, uint64(x.digit(i)-'0'), 0)
		hi += c
		_, r = bits.Div64(hi, lo, D)
	}
	if r == 0 {
		return true
	}
	return mulMod(r, powMod(10, k, D), D) == 0
}

func mulMod(a, b, m uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	_, r := bits.Div64(hi, lo, m)
	return r
}

func powMod(b uint64, e int64, m uint64) uint64 {
	r := uint64(1) % m
	b %= m
	for e > 0 {
		if e&1 == 1 {
			r = mulMod(r, b, m)
		}
		b = mulMod(b, b, m)
		e >>= 1
	}
	return r
}

// multipleOfBig handles divisors of more than 19 significant digits (rare,
// and allocating).
func multipleOfBig(x *num, dv *divisor, k int64) bool {
	n := x.ndigits()
	s := make([]byte, 0, n)
	for i := 0; i < n; i++ {
		s = append(s, x.digit(i))
	}
	X, _ := new(big.Int).SetString(string(s), 10)
	X.Mod(X, dv.big)
	p := new(big.Int).Exp(big.NewInt(10), big.NewInt(k), dv.big)
	X.Mul(X, p)
	X.Mod(X, dv.big)
	return X.Sign() == 0
}

// appendNum appends x in a short exact form (for error messages).
func appendNum(dst []byte, x *num) []byte {
	if x.zero() {
		return append(dst, '0')
	}
	if x.neg {
		dst = append(dst, '-')
	}
	n := x.ndigits()
	if x.exp > 0 && x.exp <= 21 && int64(n) <= x.exp {
		for i := 0; i < n; i++ {
			dst = append(dst, x.digit(i))
		}
		for i := int64(n); i < x.exp; i++ {
			dst = append(dst, '0')
		}
		return dst
	}
	dst = append(dst, x.digit(0))
	if n > 1 {
		dst = append(dst, '.')
		for i := 1; i < n; i++ {
			dst = append(dst, x.digit(i))
		}
	}
	if e := x.exp - 1; e != 0 {
		dst = append(dst, 'e')
		dst = appendInt(dst, e)
	}
	return dst
}

func appendInt(dst []byte, v int64) []byte {
	if v < 0 {
		dst = append(dst, '-')
		v = -v
	}
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			break
		}
	}
	return append(dst, b[i:]...)
}
