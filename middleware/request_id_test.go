package middleware

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatewaykit/gateway/internal/reqinfo"
)

func TestRequestID(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("a", 128)
	tests := []struct {
		name    string
		inbound []string
		keep    bool
	}{
		{name: "absent", inbound: nil, keep: false},
		{name: "valid uuid", inbound: []string{"0f8fad5b-d9cb-469f-a165-70867728950e"}, keep: true},
		{name: "valid punctuation", inbound: []string{"a.b_c:d-E9"}, keep: true},
		{name: "max length", inbound: []string{long}, keep: true},
		{name: "too long", inbound: []string{long + "a"}, keep: false},
		{name: "empty", inbound: []string{""}, keep: false},
		{name: "space", inbound: []string{"a b"}, keep: false},
		{name: "injection", inbound: []string{"abc\",\"x\":\"y"}, keep: false},
		{name: "slash", inbound: []string{"a/b"}, keep: false},
		{name: "non ascii", inbound: []string{"idé"}, keep: false},
		{name: "two lines", inbound: []string{"a", "b"}, keep: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var seen, fromCtx string
			h := RequestID(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				seen = reqinfo.RequestID(r)
				fromCtx = RequestIDFromContext(r.Context())
			}))
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			for _, v := range tt.inbound {
				req.Header.Add("X-Request-ID", v)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			got := rec.Header().Get("X-Request-ID")
			assert.Equal(t, seen, got, "response header echoes the recorded ID")
			assert.Equal(t, seen, fromCtx)
			if tt.keep {
				assert.Equal(t, tt.inbound[0], got)
			} else {
				assert.Len(t, got, 26, "generated ID for %q", tt.inbound)
				assert.True(t, validRequestID(got))
			}
		})
	}
}

func TestRequestIDKeepsEarlierID(t *testing.T) {
	t.Parallel()
	var inner string
	h := RequestID(RequestID(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inner = RequestIDFromContext(r.Context())
	})))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	assert.Equal(t, rec.Header().Get("X-Request-ID"), inner)
	assert.Equal(t, []string{inner}, rec.Header().Values("X-Request-ID"), "one header value")
}

func TestRequestIDFromContextEmpty(t *testing.T) {
	t.Parallel()
	assert.Empty(t, RequestIDFromContext(t.Context()))
}

func TestNewRequestIDUnique(t *testing.T) {
	t.Parallel()
	const n = 100000
	seen := make(map[string]bool, n)
	var counts [256]int
	for range n {
		id, vals := newRequestID()
		if len(id) != 26 || len(vals) != 1 || vals[0] != id || seen[id] {
			require.Failf(t, "bad ID", "id %q vals %q (seen before: %v)", id, vals, seen[id])
		}
		seen[id] = true
		for i := 1; i < len(id); i++ { // the first digit carries only 3 bits
			counts[id[i]]++
		}
	}
	// Every Crockford digit appears, and only those, roughly uniformly.
	total := 0
	for c, k := range counts {
		if strings.IndexByte(crockford, byte(c)) < 0 {
			require.Zero(t, k, "unexpected character %q", rune(c))
			continue
		}
		total += k
	}
	for i := 0; i < len(crockford); i++ {
		share := float64(counts[crockford[i]]) / float64(total)
		assert.InDelta(t, 1.0/32, share, 0.002, "digit %q", crockford[i])
	}
}

func TestNewRequestIDConcurrentUnique(t *testing.T) {
	t.Parallel()
	const workers, per = 8, 5000
	out := make(chan []string, workers)
	for range workers {
		go func() {
			ids := make([]string, per)
			for i := range ids {
				ids[i], _ = newRequestID()
			}
			out <- ids
		}()
	}
	seen := make(map[string]bool, workers*per)
	for range workers {
		for _, id := range <-out {
			require.False(t, seen[id], "duplicate ID %s", id)
			seen[id] = true
		}
	}
}

func BenchmarkRequestID(b *testing.B) {
	h := RequestID(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	b.Run("generate/with-reqinfo", func(b *testing.B) {
		req, _ := reqinfo.Ensure(httptest.NewRequest(http.MethodGet, "/", nil))
		info := reqinfo.From(req.Context())
		w := &discardWriter{h: make(http.Header)}
		b.ReportAllocs()
		for b.Loop() {
			info.RequestID = ""
			h.ServeHTTP(w, req)
		}
	})
	b.Run("inbound/with-reqinfo", func(b *testing.B) {
		req, _ := reqinfo.Ensure(httptest.NewRequest(http.MethodGet, "/", nil))
		req.Header.Set("X-Request-ID", "0f8fad5b-d9cb-469f-a165-70867728950e")
		info := reqinfo.From(req.Context())
		w := &discardWriter{h: make(http.Header)}
		b.ReportAllocs()
		for b.Loop() {
			info.RequestID = ""
			h.ServeHTTP(w, req)
		}
	})
	b.Run("generate/fresh-request", func(b *testing.B) {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		w := &discardWriter{h: make(http.Header)}
		b.ReportAllocs()
		for b.Loop() {
			h.ServeHTTP(w, req)
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			req, _ := reqinfo.Ensure(httptest.NewRequest(http.MethodGet, "/", nil))
			info := reqinfo.From(req.Context())
			w := &discardWriter{h: make(http.Header)}
			for pb.Next() {
				info.RequestID = ""
				h.ServeHTTP(w, req)
			}
		})
	})
}

// discardWriter is a minimal ResponseWriter for benchmarks: it keeps one
// header map and discards the body.
type discardWriter struct {
	h      http.Header
	status int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(code int)        { w.status = code }
