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
	"github.com/gatewaykit/gateway/discovery"
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

func run(ctx context.Context, addr string, logger *slog.Logger, out *os.File) error {
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

	users := upstream.New(upstream.Config{
		Name:      "users",
		Discovery: discovery.Static(usersAddrs...),
		Retries:   1,
	})
	catalog := upstream.New(upstream.Config{Name: "catalog", Discovery: discovery.Static(catalogAddr)})

	gw := gateway.New(gateway.Config{Logger: logger, AccessLog: true, MaxBodyBytes: 1 << 20})
	gw.Handle("GET /users/{id}", users, gateway.Public)
	gw.Handle("GET /catalog/", catalog, gateway.Public)
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

Press Ctrl-C to stop (graceful drain).
`, ln.Addr(), base)
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
