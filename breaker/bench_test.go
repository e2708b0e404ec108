package breaker

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gatewaykit/gateway/upstream"
)

// fullPolicies is the policy set of the overhead target: circuit breakers
// (service and endpoint), attempt timeout, retries with budget, bulkhead.
func fullPolicies() Config {
	return Config{
		Failures:    5,
		FailureRate: 0.5,
		Endpoint:    EndpointConfig{Failures: 5},
		Timeout:     5 * time.Second,
		Retry:       RetryConfig{MaxAttempts: 3},
		Bulkhead:    BulkheadConfig{MaxConcurrent: 1024},
	}
}

var noTimeout = func() Config { c := fullPolicies(); c.Timeout = 0; return c }()

// okTransport answers every request with a small pooled response, so that
// the benchmark measures the policies alone.
type okTransport struct{ res http.Response }

func (t *okTransport) RoundTrip(*http.Request) (*http.Response, error) {
	t.res.Body = http.NoBody
	return &t.res, nil
}

// BenchmarkPolicies measures the policies alone, over a next transport that
// answers at once.
func BenchmarkPolicies(b *testing.B) {
	cases := []struct {
		name string
		rt   func(http.RoundTripper) http.RoundTripper
	}{
		{"bare", func(rt http.RoundTripper) http.RoundTripper { return rt }},
		{"breaker-only", New(Config{}).Transport},
		{"full-no-timeout", New(noTimeout).Transport},
		{"full", New(fullPolicies()).Transport},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			rt := c.rt(&okTransport{res: http.Response{StatusCode: 200}})
			req := httptest.NewRequest("GET", "http://10.0.0.1:8080/items", nil)
			b.ReportAllocs()
			for b.Loop() {
				res, err := rt.RoundTrip(req)
				if err != nil {
					b.Fatal(err)
				}
				res.Body.Close()
			}
		})
	}
}

// BenchmarkProxy proxies a GET with a 1 KiB response through an
// upstream.Upstream to a loopback server, bare and with the policy sets,
// on the fast HTTP/1.1 path (the breaker wraps it through
// Config.WrapTransport) and over an http.Transport.
func BenchmarkProxy(b *testing.B) {
	payload := bytes.Repeat([]byte("x"), 1024)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write(payload)
	}))
	defer srv.Close()
	host := srv.Listener.Addr().String()
	sets := []struct {
		name string
		wrap func(http.RoundTripper) http.RoundTripper
	}{
		{"bare", nil},
		{"breaker-only", New(Config{}).Transport},
		{"full-no-timeout", New(noTimeout).Transport},
		{"full", New(fullPolicies()).Transport},
	}
	for _, path := range []string{"h1", "transport"} {
		for _, set := range sets {
			b.Run(path+"/"+set.name, func(b *testing.B) {
				cfg := upstream.Config{Discovery: endpoints(host), Logger: slog.New(slog.DiscardHandler)}
				if path == "h1" {
					cfg.WrapTransport = set.wrap
				} else {
					tr := &http.Transport{MaxIdleConnsPerHost: 64}
					defer tr.CloseIdleConnections()
					cfg.Transport = tr
					if set.wrap != nil {
						cfg.Transport = set.wrap(tr)
					}
				}
				u := upstream.New(cfg)
				defer u.CloseIdleConnections()
				// A cancellable context, as every server request has: the
				// clients then arm their cancellation in the bare case too.
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				req := httptest.NewRequestWithContext(ctx, "GET", "http://api.test/items/42", nil)
				w := &discard{h: http.Header{}}
				b.ReportAllocs()
				b.SetBytes(int64(len(payload)))
				for b.Loop() {
					clear(w.h)
					w.code = 0
					u.ServeHTTP(w, req)
					if w.code != http.StatusOK {
						b.Fatalf("status %d", w.code)
					}
				}
			})
		}
	}
}

// BenchmarkOpenBreaker is the time to the first byte of the 503 an open
// circuit answers through an upstream.Upstream (problem+json written).
func BenchmarkOpenBreaker(b *testing.B) {
	br := New(Config{Failures: 1, Cooldown: time.Hour})
	done, _ := br.Allow()
	done(true)
	u := upstream.New(upstream.Config{Discovery: endpoints("127.0.0.1:1"), Transport: br.Transport(nil), Logger: slog.New(slog.DiscardHandler)})
	req := httptest.NewRequest("GET", "http://api.test/items/42", nil)
	w := &discard{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		w.code = 0
		u.ServeHTTP(w, req)
		if w.code != http.StatusServiceUnavailable {
			b.Fatalf("status %d", w.code)
		}
	}
}

// BenchmarkOpenBreakerHandler is the same through Breaker.Handler in front
// of the upstream: the 503 is written before the upstream does any work.
func BenchmarkOpenBreakerHandler(b *testing.B) {
	br := New(Config{Failures: 1, Cooldown: time.Hour})
	done, _ := br.Allow()
	done(true)
	u := upstream.New(upstream.Config{Discovery: endpoints("127.0.0.1:1"), Logger: slog.New(slog.DiscardHandler)})
	h := br.Handler(u)
	req := httptest.NewRequest("GET", "http://api.test/items/42", nil)
	w := &discard{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		w.code = 0
		h.ServeHTTP(w, req)
		if w.code != http.StatusServiceUnavailable {
			b.Fatalf("status %d", w.code)
		}
	}
}

// BenchmarkAllowParallel is the two-step permit from many goroutines.
func BenchmarkAllowParallel(b *testing.B) {
	br := New(Config{FailureRate: 0.5})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			done, err := br.Allow()
			if err != nil {
				b.Error(err)
				return
			}
			done(false)
		}
	})
}

type discard struct {
	h    http.Header
	code int
}

func (w *discard) Header() http.Header { return w.h }
func (w *discard) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
}
func (w *discard) Write(p []byte) (int, error) {
	if w.code == 0 {
		w.code = 200
	}
	return len(p), nil
}

var _ io.Writer = (*discard)(nil)
