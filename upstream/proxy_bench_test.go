package upstream

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"testing"

	"github.com/gatewaykit/gateway/internal/reqinfo"
	"github.com/gatewaykit/gateway/upstream/internal/h1"
)

// discardWriter is a minimal ResponseWriter that keeps nothing, so the
// benchmarks measure the proxy and not a recorder.
type discardWriter struct {
	h    http.Header
	code int
	n    int
}

func (w *discardWriter) Header() http.Header { return w.h }
func (w *discardWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
}
func (w *discardWriter) Write(p []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	w.n += len(p)
	return len(p), nil
}
func (w *discardWriter) reset() {
	clear(w.h)
	w.code, w.n = 0, 0
}

// BenchmarkProxy proxies a GET with a 1 KiB response body to an in-process
// upstream, through the Upstream on both client paths and through
// httputil.ReverseProxy (Rewrite with SetURL and SetXForwarded) over an
// http.Transport with the same settings. The upstream server's own
// allocations are included in every figure alike.
func BenchmarkProxy(b *testing.B) {
	payload := bytes.Repeat([]byte("x"), 1024)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		_, _ = w.Write(payload)
	}))
	defer srv.Close()
	addr := hostOf(b, srv.URL)
	target, _ := url.Parse(srv.URL)
	quiet := slog.New(slog.DiscardHandler)

	cfg := Config{Discovery: endpointsOf(addr), Logger: quiet}
	stdCfg := withDefaults(cfg)
	stdTransport := newStdTransport(&stdCfg)
	rpTransport := newStdTransport(&stdCfg)
	defer stdTransport.CloseIdleConnections()
	defer rpTransport.CloseIdleConnections()

	fast := New(cfg)
	defer fast.CloseIdleConnections()
	cfg.Transport = stdTransport
	std := New(cfg)
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.SetXForwarded()
		},
		Transport: rpTransport,
	}

	handlers := []struct {
		name    string
		h       http.Handler
		reqinfo bool
	}{
		{"upstream/h1", fast, false},
		{"upstream/h1+reqinfo", fast, true},
		{"upstream/transport", std, false},
		{"httputil.ReverseProxy", rp, false},
	}
	// The baseline: the same request sent straight to the upstream with the
	// h1 client, no proxy. A proxy's own cost is its figure minus this one
	// (the upstream server's allocations are in both).
	b.Run("baseline/h1-direct", func(b *testing.B) {
		cfg := withDefaults(Config{})
		rt := newFastTransport(&cfg)
		defer rt.(*h1.Client).CloseIdleConnections()
		req := httptest.NewRequest("GET", srv.URL+"/items/42?page=2", nil)
		req.RequestURI = ""
		req.Header.Set("User-Agent", "bench/1.0")
		req.Header.Set("Accept", "application/json")
		buf := make([]byte, 4096)
		b.ReportAllocs()
		b.SetBytes(int64(len(payload)))
		for b.Loop() {
			res, err := rt.RoundTrip(req)
			if err != nil {
				b.Fatal(err)
			}
			n := 0
			for {
				m, err := res.Body.Read(buf)
				n += m
				if err != nil {
					break
				}
			}
			res.Body.Close()
			if n != len(payload) {
				b.Fatalf("%d bytes", n)
			}
		}
	})
	for _, hh := range handlers {
		b.Run(hh.name, func(b *testing.B) {
			req := httptest.NewRequest("GET", "http://api.example.com/items/42?page=2", nil)
			req.RemoteAddr = "192.0.2.1:51234"
			req.Header.Set("User-Agent", "bench/1.0")
			req.Header.Set("Accept", "application/json")
			if hh.reqinfo {
				// As behind the gateway's RequestID middleware.
				var info *reqinfo.Info
				req, info = reqinfo.Ensure(req)
				info.RequestID = "0123456789abcdef"
			}
			w := &discardWriter{h: make(http.Header)}
			b.ReportAllocs()
			b.SetBytes(int64(len(payload)))
			for b.Loop() {
				w.reset()
				hh.h.ServeHTTP(w, req)
				if w.code != http.StatusOK || w.n != len(payload) {
					b.Fatalf("status %d, %d bytes", w.code, w.n)
				}
			}
		})
	}
}

// BenchmarkProxyParallel is BenchmarkProxy from many goroutines at once
// (the Upstream's shared state: endpoint snapshot, balancer, pools).
func BenchmarkProxyParallel(b *testing.B) {
	payload := bytes.Repeat([]byte("x"), 1024)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write(payload)
	}))
	defer srv.Close()
	u := New(Config{Discovery: endpointsOf(hostOf(b, srv.URL)), Logger: slog.New(slog.DiscardHandler)})
	defer u.CloseIdleConnections()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		req := httptest.NewRequest("GET", "http://api.example.com/items/42", nil)
		w := &discardWriter{h: make(http.Header)}
		for pb.Next() {
			w.reset()
			u.ServeHTTP(w, req)
			if w.code != http.StatusOK {
				b.Errorf("status %d", w.code)
				return
			}
		}
	})
}
