package ratelimit

import (
	"github.com/edgeguard/edgeguard/filters"
	"github.com/edgeguard/edgeguard/limiter"
)

// ClusterSharedKey is the env.Shared key under which the gateway stores its
// cluster node (a *cluster.Node from limiter/cluster, which uses the same
// key as cluster.SharedKey). The gateway must store it before it builds
// the plugins; policy cluster is a config error when it is absent.
const ClusterSharedKey = "cluster"

// ClusterSync is what the plugin needs from the cluster node: a place to
// register its engine (created with TrackDeltas) for the gossip sync.
type ClusterSync interface {
	RegisterEngine(name string, e *limiter.Engine) error
}

// clusterNode returns the gateway's cluster node, or nil.
//
// filters.Shared has no lookup without create; the placeholder stored when
// the key is absent is a nil interface, which the gateway never replaces
// (the cluster section is read at start-up, before any plugin is built).
func clusterNode(env *filters.Env) ClusterSync {
	if env == nil || env.Shared == nil {
		return nil
	}
	v := env.Shared.Get(ClusterSharedKey, func() any { return nil })
	cs, _ := v.(ClusterSync)
	return cs
}
