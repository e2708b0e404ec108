package gateway_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"testing"

	"github.com/gatewaykit/gateway"
	"github.com/gatewaykit/gateway/discovery"
	"github.com/gatewaykit/gateway/upstream"
)

// discardWriter is a ResponseWriter that keeps nothing, so that the
// benchmark measures the gateway rather than a recorder's buffer.
type discardWriter struct {
	h      http.Header
	status int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) WriteHeader(code int)        { w.status = code }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }

// BenchmarkProxiedRequest compares one proxied GET (1 KiB response from an
// in-process loopback upstream) through the whole Gateway (built-in chain,
// router, fast upstream client) with the same request through a tuned
// httputil.ReverseProxy, in the same run.
func BenchmarkProxiedRequest(b *testing.B) {
	body := bytes.Repeat([]byte("x"), 1024)
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(body)
	}))
	defer backend.Close()
	target, _ := url.Parse(backend.URL)

	u := upstream.New(upstream.Config{Name: "bench", Discovery: discovery.Static(target.Host)})
	defer u.CloseIdleConnections()
	gw := gateway.New(gateway.Config{})
	gw.Handle("/", u, gateway.Public)

	tr := &http.Transport{MaxIdleConnsPerHost: 1024, DisableCompression: true}
	defer tr.CloseIdleConnections()
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.SetXForwarded()
		},
		Transport: tr,
	}

	for _, bc := range []struct {
		name string
		h    http.Handler
	}{{"gateway", gw}, {"httputil", rp}} {
		b.Run(bc.name, func(b *testing.B) {
			req := httptest.NewRequest("GET", "http://gw.local/items/1", nil)
			req.RemoteAddr = "127.0.0.1:40000"
			w := &discardWriter{h: make(http.Header)}
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				bc.h.ServeHTTP(w, req)
				if w.status != http.StatusOK {
					b.Fatalf("status %d", w.status)
				}
			}
		})
	}
}
