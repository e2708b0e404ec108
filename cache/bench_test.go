package cache

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

// benchWriter is a minimal ResponseWriter whose header map is cleared and
// reused between iterations, like net/http's per-request map, so that the
// benchmark measures the cache and not a recorder.
type benchWriter struct {
	h      http.Header
	status int
	n      int
}

func (w *benchWriter) Header() http.Header { return w.h }
func (w *benchWriter) WriteHeader(s int)   { w.status = s }
func (w *benchWriter) Write(p []byte) (int, error) {
	w.n += len(p)
	return len(p), nil
}

func benchOrigin(body []byte) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Cache-Control", "public, max-age=3600")
		h.Set("Content-Type", "application/json")
		h.Set("ETag", `"abc123"`)
		h.Set("Content-Length", strconv.Itoa(len(body)))
		_, _ = w.Write(body)
	})
}

// BenchmarkHit is the hit path through the middleware: a 1 KiB body from
// the memory store.
func BenchmarkHit(b *testing.B) {
	for _, bc := range []struct {
		name   string
		size   int
		preset bool // an outer middleware set a header first
	}{{"1KiB", 1 << 10, false}, {"1KiB-with-outer-header", 1 << 10, true}, {"64KiB", 64 << 10, false}} {
		size := bc.size
		b.Run(bc.name, func(b *testing.B) {
			c := New(Config{Store: NewMemory(64 << 20)})
			h := c.Handler(benchOrigin([]byte(strings.Repeat("x", size))))
			req := httptest.NewRequest(http.MethodGet, "http://example.com/catalog/items?page=2&sort=asc", nil)
			req.Header.Set("Accept", "application/json")
			h.ServeHTTP(&benchWriter{h: http.Header{}}, req) // fill
			w := &benchWriter{h: make(http.Header, 16)}
			b.ReportAllocs()
			b.SetBytes(int64(size))
			rid := []string{"0af7651916cd43dd8448eb211c80319c"}
			for b.Loop() {
				clear(w.h)
				if bc.preset {
					w.h["X-Request-Id"] = rid
				}
				w.n = 0
				h.ServeHTTP(w, req)
			}
			if w.status != http.StatusOK || w.n != size {
				b.Fatalf("status %d, %d bytes", w.status, w.n)
			}
		})
	}
}

// BenchmarkHitParallel is the 1 KiB hit path from all Ps at once.
func BenchmarkHitParallel(b *testing.B) {
	c := New(Config{Store: NewMemory(64 << 20)})
	h := c.Handler(benchOrigin([]byte(strings.Repeat("x", 1024))))
	req := httptest.NewRequest(http.MethodGet, "http://example.com/catalog/items?page=2", nil)
	h.ServeHTTP(&benchWriter{h: http.Header{}}, req)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		w := &benchWriter{h: make(http.Header, 16)}
		for pb.Next() {
			clear(w.h)
			h.ServeHTTP(w, req)
		}
	})
}

// BenchmarkMissStore is a miss that streams a 1 KiB response through the
// cache and stores it (each iteration a new URL). Compare with
// BenchmarkMissBaseline, the same work without the cache.
func BenchmarkMissStore(b *testing.B) {
	c := New(Config{Store: NewMemory(64 << 20)})
	benchMiss(b, c.Handler(benchOrigin([]byte(strings.Repeat("x", 1024)))))
	if c.Stats().Stored == 0 {
		b.Fatal("nothing stored")
	}
}

// BenchmarkMissBaseline builds the same requests and runs the origin
// without the cache.
func BenchmarkMissBaseline(b *testing.B) {
	benchMiss(b, benchOrigin([]byte(strings.Repeat("x", 1024))))
}

func benchMiss(b *testing.B, h http.Handler) {
	w := &benchWriter{h: make(http.Header, 16)}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		req := httptest.NewRequest(http.MethodGet, "http://example.com/items/"+strconv.Itoa(i), nil)
		clear(w.h)
		h.ServeHTTP(w, req)
	}
}

// BenchmarkRevalidate304 is a stale entry revalidated with a 304.
func BenchmarkRevalidate304(b *testing.B) {
	body := []byte(strings.Repeat("x", 1024))
	origin := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=0")
		w.Header().Set("ETag", `"abc"`)
		if r.Header.Get("If-None-Match") == `"abc"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		_, _ = w.Write(body)
	})
	c := New(Config{Store: NewMemory(64 << 20)})
	h := c.Handler(origin)
	req := httptest.NewRequest(http.MethodGet, "http://example.com/r", nil)
	w := &benchWriter{h: make(http.Header, 16)}
	h.ServeHTTP(w, req)
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		h.ServeHTTP(w, req)
	}
	if c.Stats().Revalidated == 0 {
		b.Fatal("no revalidation")
	}
}

// BenchmarkEndToEnd compares, over real loopback connections, a client
// talking to the upstream directly, through a reverse proxy, and through
// the cache in front of that proxy at 100% hits (1 KiB bodies).
func BenchmarkEndToEnd(b *testing.B) {
	body := []byte(strings.Repeat("x", 1024))
	up := httptest.NewServer(benchOrigin(body))
	defer up.Close()
	target, _ := url.Parse(up.URL)
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	defer tr.CloseIdleConnections()
	proxy := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(target) }, Transport: tr}
	proxied := httptest.NewServer(proxy)
	defer proxied.Close()
	cached := httptest.NewServer(New(Config{Store: NewMemory(64 << 20)}).Handler(proxy))
	defer cached.Close()
	for _, bc := range []struct{ name, url string }{
		{"upstream-direct", up.URL}, {"proxy-no-cache", proxied.URL}, {"proxy-cache-hit", cached.URL},
	} {
		b.Run(bc.name, func(b *testing.B) {
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
			defer client.CloseIdleConnections()
			get := func() {
				res, err := client.Get(bc.url + "/catalog")
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
			}
			get()
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					get()
				}
			})
		})
	}
}
