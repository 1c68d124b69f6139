// Package all links every filter into the binary: importing it runs each
// filter package's init, which registers its plugin.
package all

import (
	_ "github.com/edgeguard/edgeguard/filters/botdetect"
	_ "github.com/edgeguard/edgeguard/filters/httplog"
	_ "github.com/edgeguard/edgeguard/filters/iprestrict"
	_ "github.com/edgeguard/edgeguard/filters/jwt"
	_ "github.com/edgeguard/edgeguard/filters/ratelimit"
	_ "github.com/edgeguard/edgeguard/filters/sizelimit"
	_ "github.com/edgeguard/edgeguard/filters/transformer"
	_ "github.com/edgeguard/edgeguard/filters/validator"
)
