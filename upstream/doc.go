// Package upstream is the gateway's reverse-proxy core: an [Upstream] is the
// [net/http.Handler] that sends requests to one service's endpoints, chosen
// per attempt by a [Balancer] from the set a [Discovery] provides, and
// copies the responses back.
//
// # Transports
//
// Plain-HTTP services ("http", the default scheme) go through the project's
// own synchronous HTTP/1.1 client (upstream/internal/h1): the request is
// written and the response read on the handler's goroutine over pooled
// keep-alive connections, without http.Transport's per-connection
// goroutines and channels, which is where a Go proxy loses most of its time
// to nginx. "https" services use an [net/http.Transport] that negotiates
// HTTP/2 by ALPN; "h2c" services get HTTP/2 with prior knowledge. Both
// paths pass the same behaviour suite: hop-by-hop headers, trailers, 1xx
// responses, Expect: 100-continue, protocol upgrades, streaming,
// cancellation, timeouts and retries. Resilience middleware (a circuit
// breaker's Transport) wraps the built transport through
// [Config.WrapTransport], which keeps the fast client underneath.
//
// # Request sanitisation
//
// The outbound request is built from the inbound one, which is never
// modified:
//   - hop-by-hop headers (Connection, Proxy-Connection, Keep-Alive,
//     Proxy-Authenticate, Proxy-Authorization, TE, Trailer,
//     Transfer-Encoding, Upgrade) are dropped, with the headers the client
//     named in Connection. They are dropped while copying the inbound
//     headers, before the gateway adds its own, so a client's
//     "Connection: X-Forwarded-For" (or naming any header set by
//     [Config.Rewrite]) cannot strip what the gateway sets. A header that
//     a preceding middleware set on the inbound request counts as the
//     client's: if the client named it in Connection it is removed, so a
//     spoofed value never passes. To let such middleware headers through,
//     call [SanitizeConnection] first in the gateway's chain (the client's
//     nominations are then applied at the entrance), or set them in Rewrite;
//   - TE: trailers is passed on; an upgrade request keeps its
//     Connection: Upgrade and Upgrade headers;
//   - X-Forwarded-For, X-Forwarded-Host, X-Forwarded-Proto and RFC 7239
//     Forwarded (for=, host=, proto=; IPv6 quoted in brackets) come from
//     the connection; the client's values are kept and extended only when
//     its address is in [Config.TrustedProxies]. X-Real-IP is the client
//     address the RealIP middleware resolved (internal/reqinfo) when there
//     is one, otherwise the value a trusted peer sent, otherwise the
//     direct peer;
//   - the path and raw query are sent byte for byte: the query is never
//     parsed or re-encoded, so a ";" reaches the upstream as sent;
//   - X-Request-ID is the gateway's request ID (internal/reqinfo) when it
//     has one; an absent User-Agent stays absent;
//   - Host follows [Config.Host]: the client's by default.
//
// # Endpoints and balancing
//
// The endpoint set is an immutable snapshot behind an atomic pointer:
// [Upstream.Run] swaps it on every [Discovery] update and requests read it
// without locks. A [Snapshotter] discovery (a static list) seeds it in
// [New]. The [Balancer] picks the endpoint of each attempt; [RoundRobin] is
// the default, and the package has weighted, random, least-request,
// peak-EWMA and consistent-hash (Maglev) balancers. Retries never go back
// to an endpoint that just failed while another remains.
//
// # Health
//
// Three mechanisms keep bad endpoints out of the balancer's set, each off
// until configured: active health checks ([Config.HealthCheck]: HTTP, TCP
// or the gRPC health checking protocol, every interval with jitter, with
// healthy and unhealthy thresholds), outlier detection from live traffic
// ([Config.Outlier]: consecutive 5xx or gateway errors eject an endpoint
// for the base ejection time × the times it was ejected, at most
// MaxEjectionPercent of the set at once), and slow start for endpoints
// entering rotation ([Config.SlowStart]). When too few endpoints are left
// (below [Config.PanicThreshold], by default none), [Config.Panic] either
// routes to all of them, as Envoy does, or answers 503. The set in rotation
// is recomputed only when health changes and published like the endpoint
// snapshot, so requests pay nothing for it; [Upstream.Health] and
// [Config.OnHealthEvent] expose the state.
//
// # Errors
//
// Failures before the response status are answered by
// [Config.ErrorHandler], RFC 9457 problem+json by default: no endpoint is
// 503 with Retry-After, a refused or reset connection or a malformed
// response is 502, a dial or response-header timeout is 504, and a client
// that went away (499) gets nothing and its upstream request is cancelled.
// After the status was sent, a failing upstream body aborts the client
// connection (panic with [net/http.ErrAbortHandler], which net/http
// recovers), because completing the response would pass a truncated body
// off as whole.
//
// # Example
//
//	users := upstream.New(upstream.Config{
//		Name:          "users",
//		Discovery:     discovery.Static("10.0.0.7:8080", "10.0.0.8:8080"),
//		Retries:       1,
//		RetryStatuses: []int{502, 503, 504},
//	})
//	go users.Run(ctx) // follows discovery updates until ctx ends
//	http.Handle("/users/", users)
package upstream
