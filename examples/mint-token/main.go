// Command mint-token signs an HS256 JWT for trying the examples:
//
//	go run ./examples/mint-token -secret "$JWT_SECRET" -iss example-issuer -sub user-42 \
//	    -claim email=u42@example.com -claim roles=reader,writer -claim plan=premium -ttl 1h
//
// A claim value with commas becomes an array; -ttl 0 omits exp; a negative
// -ttl makes an expired token.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/cristalhq/jwt/v4"
)

type claims map[string]any

func main() {
	secret := flag.String("secret", os.Getenv("JWT_SECRET"), "HS256 secret (default $JWT_SECRET)")
	iss := flag.String("iss", "example-issuer", "iss claim (selects the consumer credential)")
	sub := flag.String("sub", "user-42", "sub claim")
	ttl := flag.Duration("ttl", time.Hour, "lifetime (exp = now + ttl)")
	var extra []string
	flag.Func("claim", "extra claim name=value (repeatable)", func(s string) error { extra = append(extra, s); return nil })
	flag.Parse()
	c := claims{"iss": *iss, "sub": *sub, "iat": time.Now().Unix()}
	if *ttl != 0 {
		c["exp"] = time.Now().Add(*ttl).Unix()
	}
	for _, kv := range extra {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			fmt.Fprintln(os.Stderr, "mint-token: -claim wants name=value")
			os.Exit(2)
		}
		if strings.Contains(v, ",") {
			c[k] = strings.Split(v, ",")
		} else {
			c[k] = v
		}
	}
	signer, err := jwt.NewSignerHS(jwt.HS256, []byte(*secret))
	if err != nil {
		fmt.Fprintln(os.Stderr, "mint-token:", err)
		os.Exit(1)
	}
	tok, err := jwt.NewBuilder(signer).Build(c)
	if err != nil {
		fmt.Fprintln(os.Stderr, "mint-token:", err)
		os.Exit(1)
	}
	fmt.Println(tok.String())
}
