package ratelimit

import (
	"net"
	"net/http"
	"strconv"

	"github.com/gatewaykit/gateway/internal/reqinfo"
)

// KeyFunc returns the key a request is counted under: whose budget it
// spends. Requests with the same key share a budget within a [Policy] (and,
// for [ScopeRoute], within a route). An empty key is a valid key: every
// request for which the function returns "" shares that one budget, so a
// missing header cannot buy an unlimited one. A KeyFunc must be safe for
// simultaneous use and must not modify the request.
//
// The key functions of this package never read a client-supplied
// forwarding header (X-Forwarded-For, Forwarded, X-Real-IP): those are only
// trustworthy once the real-IP middleware has resolved them against the
// trusted proxies, and [ClientIP] reads that result.
type KeyFunc func(r *http.Request) string

// ClientIP keys by the client address resolved by the gateway's real-IP
// middleware (trusted proxies only), falling back to the host of
// r.RemoteAddr when that middleware did not run. It never reads forwarding
// headers itself.
func ClientIP(r *http.Request) string {
	if info := reqinfo.From(r.Context()); info != nil && info.ClientIP.IsValid() {
		return info.ClientIP.Unmap().String()
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// Header keys by the first value of the named request header (for example
// an API key header or a tenant ID set by an earlier, trusted middleware).
// Requests without it share the "" key. Do not key on a header a client can
// freely vary unless the limit is meant to be per value: each distinct
// value gets its own budget.
func Header(name string) KeyFunc {
	name = http.CanonicalHeaderKey(name)
	return func(r *http.Request) string {
		if v := r.Header[name]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
}

// Route keys by the matched route pattern (r.Pattern, set by the router or
// [net/http.ServeMux]), so that every client of a route shares one budget.
func Route(r *http.Request) string { return r.Pattern }

// Const returns a KeyFunc that puts every request under the same key, for
// a limit on a whole service or the whole gateway (for example
// Const("catalog")).
func Const(key string) KeyFunc {
	return func(*http.Request) string { return key }
}

// Compose keys by all of fns together (for example per consumer and
// route, or per client IP and API key). Each part is length-prefixed, so
// no value of one part can be chosen to collide with another combination.
// Compose with no functions is Const("").
func Compose(fns ...KeyFunc) KeyFunc {
	fns = append([]KeyFunc(nil), fns...)
	return func(r *http.Request) string {
		var buf [128]byte
		b := buf[:0]
		for i, fn := range fns {
			v := fn(r)
			if i > 0 {
				b = append(b, '|')
			}
			b = strconv.AppendInt(b, int64(len(v)), 10)
			b = append(b, ':')
			b = append(b, v...)
		}
		return string(b)
	}
}

// FirstOf keys by the first of fns that returns a non-empty key (for
// example the authenticated consumer, else the client IP), prefixed by its
// position so that a consumer named like an address cannot share that
// address's budget. It returns "" when all are empty.
func FirstOf(fns ...KeyFunc) KeyFunc {
	fns = append([]KeyFunc(nil), fns...)
	return func(r *http.Request) string {
		for i, fn := range fns {
			if v := fn(r); v != "" {
				return strconv.Itoa(i) + ":" + v
			}
		}
		return ""
	}
}
