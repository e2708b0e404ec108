// Command gateway is the gatewaykit entry of the loopback peer harness
// (../shared/bench): a gateway assembled from the library that proxies every
// request to one upstream, with a chosen middleware chain.
//
//	gateway -listen 127.0.0.1:18085 -upstream 127.0.0.1:18080 -chain bare
//
// Chains (the built-in chain of recover, request ID, real IP, path
// normalization and body limit runs in all of them; no access log, as every
// peer runs without one):
//
//   - bare: the proxy alone.
//   - ratelimit: a local GCRA limiter keyed on the client IP, with a limit
//     no benchmark reaches, so every request pays for a decision.
//   - jwt: JWT auth (ES256) on the route. The harness's load generator
//     cannot send headers, so a bench-only middleware in front adds the
//     same valid token to every request: the figure is the cached-token
//     path, as a client re-using its token sees it.
//   - cache: an in-memory RFC 9111 cache in front of the upstream; the
//     harness's upstream sends no Cache-Control, so a heuristic TTL of one
//     hour makes every request after the first a hit.
//   - breaker: the full resilience set on the upstream's fast client (service
//     and per-endpoint circuit breakers, retry with a 20 % budget, bulkhead),
//     plus outlier ejection.
//   - full: jwt, then ratelimit, on the breaker chain's upstream.
package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/gatewaykit/gateway"
	"github.com/gatewaykit/gateway/auth"
	"github.com/gatewaykit/gateway/breaker"
	"github.com/gatewaykit/gateway/cache"
	"github.com/gatewaykit/gateway/discovery"
	"github.com/gatewaykit/gateway/ratelimit"
	"github.com/gatewaykit/gateway/upstream"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:18085", "address to listen on")
	up := flag.String("upstream", "127.0.0.1:18080", "upstream host:port")
	chain := flag.String("chain", "bare", "middleware chain: bare, ratelimit, jwt, cache, breaker or full")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile to this file until shutdown")
	flag.Parse()

	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			log.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Fatal(err)
		}
		defer func() {
			pprof.StopCPUProfile()
			f.Close()
		}()
	}

	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	svc := upstream.New(upstream.Config{Name: "bench", Discovery: discovery.Static(*up), Logger: logger})
	if *chain == "breaker" || *chain == "full" {
		svc = resilient(*up, logger)
	}

	gw := gateway.New(gateway.Config{Logger: logger})
	switch *chain {
	case "bare":
		gw.Handle("/", svc, gateway.Public)
	case "ratelimit":
		gw.Handle("/", svc, gateway.Public, limiter().Handler)
	case "jwt":
		withToken, guard := jwtChain()
		gw.Handle("/", svc, gateway.Public, withToken, guard)
	case "cache":
		pages := cache.New(cache.Config{Store: cache.NewMemory(64 << 20), TTL: time.Hour})
		gw.Manage(pages)
		gw.Handle("/", svc, gateway.Public, pages.Handler)
	case "breaker":
		gw.Handle("/", svc, gateway.Public)
	case "full":
		withToken, guard := jwtChain()
		gw.Handle("/", svc, gateway.Public, withToken, guard, limiter().Handler)
	default:
		fmt.Fprintf(os.Stderr, "unknown chain %q\n", *chain)
		os.Exit(2)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := gw.ListenAndServe(ctx, *listen); err != nil {
		log.Print(err)
	}
}

// resilient is the upstream with every breaker policy except the per-attempt
// timeout, which upstream.Config.ResponseHeaderTimeout covers for free.
func resilient(addr string, logger *slog.Logger) *upstream.Upstream {
	brk := breaker.New(breaker.Config{
		Failures: 5, FailureRate: 0.5, MinRequests: 20, Cooldown: 30 * time.Second,
		Endpoint: breaker.EndpointConfig{Failures: 3, Cooldown: 10 * time.Second},
		Retry:    breaker.RetryConfig{MaxAttempts: 2, Budget: 0.2},
		Bulkhead: breaker.BulkheadConfig{MaxConcurrent: 4096, MaxQueue: 1024, QueueTimeout: 100 * time.Millisecond},
	})
	return upstream.New(upstream.Config{
		Name: "bench", Discovery: discovery.Static(addr), Logger: logger,
		WrapTransport:         brk.Transport,
		ResponseHeaderTimeout: 5 * time.Second,
		Outlier:               upstream.OutlierDetection{Consecutive5xx: 5},
	})
}

func limiter() *ratelimit.Policy {
	return ratelimit.New(ratelimit.Config{
		Name:     "bench",
		Limiters: []ratelimit.Limiter{ratelimit.NewLocal(ratelimit.LocalConfig{Limits: []ratelimit.Limit{ratelimit.PerSecond(100_000_000)}})},
	})
}

// jwtChain returns a bench-only middleware that adds a valid ES256 token to
// every request, and the JWT guard that checks it.
func jwtChain() (withToken, guard gateway.Middleware) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		log.Fatal(err)
	}
	verifier, err := auth.NewJWT(auth.JWTConfig{
		Issuer: "https://bench.local/", Audience: "bench",
		Keys: []auth.Key{{ID: "bench", Algorithm: "ES256", Key: &key.PublicKey}},
	})
	if err != nil {
		log.Fatal(err)
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{
		"iss": "https://bench.local/", "aud": "bench", "sub": "bench-client",
		"exp": time.Now().Add(24 * time.Hour).Unix(),
	})
	tok.Header["kid"] = "bench"
	signed, err := tok.SignedString(key)
	if err != nil {
		log.Fatal(err)
	}
	bearer := "Bearer " + signed
	withToken = func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			r.Header.Set("Authorization", bearer)
			next.ServeHTTP(w, r)
		})
	}
	return withToken, auth.Require(verifier)
}
