package schema

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func readFixture(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "bench", name))
	if err != nil {
		tb.Fatal(err)
	}
	return []byte(strings.TrimSpace(string(b)))
}

// orderBody returns a valid order document of about size bytes.
func orderBody(size int) []byte {
	var b strings.Builder
	b.WriteString(`{"id":"123e4567-e89b-12d3-a456-426614174000","createdAt":"2026-05-04T10:20:30.123Z","currency":"EUR",`)
	b.WriteString(`"customer":{"id":42,"name":"Ada Lovelace","email":"ada@example.com","phone":"+441234567890","vip":true,`)
	b.WriteString(`"address":{"street":"12 St James's Square","city":"London","zip":"SW1Y 4LB","country":"GB"}},`)
	b.WriteString(`"shipping":{"street":"1 Analytical Way","city":"Cambridge","zip":"CB2 1TN","country":"GB"},`)
	b.WriteString(`"coupons":["SPRING24","WELCOME10"],"metadata":{"channel":"web","ab":3,"beta":false,"ref":null},"items":[`)
	for i := 0; ; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"sku":"ABC-%05d","name":"Difference engine part %d","quantity":%d,"price":%d.%02d,"tags":["gift","new"],"options":{"colour":"brass","finish":"matte"},"discount":%s}`,
			i, i, 1+i%9, 10+i, i%100, map[bool]string{true: "null", false: "12.5"}[i%2 == 0])
		if b.Len() > size-200 {
			break
		}
	}
	b.WriteString(`]}`)
	return []byte(b.String())
}
