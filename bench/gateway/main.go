// Command gateway is the gatewaykit entry of the loopback peer harness
// (../shared/bench): a gateway assembled from the library that proxies every
// request to one upstream, with a chosen middleware chain.
//
//	gateway -listen 127.0.0.1:18085 -upstream 127.0.0.1:18080 -chain bare
//
// Chains: "bare" is the gateway's built-in chain (recover, request ID, real
// IP, path normalization, body limit) and the proxy, with no access log, as
// every peer runs.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/gatewaykit/gateway"
	"github.com/gatewaykit/gateway/discovery"
	"github.com/gatewaykit/gateway/upstream"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:18085", "address to listen on")
	up := flag.String("upstream", "127.0.0.1:18080", "upstream host:port")
	chain := flag.String("chain", "bare", "middleware chain: bare")
	flag.Parse()

	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	svc := upstream.New(upstream.Config{Name: "bench", Discovery: discovery.Static(*up), Logger: logger})

	gw := gateway.New(gateway.Config{Logger: logger})
	switch *chain {
	case "bare":
		gw.Handle("/", svc, gateway.Public)
	default:
		fmt.Fprintf(os.Stderr, "unknown chain %q\n", *chain)
		os.Exit(2)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := gw.ListenAndServe(ctx, *listen); err != nil {
		log.Fatal(err)
	}
}
