package proxy

import (
	"github.com/edgeguard/edgeguard/proxy/config"
	"github.com/edgeguard/edgeguard/proxy/config/confnode"
)

type configT = config.Config
type errsT = confnode.Errors

func loadT(f string) (*config.Config, *confnode.Errors) { return config.Load(f) }
