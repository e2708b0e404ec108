// Package cache is an RFC 9111 shared HTTP cache for the gateway, used as
// middleware: responses from upstream are stored in a [Store] and served
// from it while fresh, revalidated when stale, and streamed to the client
// while they are being stored.
//
//	pages := cache.New(cache.Config{Store: cache.NewMemory(64 << 20)})
//	go pages.Run(ctx) // background refreshes (stale-while-revalidate)
//	gw.Handle("GET /catalog/", catalog, gateway.Public, pages.Handler)
//
// # What it implements
//
// The cache follows RFC 9111 as a shared cache, RFC 5861 and RFC 9211:
//
//   - Storing (§3): only GET responses with a final status other than 206
//     and 304; never with no-store (unless must-understand and a status the
//     cache understands), private, Set-Cookie or Vary: *; a response to a
//     request with Authorization only with public, s-maxage or
//     must-revalidate (§3.5); responses without explicit freshness only if
//     their status is heuristically cacheable; never an incomplete body
//     (client gone, Content-Length mismatch, panic, over MaxObjectBytes).
//     Hop-by-hop fields are not stored; a missing Date is added.
//   - Freshness (§4.2): s-maxage, then max-age, then Expires minus Date;
//     invalid or repeated freshness information means stale. Heuristic
//     freshness ([Config.TTL], capped at 10% of the time since
//     Last-Modified) only without explicit expiration. Age is
//     computed as §4.2.3 says (apparent age, Age, response delay, resident
//     time) and sent on every response served from storage.
//   - Request directives: max-age, max-stale, min-fresh, no-cache,
//     no-store, only-if-cached (504 problem+json when nothing usable is
//     stored) and stale-if-error.
//   - Vary (§4.1): each variant under its own secondary key, built from
//     normalized request values (field lines joined, list members
//     trimmed, case folded for Accept*); Vary: * is never stored.
//   - Validation (§4.3): a stale response is revalidated with its ETag and
//     Last-Modified; a 304 updates the stored header fields (§3.2); a 200
//     replaces it; no-cache, must-revalidate, proxy-revalidate and
//     s-maxage forbid serving it stale.
//   - stale-while-revalidate serves the stale response and refreshes it in
//     the background, under the Cache's own context, in the workers that
//     [Cache.Run] runs (without Run the revalidation is synchronous);
//     stale-if-error serves the stale response when revalidation gets a
//     5xx.
//   - Invalidation (§4.4): a 2xx or 3xx response to an unsafe method
//     removes the stored responses of the target URI and of same-origin
//     Location and Content-Location URIs.
//   - HEAD is served from a stored GET. Client conditionals (If-None-Match,
//     If-Modified-Since) are answered 304 from storage. A single byte range
//     of a stored 200 is served as 206 (If-Range honoured); other ranges get
//     the whole response (a server may ignore Range); a range request that
//     misses is passed through and its 206 is not stored.
//   - Cache-Status (RFC 9211) on every response: "hit; ttl=N",
//     "fwd=uri-miss; stored", "fwd=stale; fwd-status=304", "fwd=request"
//     (the request's directives, such as no-cache, sent it upstream),
//     "fwd=uri-miss; collapsed", "fwd=bypass" and detail=reason when a
//     response is not stored. "stored" is sent with the response header,
//     before the body: it means storing began, and is abandoned if the
//     body turns out incomplete or larger than MaxObjectBytes.
//
// Concurrent misses for one key send one request upstream; the others wait
// (at most [Config.CollapseTimeout], and never past their own context) and
// are answered with its response only when that response was storable:
// a private, no-store, Set-Cookie or otherwise uncacheable response is
// never shared, and the waiters go upstream themselves. Such a key then
// skips collapsing for 30 seconds, so that uncacheable URLs do not queue.
//
// # Keys and cache poisoning
//
// A cache poisoning attack makes the origin produce a harmful response
// from an input that is not part of the cache key, so that the stored
// response is served to everyone. The rule is: no input the key ignores
// may change the response. The key is the method (GET; HEAD shares it),
// the scheme, the host (lower-cased, default port removed), the escaped
// path and the query, plus [Config.KeyHeaders] and [Config.Consumer], plus
// the request fields the response's Vary lists. Therefore:
//
//   - Query: by default every parameter is keyed (sorted by name). With
//     [Config.QueryKeys] or [Config.IgnoreQuery] the parameters left out of
//     the key are also removed from the request sent upstream, so they
//     cannot reach the origin at all.
//   - Headers: if the origin reads a request header (X-Forwarded-Host,
//     X-Original-URL, X-HTTP-Method-Override, Accept-Language, a tenant
//     header...), either the origin lists it in Vary, or you list it in
//     KeyHeaders, or a middleware before the cache removes or overwrites it.
//     The gateway's proxy already drops client Forwarded/X-Forwarded-*
//     fields and sets them from the connection.
//   - Identity: responses that depend on who asks must be private or
//     no-store (never stored), or be keyed with Consumer. A request with
//     Authorization is stored only when the response says it is shareable
//     (§3.5); Set-Cookie responses are never stored.
//   - Path normalization (dot segments, duplicate slashes, case) belongs to
//     the middleware before the cache, so that equivalent paths share a key
//     and a purge by URL finds them.
//
// # Stores and purging
//
// [NewMemory] is the embedded store, bounded by bytes with a per-object
// cap and W-TinyLFU eviction. The Redis store (package
// cache/redisstore) shares entries between instances. [Cache.PurgeURL],
// [Cache.PurgePrefix] and [Cache.PurgeTag] (tags from the Surrogate-Key
// response field) remove entries; the Cache keeps a bounded index for them
// that follows evictions, or uses the store's own shared index when the
// store implements [Purger].
package cache
