// Package ratelimit limits request rates per client, consumer, route,
// service or the whole gateway, with standard response headers.
//
// # Pieces
//
//   - [Limiter] is the pluggable backend: Allow(ctx, key, n) spends n units
//     of key's budget and returns a [Decision] (allowed, limit, remaining,
//     reset, retry-after). [WindowLimiter] adds several windows (per
//     second, minute, hour, day) decided together, all or nothing.
//   - [Local] is the in-memory backend for one instance: GCRA (default)
//     or a token bucket on golang.org/x/time/rate, with per-key state in a
//     sharded map bounded by a key cap and a memory cap, least-recently-
//     used and idle eviction. A decision allocates nothing. The
//     [github.com/gatewaykit/gateway/ratelimit/redislimit] subpackage is
//     the shared backend: exact across instances through one Redis.
//   - [Policy], built by [New] from a [Config], is the middleware: a
//     Name, a [Scope], a [KeyFunc], a cost per request, one or more
//     limiters, a [HeaderStyle] and a [FailureMode]. Its Handler method is
//     a func(http.Handler) http.Handler.
//
// # Scope and identity
//
// A counter's key is Name|pattern|key for [ScopeRoute] (the default) and
// Name||key for [ScopeService] and [ScopeGlobal]. So one Policy value
// attached to 100 routes gives each client 100 budgets when its scope is
// ScopeRoute, and one shared budget when it is ScopeService; two policies
// with different names never share a budget, even on one Redis. Pick the
// scope that says what you mean; [Policy.Key] shows the key for a request.
//
// # Keys
//
// [ClientIP] reads the client address resolved by the real-IP middleware
// from trusted proxies (never X-Forwarded-For directly) and falls back to
// the connection's address. [Header], [Route] and [Const] key by a header,
// the route or a constant (a service or global limit); [Compose] combines
// keys and [FirstOf] picks the first non-empty one. To limit per consumer,
// pass a KeyFunc that reads the authenticated identity from the context.
//
// # Headers and answers
//
// Allowed responses carry the IETF RateLimit-Policy and RateLimit fields
// (draft-ietf-httpapi-ratelimit-headers, -08 and later syntax), the classic
// X-RateLimit-Limit/Remaining/Reset, both or none. Denied requests get 429
// application/problem+json with Retry-After (whole seconds, rounded up).
//
// # Accuracy
//
// GCRA and the token bucket admit at most Burst units at once and Quota
// units per Window on average: in any interval of length d a key gets at
// most Burst + d*Quota/Window units. The default Burst is the whole Quota,
// which matches a fixed window's allowance without its double burst at the
// window edge. Eviction forgets a key's state: a key evicted for the caps
// (only under a flood of more distinct keys than MaxKeys) starts again with
// a full budget; an idle key is only forgotten once its budget has fully
// refilled, which changes no decision.
//
// # Example
//
//	perClient := ratelimit.New(ratelimit.Config{
//		Name:  "demo",
//		Limiters: []ratelimit.Limiter{ratelimit.NewLocal(ratelimit.LocalConfig{
//			Limits: []ratelimit.Limit{ratelimit.PerMinute(5), ratelimit.PerDay(1000)},
//		})},
//		Key: ratelimit.ClientIP,
//	})
//	mux.Handle("GET /demo", perClient.Handler(demo))
package ratelimit
