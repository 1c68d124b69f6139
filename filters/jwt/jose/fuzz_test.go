package jose

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"testing"
	"unicode/utf8"
)

// FuzzParse feeds arbitrary tokens to Parse and Verify. Parse must never
// panic; what it accepts must be three canonical base64url segments whose
// header is a JSON object, and nothing may verify against a key the fuzzer
// does not know.
func FuzzParse(f *testing.F) {
	f.Add([]byte("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.AAAA"))
	f.Add([]byte("eyJhbGciOiJub25lIn0.e30."))
	key, _ := NewHMACKey(HS256, []byte("fuzz-secret-fuzz-secret-fuzz-sec"))
	buf := make([]byte, 0, 256)
	f.Fuzz(func(t *testing.T, raw []byte) {
		var tok Token
		var err error
		buf, err = Parse(&tok, raw, buf)
		if err != nil {
			return
		}
		parts := bytes.Split(raw, []byte("."))
		if len(parts) != 3 {
			t.Fatalf("accepted %d segments", len(parts))
		}
		for i, dec := range [][]byte{tok.Header, tok.Payload, tok.Sig} {
			if enc := base64.RawURLEncoding.EncodeToString(dec); enc != string(parts[i]) {
				t.Fatalf("segment %d not canonical: %q re-encodes to %q", i, parts[i], enc)
			}
		}
		if ValidObject(tok.Header) != nil || tok.Alg == AlgUnknown {
			t.Fatalf("accepted header %q", tok.Header)
		}
		if !bytes.Equal(tok.SigningInput, raw[:len(parts[0])+1+len(parts[1])]) {
			t.Fatal("signing input")
		}
		if key.Verify(&tok) == nil {
			t.Fatalf("verified without the secret: %q", raw)
		}
	})
}

// FuzzJSON checks the scanner against encoding/json: whatever ValidObject
// accepts encoding/json accepts too and decodes to an object, whatever both
// accept decodes to the same strings, and ValidObject only refuses what
// encoding/json accepts for a documented reason (duplicate names, depth,
// invalid UTF-8, too many names).
func FuzzJSON(f *testing.F) {
	f.Add([]byte(`{"a":"\u00e9\ud83d\ude00","b":[1,2.5e3,true,null,{"c":"d"}]}`))
	f.Add([]byte(`{"a":1,"\u0061":2}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		err := ValidObject(data)
		std := json.Valid(data)
		if err == nil {
			if !std {
				t.Fatalf("accepted what encoding/json rejects: %q", data)
			}
			var m map[string]json.RawMessage
			if e := json.Unmarshal(data, &m); e != nil {
				t.Fatalf("accepted non-object %q: %v", data, e)
			}
			var it Members
			n := 0
			for it.Reset(data); it.Next(); n++ {
				var name string
				if e := json.Unmarshal(it.Name, &name); e != nil {
					t.Fatal(e)
				}
				if got := string(AppendString(nil, it.Name)); got != name {
					t.Fatalf("name %q decodes to %q, encoding/json %q", it.Name, got, name)
				}
				if !StringEqual(it.Name, name) {
					t.Fatalf("StringEqual(%q, %q) false", it.Name, name)
				}
				if v, k := Member(data, name); k == Invalid || !bytes.Equal(v, it.Value) {
					t.Fatalf("Member(%q) = %q", name, v)
				}
				if it.Kind == String {
					var s string
					if e := json.Unmarshal(it.Value, &s); e != nil {
						t.Fatal(e)
					}
					if got := string(AppendText(nil, it.Value, String)); got != s {
						t.Fatalf("value %q decodes to %q, encoding/json %q", it.Value, got, s)
					}
				}
			}
			if n != len(m) {
				t.Fatalf("%d members iterated, encoding/json has %d", n, len(m))
			}
			return
		}
		if std && !errors.Is(err, ErrJSONNotObject) && !errors.Is(err, ErrJSONDuplicate) &&
			!errors.Is(err, ErrJSONDepth) && !errors.Is(err, ErrJSONTooLarge) && utf8.Valid(data) {
			t.Fatalf("rejected valid JSON %q: %v", data, err)
		}
	})
}

// FuzzIndexLookup checks Index.Lookup against Lookup: for any object
// ValidObject accepts and any path, both find the same value and kind.
func FuzzIndexLookup(f *testing.F) {
	obj := `{"sub":"u1","a.b":1,"a":{"b":2,"c":{"d":[1,2]}},"realm_access":{"roles":["x","y"]},"e\u0073c":"v","n":null,"x.y":{"z":3}}`
	for _, p := range []string{"sub", "a.b", "a.c.d", "a.c", "realm_access.roles", "esc", "n", "x.y.z", "x.y", "missing", "a.", ".a", ""} {
		f.Add([]byte(obj), p)
	}
	f.Add([]byte(`{}`), "a")
	f.Fuzz(func(t *testing.T, data []byte, path string) {
		if ValidObject(data) != nil {
			return
		}
		v1, k1 := Lookup(data, path)
		v2, k2 := NewIndex(data).Lookup(path)
		if k1 != k2 || !bytes.Equal(v1, v2) {
			t.Fatalf("Lookup(%q, %q) = %q %v, Index.Lookup = %q %v", data, path, v1, k1, v2, k2)
		}
	})
}

// FuzzStringEqual checks StringEqual against encoding/json: for any JSON
// string literal "content" and any s, StringEqual is true exactly when the
// literal decodes to s.
func FuzzStringEqual(f *testing.F) {
	for _, seed := range [][2]string{
		{`iss`, "iss"}, {`\u0069ss`, "iss"}, {`is`, "iss"}, {`iss`, "is"},
		{`a\nb`, "a\\nb"}, {`a\nb`, "a\nb"}, {`\ud83d\ude00`, "😀"}, {`\/`, "/"}, {`\\`, `\`}, {``, ""},
	} {
		f.Add([]byte(seed[0]), seed[1])
	}
	f.Fuzz(func(t *testing.T, content []byte, s string) {
		raw := append(append([]byte{'"'}, content...), '"')
		var dec string
		if json.Unmarshal(raw, &dec) != nil || !utf8.Valid(raw) {
			return // StringEqual is only given strings ValidObject accepted
		}
		if got, want := StringEqual(raw, s), dec == s; got != want {
			t.Fatalf("StringEqual(%s, %q) = %v; %s decodes to %q", raw, s, got, raw, dec)
		}
		if !StringEqual(raw, dec) {
			t.Fatalf("StringEqual(%s, %q) false for its own decoding", raw, dec)
		}
	})
}
