package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"sync"
	"time"
)

// ListenAndServe listens on the TCP address addr and calls [Gateway.Serve].
func (g *Gateway) ListenAndServe(ctx context.Context, addr string) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("gateway: listen: %w", err)
	}
	return g.Serve(ctx, ln)
}

// Serve serves the gateway on ln until ctx ends, then shuts down gracefully:
// the readiness probe fails at once, new requests are still accepted for
// Config.DrainDelay, then the listener closes, requests in flight drain for
// up to Config.ShutdownTimeout, idle upstream connections are closed and the
// background work ([Gateway.Run]) stops. It returns nil after a clean
// shutdown, an error when the route table does not compile, the server
// fails, or the drain deadline passes (the remaining connections are then
// closed). Serve closes ln.
//
// With Config.TLS set, Serve terminates TLS and offers HTTP/2 by ALPN.
func (g *Gateway) Serve(ctx context.Context, ln net.Listener) error {
	if err := g.Compile(); err != nil {
		ln.Close()
		return err
	}
	srv := g.server()

	runCtx, stopRun := context.WithCancel(context.WithoutCancel(ctx))
	runDone := make(chan struct{})
	go func() {
		defer close(runDone)
		_ = g.Run(runCtx)
	}()

	serveErr := make(chan error, 1)
	go func() {
		if srv.TLSConfig != nil {
			serveErr <- srv.ServeTLS(ln, "", "")
			return
		}
		serveErr <- srv.Serve(ln)
	}()
	g.draining.Store(false)
	g.ready.Store(true)

	var err error
	select {
	case err = <-serveErr:
		g.ready.Store(false)
		err = fmt.Errorf("gateway: serve: %w", err)
	case <-ctx.Done():
		err = g.shutdown(srv, serveErr)
	}
	g.closeIdle()
	stopRun()
	<-runDone
	return err
}

// shutdown drains srv after ctx ended.
func (g *Gateway) shutdown(srv *http.Server, serveErr <-chan error) error {
	g.ready.Store(false)
	g.draining.Store(true)
	if d := g.cfg.DrainDelay; d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case err := <-serveErr:
			t.Stop()
			return fmt.Errorf("gateway: serve: %w", err)
		}
	}
	timeout := g.cfg.ShutdownTimeout
	if timeout == 0 {
		timeout = DefaultShutdownTimeout
	}
	sctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var err error
	if serr := srv.Shutdown(sctx); serr != nil {
		_ = srv.Close()
		err = fmt.Errorf("gateway: drain: %w", serr)
	}
	if serr := <-serveErr; serr != nil && !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = fmt.Errorf("gateway: serve: %w", serr)
	}
	g.logger.Info("gateway: stopped", "clean", err == nil)
	return err
}

func (g *Gateway) server() *http.Server {
	c := g.cfg
	srv := &http.Server{
		Handler:           g,
		ReadHeaderTimeout: orDuration(c.ReadHeaderTimeout, DefaultReadHeaderTimeout),
		IdleTimeout:       orDuration(c.IdleTimeout, DefaultIdleTimeout),
		MaxHeaderBytes:    c.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(g.logger.Handler(), slog.LevelWarn),
	}
	if srv.MaxHeaderBytes == 0 {
		srv.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if c.TLS != nil {
		tc := c.TLS.Clone()
		if len(tc.NextProtos) == 0 {
			tc.NextProtos = []string{"h2", "http/1.1"}
		}
		srv.TLSConfig = tc
	}
	return srv
}

func orDuration(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// closeIdle closes the idle upstream connections of every route handler that
// has them.
func (g *Gateway) closeIdle() {
	t, _ := g.current()
	for _, rt := range t.routes {
		if c, ok := rt.Handler.(interface{ CloseIdleConnections() }); ok {
			c.CloseIdleConnections()
		}
	}
}

// Run runs the gateway's background work (the upstreams' discovery watches
// and everything added with [Gateway.Manage]) until ctx ends, and returns nil
// then. A Runner that fails or panics is logged and does not stop the others.
// Serve calls Run; call it yourself only when you serve the Gateway with your
// own http.Server.
func (g *Gateway) Run(ctx context.Context) error {
	t, err := g.current()
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	for _, r := range t.runners {
		wg.Go(func() {
			defer func() {
				if p := recover(); p != nil {
					g.logger.Error("gateway: background work panicked", "panic", p, "stack", string(debug.Stack()))
				}
			}()
			if err := r.Run(ctx); err != nil && ctx.Err() == nil {
				g.logger.Error("gateway: background work failed", "err", err)
			}
		})
	}
	wg.Wait()
	return nil
}

// Liveness returns a handler for a liveness probe: 200 while the process can
// serve requests at all.
func (g *Gateway) Liveness() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeProbe(w, r, http.StatusOK, "alive")
	})
}

// Readiness returns a handler for a readiness probe: 200 while Serve is
// serving, 503 before it starts and from the moment shutdown begins, so a
// load balancer stops sending traffic before the listener closes. A gateway
// served by the caller's own server is ready once [Gateway.SetReady] says so.
func (g *Gateway) Readiness() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !g.ready.Load() {
			w.Header().Set("Retry-After", "1")
			detail := "not serving yet"
			if g.draining.Load() {
				detail = "draining"
			}
			WriteProblem(w, r, http.StatusServiceUnavailable, detail)
			return
		}
		writeProbe(w, r, http.StatusOK, "ready")
	})
}

// SetReady sets the readiness state, for callers that serve the Gateway with
// their own http.Server; Serve manages it itself.
func (g *Gateway) SetReady(ready bool) { g.ready.Store(ready) }

// Ready reports whether the readiness probe answers 200.
func (g *Gateway) Ready() bool { return g.ready.Load() }

func writeProbe(w http.ResponseWriter, r *http.Request, status int, state string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write([]byte(`{"status":"` + state + `"}` + "\n"))
	}
}
