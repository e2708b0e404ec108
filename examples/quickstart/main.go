// Command quickstart runs a gateway in front of in-process demo services on
// embedded defaults, and prints the URLs to try with curl.
//
//	go run ./examples/quickstart -addr 127.0.0.1:8080
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/gatewaykit/gateway"
	"github.com/gatewaykit/gateway/auth"
	"github.com/gatewaykit/gateway/cache"
	"github.com/gatewaykit/gateway/discovery"
	"github.com/gatewaykit/gateway/ratelimit"
	"github.com/gatewaykit/gateway/router"
	"github.com/gatewaykit/gateway/upstream"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address the gateway listens on")
	flag.Parse()

	logger := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if err := run(ctx, *addr, logger, os.Stdout); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, addr string, logger *slog.Logger, out io.Writer) error {
	// Two instances of a "users" service and one "catalog" service, each a
	// real HTTP server on a loopback port, stand in for backends.
	var usersAddrs []string
	for i := range 2 {
		a, err := serveDemo(ctx, usersService(i))
		if err != nil {
			return err
		}
		usersAddrs = append(usersAddrs, a)
	}
	catalogAddr, err := serveDemo(ctx, catalogService())
	if err != nil {
		return err
	}

	ordersAddr, err := serveDemo(ctx, ordersService())
	if err != nil {
		return err
	}

	users := upstream.New(upstream.Config{
		Name:      "users",
		Discovery: discovery.Static(usersAddrs...),
		Retries:   1,
	})
	catalog := upstream.New(upstream.Config{Name: "catalog", Discovery: discovery.Static(catalogAddr)})
	orders := upstream.New(upstream.Config{Name: "orders", Discovery: discovery.Static(ordersAddr)})

	// Auth: a JWT (signed here with a demo key) or an API key admits a
	// request to every route that is not marked Public.
	demo, err := newDemoAuth()
	if err != nil {
		return err
	}

	// Rate limit: 5 requests a minute per client IP on the demo route,
	// answered 429 with RateLimit and Retry-After headers beyond that.
	perClient := ratelimit.New(ratelimit.Config{
		Name:     "quickstart",
		Limiters: []ratelimit.Limiter{ratelimit.NewLocal(ratelimit.LocalConfig{Limits: []ratelimit.Limit{ratelimit.PerMinute(5)}})},
	})

	// Cache: an RFC 9111 shared cache in memory; the catalog answers with
	// Cache-Control: public, max-age=30.
	pages := cache.New(cache.Config{Store: cache.NewMemory(16 << 20)})

	// /limited/{id} is the users service behind the limiter, its path
	// rewritten to /users/{id}.
	toUsers, err := router.ReplacePrefix("/limited", "/users")
	if err != nil {
		return err
	}

	gw := gateway.New(gateway.Config{
		Logger:       logger,
		AccessLog:    true,
		MaxBodyBytes: 1 << 20,
		Auth:         auth.Require(demo.jwt, demo.keys),
	})
	gw.Use(auth.StripIdentity) // client-sent X-Consumer-* never reach an upstream, public routes included
	gw.Manage(pages)
	gw.Handle("GET /users/{id}", users, gateway.Public)
	gw.Handle("GET /catalog/", catalog, gateway.Public, pages.Handler)
	gw.Handle("GET /limited/{id}", users, gateway.Public, perClient.Handler, toUsers)
	gw.Handle("GET /orders/{id}", orders)
	gw.Handle("POST /orders", orders, auth.Scopes("orders:write"))
	gw.Handle("GET /healthz", gw.Liveness(), gateway.Public)
	gw.Handle("GET /readyz", gw.Readiness(), gateway.Public)

	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	base := "http://" + ln.Addr().String()
	fmt.Fprintf(out, `gatewaykit quickstart listening on %s

Try:
  curl -i %[2]s/users/42              # proxied, round robin over two instances
  curl -i %[2]s/catalog/books         # another service
  curl -i %[2]s/healthz %[2]s/readyz  # probes
  curl -i %[2]s/nowhere               # 404 as application/problem+json
  curl -i -X POST %[2]s/users/42      # 405 with Allow
  curl -i --path-as-is '%[2]s/users/..%%2f..%%2fetc'   # path tricks: 400

Authentication (every route not marked Public):
  curl -i %[2]s/orders/7                                    # 401 with WWW-Authenticate
  curl -i %[2]s/orders/7 -H 'Authorization: Bearer %[3]s'
  curl -i %[2]s/orders/7 -H 'X-API-Key: %[4]s'
  curl -i -X POST %[2]s/orders -H 'X-API-Key: %[4]s'         # 403: the key lacks orders:write
  curl -i -X POST %[2]s/orders -H 'Authorization: Bearer %[3]s'

Rate limit (5 a minute per client; the sixth gets 429 with RateLimit and Retry-After):
  for i in 1 2 3 4 5 6; do curl -s -o /dev/null -w '%%{http_code} ' %[2]s/limited/1; done; echo
  curl -i %[2]s/limited/1

Cache (RFC 9111; watch Age and Cache-Status):
  curl -i %[2]s/catalog/books; curl -i %[2]s/catalog/books

Press Ctrl-C to stop (graceful drain).
`, ln.Addr(), base, demo.token, demo.apiKey)
	return gw.Serve(ctx, ln)
}

// serveDemo serves h on a loopback port until ctx ends and returns its address.
func serveDemo(ctx context.Context, h http.Handler) (string, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	context.AfterFunc(ctx, func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	})
	return ln.Addr().String(), nil
}

func usersService(instance int) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /users/{id}", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{
			"id":         r.PathValue("id"),
			"name":       "user " + r.PathValue("id"),
			"instance":   instance,
			"request_id": r.Header.Get("X-Request-ID"),
			"forwarded":  r.Header.Get("Forwarded"),
		})
	})
	return mux
}

func ordersService() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{
			"method":   r.Method,
			"path":     r.URL.Path,
			"consumer": r.Header.Get("X-Consumer-ID"),
			"scopes":   r.Header.Get("X-Authenticated-Scope"),
		})
	})
}

func catalogService() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		item := strings.TrimPrefix(r.URL.Path, "/catalog/")
		w.Header().Set("Cache-Control", "public, max-age=30")
		writeJSON(w, map[string]any{"item": item, "price_cents": 1299, "served_at": time.Now().UTC().Format(time.RFC3339Nano)})
	})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
