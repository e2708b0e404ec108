package h1

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
	"time"
)

// BenchmarkRoundTrip compares Client with http.Transport against the same
// in-process upstream (1 KiB response body), sequentially and in parallel.
func BenchmarkRoundTrip(b *testing.B) {
	payload := strings.Repeat("x", 1<<10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			_, _ = io.Copy(io.Discard, r.Body)
		}
		w.Header().Set("Content-Length", "1024")
		_, _ = io.WriteString(w, payload)
	}))
	defer srv.Close()

	h1c := New(Config{})
	defer h1c.CloseIdleConnections()
	tr := &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true}
	defer tr.CloseIdleConnections()

	for _, rt := range []struct {
		name string
		rt   http.RoundTripper
	}{{"h1", h1c}, {"transport", tr}} {
		req, err := http.NewRequest(http.MethodGet, srv.URL+"/bench?q=1", nil)
		if err != nil {
			b.Fatal(err)
		}
		req.Header.Set("User-Agent", "bench")
		b.Run(rt.name, func(b *testing.B) {
			b.ReportAllocs()
			buf := make([]byte, 2048)
			cpu := processCPU()
			for b.Loop() {
				roundTrip(b, rt.rt, req, buf)
			}
			reportCPU(b, cpu)
		})
		// As behind http.Server: a cancellable context (context.AfterFunc
		// registration per request).
		b.Run(rt.name+"/cancelctx", func(b *testing.B) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			req := req.WithContext(ctx)
			b.ReportAllocs()
			buf := make([]byte, 2048)
			cpu := processCPU()
			for b.Loop() {
				roundTrip(b, rt.rt, req, buf)
			}
			reportCPU(b, cpu)
		})
		b.Run(rt.name+"/post1k", func(b *testing.B) {
			b.ReportAllocs()
			buf := make([]byte, 2048)
			body := strings.NewReader(payload)
			cpu := processCPU()
			for b.Loop() {
				body.Reset(payload)
				req, err := http.NewRequest(http.MethodPost, srv.URL+"/bench", io.NopCloser(body))
				if err != nil {
					b.Fatal(err)
				}
				req.ContentLength = int64(len(payload))
				roundTrip(b, rt.rt, req, buf)
			}
			reportCPU(b, cpu)
		})
		b.Run(rt.name+"/parallel", func(b *testing.B) {
			b.ReportAllocs()
			cpu := processCPU()
			b.RunParallel(func(pb *testing.PB) {
				buf := make([]byte, 2048)
				for pb.Next() {
					roundTrip(b, rt.rt, req, buf)
				}
			})
			reportCPU(b, cpu)
		})
	}
}

// reportCPU reports the process CPU time per operation since start
// (client and in-process upstream server together).
func reportCPU(b *testing.B, start time.Duration) {
	if start > 0 && b.N > 0 {
		b.ReportMetric(float64(processCPU()-start)/float64(b.N), "cpu-ns/op")
	}
}

func roundTrip(b *testing.B, rt http.RoundTripper, req *http.Request, buf []byte) {
	resp, err := rt.RoundTrip(req)
	if err != nil {
		b.Fatal(err)
	}
	n := 0
	for {
		m, err := resp.Body.Read(buf[n:])
		n += m
		if err == io.EOF {
			break
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	resp.Body.Close()
	if n != 1024 {
		b.Fatalf("read %d bytes", n)
	}
}

// BenchmarkWriteHead measures request serialisation alone.
func BenchmarkWriteHead(b *testing.B) {
	c := New(Config{})
	req, err := http.NewRequest(http.MethodPost, "http://upstream:8080/v1/users/42?expand=groups&x=%zz", strings.NewReader("{}"))
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("User-Agent", "gateway")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Request-Id", "01HZY3J5K8Q0W2E4R6T8Y0U2I4")
	req.Header.Set("X-Forwarded-For", "203.0.113.7")
	fr, _ := framingFor(req, req.Body)
	bw := c.writers.Get().(*bufio.Writer)
	bw.Reset(io.Discard)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.validate(req); err != nil {
			b.Fatal(err)
		}
		c.writeHead(bw, req, req.Host, fr)
		_ = bw.Flush()
	}
}

// BenchmarkReverseProxy measures httputil.ReverseProxy.ServeHTTP (recorder
// in front, in-process upstream with a 1 KiB body behind) with Client and
// with http.Transport as its Transport.
func BenchmarkReverseProxy(b *testing.B) {
	payload := strings.Repeat("x", 1<<10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1024")
		_, _ = io.WriteString(w, payload)
	}))
	defer srv.Close()
	target, err := url.Parse(srv.URL)
	if err != nil {
		b.Fatal(err)
	}
	h1c := New(Config{})
	defer h1c.CloseIdleConnections()
	tr := &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true}
	defer tr.CloseIdleConnections()
	for _, rt := range []struct {
		name string
		rt   http.RoundTripper
	}{{"h1", h1c}, {"transport", tr}} {
		rp := &httputil.ReverseProxy{
			Rewrite:   func(pr *httputil.ProxyRequest) { pr.SetURL(target) },
			Transport: rt.rt,
		}
		b.Run(rt.name, func(b *testing.B) {
			b.ReportAllocs()
			cpu := processCPU()
			for b.Loop() {
				proxyOnce(b, rp)
			}
			reportCPU(b, cpu)
		})
		b.Run(rt.name+"/parallel", func(b *testing.B) {
			b.ReportAllocs()
			cpu := processCPU()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					proxyOnce(b, rp)
				}
			})
			reportCPU(b, cpu)
		})
	}
}

func proxyOnce(b *testing.B, rp http.Handler) {
	req := httptest.NewRequest(http.MethodGet, "/users/7?x=1", nil)
	ctx, cancel := context.WithCancel(req.Context()) // as http.Server's
	defer cancel()
	rec := httptest.NewRecorder()
	rp.ServeHTTP(rec, req.WithContext(ctx))
	if rec.Code != http.StatusOK || rec.Body.Len() != 1024 {
		b.Fatalf("status %d, %d bytes", rec.Code, rec.Body.Len())
	}
}
