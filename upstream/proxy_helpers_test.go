package upstream

import (
	"bufio"
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/gatewaykit/gateway/internal/reqinfo"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// transportPath is one of the two client paths every proxy behaviour is
// tested on.
type transportPath struct {
	name string
	std  bool // http.Transport instead of the fast h1 client
}

var transportPaths = []transportPath{{name: "h1"}, {name: "transport", std: true}}

// forEachPath runs f as a parallel subtest for each transport path.
func forEachPath(t *testing.T, f func(t *testing.T, p transportPath)) {
	t.Helper()
	for _, p := range transportPaths {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			f(t, p)
		})
	}
}

// staticDiscovery is a test Discovery over fixed addresses (the discovery
// package imports this one, so tests cannot use discovery.Static).
type staticDiscovery []Endpoint

func (s staticDiscovery) Snapshot() []Endpoint { return append([]Endpoint(nil), s...) }
func (s staticDiscovery) Watch(ctx context.Context, _ string) (<-chan []Endpoint, error) {
	ch := make(chan []Endpoint, 1)
	ch <- s.Snapshot()
	context.AfterFunc(ctx, func() { close(ch) })
	return ch, nil
}

func endpointsOf(addrs ...string) staticDiscovery {
	eps := make(staticDiscovery, len(addrs))
	for i, a := range addrs {
		eps[i] = Endpoint{Addr: a, Weight: 1}
	}
	return eps
}

// hostOf returns the host:port of an httptest server URL.
func hostOf(t testing.TB, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	require.NoError(t, err)
	return u.Host
}

// newTestUpstream builds an Upstream on path p. On the transport path the
// Config's own timeouts and pool sizes configure an http.Transport.
func newTestUpstream(t testing.TB, p transportPath, cfg Config) *Upstream {
	t.Helper()
	if p.std && cfg.Transport == nil {
		c := withDefaults(cfg)
		cfg.Transport = newStdTransport(&c)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	u := New(cfg)
	t.Cleanup(u.CloseIdleConnections)
	return u
}

// frontend serves h (wrapped to attach a reqinfo record with request ID
// "rid-1") on a real server and returns it and a client for it.
func frontend(t testing.TB, h http.Handler) (*httptest.Server, *http.Client) {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r, info := reqinfo.Ensure(r)
		info.RequestID = "rid-1"
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	tr := &http.Transport{DisableCompression: true}
	t.Cleanup(tr.CloseIdleConnections)
	return srv, &http.Client{Transport: tr}
}

// backend starts an httptest server with h and returns its host:port.
func backend(t testing.TB, h http.HandlerFunc) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return hostOf(t, srv.URL)
}

// rawBackend listens on loopback and runs serve for each accepted
// connection, for upstreams that misbehave at the TCP level.
func rawBackend(t testing.TB, serve func(c net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan struct{})
	conns := make(chan net.Conn, 16)
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns <- c
			go serve(c)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		close(conns)
		for c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

// readRequestHead reads one request's head from c.
func readRequestHead(c net.Conn) (*http.Request, *bufio.Reader, error) {
	br := bufio.NewReader(c)
	req, err := http.ReadRequest(br)
	return req, br, err
}

// deadAddr returns a loopback address nothing listens on.
func deadAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// headerLines renders h as sorted "Key: v1,v2" lines for easy assertions.
func hasHeader(h http.Header, k string) bool {
	_, ok := h[http.CanonicalHeaderKey(k)]
	return ok
}
