// Package middleware holds the gateway's general HTTP policies, each a
// plain func(http.Handler) http.Handler that works with any net/http
// server, router or test:
//
//   - [Recover]: a panic becomes a logged 500 problem, never a dead process;
//   - [RequestID]: validated inbound or generated X-Request-ID;
//   - [RealIP]: the client address behind trusted proxies only;
//   - [NormalizePath]: one canonical spelling of every path, before routing;
//   - [AccessLog]: one slog record per request;
//   - [BodyLimit]: request bodies bounded, 413 beyond;
//   - [Timeout]: a context deadline, 504 when it passes;
//   - [CORS], [Headers], [IPFilter], [Compress]: per-route policies.
//
// Every response a middleware makes itself is an RFC 9457
// application/problem+json document carrying the request ID. Middleware
// share one per-request record (request ID, client IP, upstream address,
// matched route) in the request context instead of each copying the
// request, and every middleware that watches or changes the response uses
// the project's single ResponseWriter wrapper, so Flush, Hijack and
// [net/http.ResponseController] keep working through any stack.
//
// # Order
//
// The recommended global chain, outermost first, is
//
//	Recover → RequestID → RealIP → NormalizePath → AccessLog → BodyLimit
//
// Recover goes first so that it catches panics anywhere, and attaches the
// shared record; RequestID next so that every later log line and problem
// response carries the ID; RealIP before anything that keys on the client;
// NormalizePath before the router and every policy that reads the path;
// AccessLog outside the rest so it measures them, and BodyLimit last, just
// before routing. Per-route policies then run in the order CORS (so that
// preflights are answered before authentication), IPFilter, Headers,
// Timeout, Compress, and the handler.
//
// # Example
//
//	logger := slog.New(slog.NewJSONHandler(os.Stderr, nil))
//	chain := func(h http.Handler) http.Handler {
//		h = middleware.BodyLimit(8 << 20)(h)
//		h = middleware.AccessLog(logger)(h)
//		h = middleware.NormalizePath(middleware.PathConfig{})(h)
//		h = middleware.RealIP(middleware.RealIPConfig{
//			TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
//		})(h)
//		h = middleware.RequestID(h)
//		return middleware.Recover(logger)(h)
//	}
//	http.ListenAndServe(":8080", chain(mux))
package middleware
