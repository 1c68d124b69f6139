package filters

// Order is the fixed order of filters in every chain: cheapest and least
// revealing first (see DESIGN.md). A route's plugins run in this order, not
// in the order the config lists them, like CoreDNS's plugin.cfg. It differs
// from Kong's priorities on purpose: a request from a denied IP without a
// token gets 403 here, 401 in Kong.
var Order = []string{
	"ip-restriction",
	"bot-detection",
	"request-size-limiting",
	"jwt",
	"rate-limiting",
	"request-validator",
	"request-transformer",
	"http-log",
}

// OrderOf returns the position of a plugin name in Order, or -1.
func OrderOf(name string) int {
	for i, n := range Order {
		if n == name {
			return i
		}
	}
	return -1
}
