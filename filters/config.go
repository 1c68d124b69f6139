package filters

import "github.com/edgeguard/edgeguard/proxy/config/confnode"

// DecodeConfig decodes a plugin's `config:` node n into v (a pointer, as
// for n.Decode) and then runs check, the plugin's value checks, which
// record their problems on n. check runs even when decoding failed: an
// unknown field is skipped and a value of the wrong type is left at its
// zero value (as if absent), so one run lists the unknown fields, the wrong
// types and the bad values of a plugin together, as the gateway does for
// its top level (config.Parse).
//
// A problem check records at or under a field that failed to decode is
// dropped: it would only repeat that field's decode error (a zero value
// "must be > 0" after "must be a whole number"). Duplicate keys keep their
// first value, so checks of it are kept.
//
// DecodeConfig reports whether n has no problems from decoding or check;
// only then may the plugin build its filter. check must not build anything
// that needs releasing, since it also runs for a config that is refused.
func DecodeConfig(n confnode.Node, v any, check func()) bool {
	before := len(n.Errs.List)
	n.Decode(v)
	decoded := len(n.Errs.List)
	failed := n.Errs.List[before:decoded:decoded]
	check()
	kept := n.Errs.List[:decoded]
	for _, e := range n.Errs.List[decoded:] {
		if !e.Repeats(failed) {
			kept = append(kept, e)
		}
	}
	n.Errs.List = kept
	return len(n.Errs.List) == before
}
