package tlsconf

import (
	"crypto/tls"
	"encoding/asn1"
	"encoding/hex"
	"unicode/utf16"
)

// ClientSubject returns the verified client certificate's subject as an
// RFC 4514 string (e.g. `CN=alice,O=Example`), or "" when the client sent
// none. It is built from the certificate's raw subject, so every attribute
// appears (`CN=guest,CN=admin` for two CNs, where pkix.Name.String keeps
// one), last RDN first as RFC 4514 orders it, multi-valued RDNs joined with
// '+'. The result is printable ASCII, safe for a header: besides RFC 4514's
// escapes (`\,` `\+` `\"` `\\` `\<` `\>` `\;`, a leading `#` or space, a
// trailing space), every control byte, DEL and non-ASCII byte is written as
// `\XX` hex of its UTF-8 encoding (so U+202E is `\E2\80\AE`). A value that
// is not a plain string type (or a BMPString with invalid UTF-16) is
// written `#` + hex of its DER, an unknown attribute type as its dotted
// OID. A subject that does not parse gives "#" + hex of the raw subject.
func ClientSubject(cs *tls.ConnectionState) string {
	if cs == nil || len(cs.VerifiedChains) == 0 || len(cs.VerifiedChains[0]) == 0 {
		return ""
	}
	return string(AppendSubject(nil, cs.VerifiedChains[0][0].RawSubject))
}

type rawATV struct {
	Type  asn1.ObjectIdentifier
	Value asn1.RawValue
}

type rawRDNSET []rawATV // the name must end in SET for encoding/asn1

// RFC 4514 section 3 names (and Go's pkix ones).
var attrNames = map[string]string{
	"2.5.4.3": "CN", "2.5.4.5": "SERIALNUMBER", "2.5.4.6": "C", "2.5.4.7": "L", "2.5.4.8": "ST",
	"2.5.4.9": "STREET", "2.5.4.10": "O", "2.5.4.11": "OU", "2.5.4.17": "POSTALCODE",
	"0.9.2342.19200300.100.1.25": "DC", "0.9.2342.19200300.100.1.1": "UID",
}

// AppendSubject appends the RFC 4514 form of a DER subject (see
// ClientSubject) to dst.
func AppendSubject(dst, rawSubject []byte) []byte {
	var seq []rawRDNSET
	if rest, err := asn1.Unmarshal(rawSubject, &seq); err != nil || len(rest) > 0 {
		return hex.AppendEncode(append(dst, '#'), rawSubject)
	}
	for i := len(seq) - 1; i >= 0; i-- {
		if i < len(seq)-1 {
			dst = append(dst, ',')
		}
		for j, atv := range seq[i] {
			if j > 0 {
				dst = append(dst, '+')
			}
			oid := atv.Type.String()
			if n, ok := attrNames[oid]; ok {
				dst = append(dst, n...)
			} else {
				dst = append(dst, oid...)
			}
			dst = append(dst, '=')
			dst = appendValue(dst, atv.Value)
		}
	}
	return dst
}

func appendValue(dst []byte, v asn1.RawValue) []byte {
	if v.Class == asn1.ClassUniversal {
		switch v.Tag {
		case asn1.TagUTF8String, asn1.TagPrintableString, asn1.TagIA5String, asn1.TagNumericString, asn1.TagT61String:
			return appendEscaped(dst, v.Bytes)
		case asn1.TagBMPString:
			if len(v.Bytes)%2 == 0 {
				u := make([]uint16, len(v.Bytes)/2)
				for i := range u {
					u[i] = uint16(v.Bytes[2*i])<<8 | uint16(v.Bytes[2*i+1])
				}
				return appendEscaped(dst, []byte(string(utf16.Decode(u))))
			}
		}
	}
	return hex.AppendEncode(append(dst, '#'), v.FullBytes)
}

const hexDigits = "0123456789ABCDEF"

func appendEscaped(dst, v []byte) []byte {
	for i, c := range v {
		switch {
		case c < 0x20 || c >= 0x7f:
			dst = append(dst, '\\', hexDigits[c>>4], hexDigits[c&15])
		case c == '"' || c == '+' || c == ',' || c == ';' || c == '<' || c == '>' || c == '\\',
			c == '#' && i == 0, c == ' ' && (i == 0 || i == len(v)-1):
			dst = append(dst, '\\', c)
		default:
			dst = append(dst, c)
		}
	}
	return dst
}
