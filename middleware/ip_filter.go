package middleware

import (
	"net/http"
	"net/netip"

	"github.com/gatewaykit/gateway/internal/problem"
)

// IPFilterConfig configures [IPFilter]. IPFilter compiles the prefixes
// when called; later changes to the slices have no effect.
type IPFilterConfig struct {
	// Allow lists the networks that may pass. Empty (the default) allows
	// every address that Deny does not list.
	Allow []netip.Prefix
	// Deny lists the networks that are refused; Deny wins over Allow.
	// Empty: none.
	Deny []netip.Prefix
}

// IPFilter returns a middleware that answers 403 problem+json to clients
// whose IP address is denied, and passes the others on.
//
// The client IP is the one [RealIP] recorded in the request's reqinfo
// record, else the peer address (r.RemoteAddr); IPv4-mapped IPv6 addresses
// match IPv4 prefixes. An address is refused when Deny holds it, or when
// Allow is not empty and does not hold it. A client IP that cannot be
// determined is refused whenever any rule is configured (fail closed).
//
// Prefixes are compiled into sorted ranges, so a lookup is a binary search
// that costs the same for 10 or 100,000 prefixes and allocates nothing.
// IPFilter panics when a prefix is invalid. The middleware is safe for
// simultaneous use by multiple goroutines.
func IPFilter(cfg IPFilterConfig) func(http.Handler) http.Handler {
	allow := newIPRanges(cfg.Allow, "allow")
	deny := newIPRanges(cfg.Deny, "deny")
	return func(next http.Handler) http.Handler {
		if allow.empty() && deny.empty() {
			return next
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ip := ClientIP(r)
			if !ip.IsValid() || deny.contains(ip) || (!allow.empty() && !allow.contains(ip)) {
				problem.Write(w, r, http.StatusForbidden, "the client address is not allowed")
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}
