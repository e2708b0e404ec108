// Package gateway is an embeddable API gateway: routing, authentication,
// rate limiting, circuit breaking, caching and a fast reverse-proxy core,
// composed in your own main package from plain [net/http] handlers and
// middleware.
//
// A [Gateway] is an [http.Handler]. It runs a fixed, safety-first global
// chain on every request (recover from panics, request ID, client IP from
// trusted proxies, path normalization, optional access log, body limit), then
// the middleware added with [Gateway.Use], then a compiled route table.
// Routes use [net/http.ServeMux] pattern syntax; each route's chain is
// built once, when the table is compiled, never per request. A route is
// authenticated by Config.Auth unless it is marked [Public].
//
// Services are usually *upstream.Upstream handlers, the proxy core, and
// every policy (auth, ratelimit, breaker, cache) is a constructor returning
// func(http.Handler) http.Handler, so each can be unit tested with
// net/http/httptest alone.
//
// Everything the gateway itself answers (404, 405, 413, 502, 503, 504, ...)
// is an RFC 9457 application/problem+json document carrying the request ID;
// [StatusOf] is the one mapping from errors to statuses.
//
// # Example
//
//	package main
//
//	import (
//		"context"
//		"log"
//		"os"
//		"os/signal"
//		"syscall"
//
//		"github.com/gatewaykit/gateway"
//		"github.com/gatewaykit/gateway/discovery"
//		"github.com/gatewaykit/gateway/upstream"
//	)
//
//	func main() {
//		users := upstream.New(upstream.Config{Name: "users", Discovery: discovery.Static("10.0.0.7:8080", "10.0.0.8:8080")})
//
//		gw := gateway.New(gateway.Config{AccessLog: true})
//		gw.Handle("GET /users/{id}", users, gateway.Public)
//		gw.Handle("GET /healthz", gw.Liveness(), gateway.Public)
//		gw.Handle("GET /readyz", gw.Readiness(), gateway.Public)
//
//		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
//		defer stop()
//		if err := gw.ListenAndServe(ctx, ":8080"); err != nil { // nil after a clean shutdown
//			log.Fatal(err)
//		}
//	}
//
// # Reloading
//
// [Gateway.Reload] replaces every route and global middleware at once: the
// new table is compiled off the request path and published with an atomic
// pointer only if it compiles. Requests in flight, streams and WebSockets
// finish on the table they started on.
//
// # Dependencies
//
// The root package imports only router, upstream and middleware; a binary
// that uses the gateway and two policies compiles nothing else of this
// module (no Redis, etcd, Consul or gRPC).
package gateway
