package cache

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// mutatingWriter appends to every header field when the status is
// written, as a careless downstream writer could.
type mutatingWriter struct {
	*httptest.ResponseRecorder
}

func (w mutatingWriter) WriteHeader(code int) {
	for k := range w.Header() {
		w.Header().Add(k, "MUTATED")
	}
	w.ResponseRecorder.WriteHeader(code)
}

// TestHitHeadersNotSharedMutably checks that the header fields a hit hands
// to the client's ResponseWriter cannot change the stored response: the
// stored value slices are shared read-only and have no spare capacity, so
// an Add copies them.
func TestHitHeadersNotSharedMutably(t *testing.T) {
	t.Parallel()
	o := &origin{h: resp("Cache-Control", "max-age=60", "X-Multi", "a", "X-Multi", "b")}
	h := New(Config{}).Handler(o)
	doGet(h, "/m", nil)
	for range 3 {
		rec := httptest.NewRecorder()
		h.ServeHTTP(mutatingWriter{rec}, httptest.NewRequest(http.MethodGet, "http://example.com/m", nil))
		require.Equal(t, http.StatusOK, rec.Code)
	}
	rec := doGet(h, "/m", nil)
	assert.Equal(t, []string{"a", "b"}, rec.Header().Values("X-Multi"))
	assert.Equal(t, []string{"max-age=60"}, rec.Header().Values("Cache-Control"))
	assert.Equal(t, int64(1), o.n.Load())
}

// TestOuterHeadersKept checks that fields an outer middleware set before
// the cache (Vary: Origin from CORS) survive a hit, with the stored values
// added.
func TestOuterHeadersKept(t *testing.T) {
	t.Parallel()
	o := &origin{h: resp("Cache-Control", "max-age=60", "Vary", "Accept-Encoding")}
	c := New(Config{})
	outer := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Vary", "Origin")
			w.Header().Set("X-Request-Id", "rid")
			next.ServeHTTP(w, r)
		})
	}
	h := outer(c.Handler(o))
	doGet(h, "/v", nil)
	rec := doGet(h, "/v", nil)
	assert.Contains(t, rec.Header().Get("Cache-Status"), "hit")
	assert.Equal(t, []string{"Origin", "Accept-Encoding"}, rec.Header().Values("Vary"))
	assert.Equal(t, "rid", rec.Header().Get("X-Request-Id"))
}

// TestEarlyHintsForwardedOnMiss checks that a 103 from upstream reaches the
// client on a miss, and that its fields are not stored as final fields
// unless upstream keeps them.
func TestEarlyHintsForwardedOnMiss(t *testing.T) {
	t.Parallel()
	var hints []int
	o := &origin{h: func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Link", "</style.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		clear(w.Header())
		w.Header().Set("Cache-Control", "max-age=60")
		writeBody(w, "page")
	}}
	rec := httptest.NewRecorder()
	rw := hintRecorder{rec, &hints}
	New(Config{}).Handler(o).ServeHTTP(rw, httptest.NewRequest(http.MethodGet, "http://example.com/h", nil))
	assert.Equal(t, []int{http.StatusEarlyHints}, hints)
	assert.Equal(t, http.StatusOK, rec.Code)
	assert.Empty(t, rec.Header().Get("Link"), "the hint's field is not a final field")
}

type hintRecorder struct {
	*httptest.ResponseRecorder
	hints *[]int
}

func (w hintRecorder) WriteHeader(code int) {
	if code < 200 {
		*w.hints = append(*w.hints, code)
		return
	}
	w.ResponseRecorder.WriteHeader(code)
}

// TestAbsorbedResponseNeverReachesClient checks that an upstream response
// the cache keeps from the client (the 304 answering its own conditional
// request, a 5xx hidden by stale-if-error) leaks nothing: no 1xx, no
// flush, no field, no body byte. The origin also sends a 103 and flushes
// before its final status, as a streaming origin may.
func TestAbsorbedResponseNeverReachesClient(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		status      int
		cacheStatus string
	}{
		{name: "revalidation 304", status: http.StatusNotModified, cacheStatus: "fwd-status=304"},
		{name: "hidden 503", status: http.StatusServiceUnavailable, cacheStatus: "detail=stale-if-error; fwd=stale; fwd-status=503"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o := &origin{h: func(w http.ResponseWriter, r *http.Request, n int) {
				w.Header().Set("Cache-Control", "max-age=10, stale-if-error=600")
				w.Header().Set("Etag", `"e1"`)
				if n == 1 {
					writeBody(w, "v1")
					return
				}
				w.Header().Set("Link", "</hint.css>; rel=preload")
				w.WriteHeader(http.StatusEarlyHints)
				w.Header().Del("Link")
				w.Header().Set("X-Upstream-Error", "detail")
				if tt.status == http.StatusNotModified {
					w.Header().Del("X-Upstream-Error")
				}
				w.WriteHeader(tt.status)
				w.(http.Flusher).Flush()
				_, _ = io.WriteString(w, "upstream body")
				require.NoError(t, http.NewResponseController(w).Flush())
			}}
			clk := newClock()
			h := New(Config{Now: clk.Now}).Handler(o)
			require.Equal(t, "v1", doGet(h, "/a", nil).Body.String())
			clk.Add(20 * time.Second)

			var hints []int
			rec := httptest.NewRecorder()
			h.ServeHTTP(hintRecorder{rec, &hints}, httptest.NewRequest(http.MethodGet, "http://example.com/a", nil))
			assert.Equal(t, int64(2), o.n.Load())
			assert.Empty(t, hints, "a revalidation's 1xx is dropped")
			assert.False(t, rec.Flushed, "upstream's flush did not reach the client")
			assert.Equal(t, http.StatusOK, rec.Code)
			assert.Equal(t, "v1", rec.Body.String())
			assert.Empty(t, rec.Header().Get("X-Upstream-Error"))
			assert.Empty(t, rec.Header().Get("Link"))
			assert.Contains(t, rec.Header().Get("Cache-Status"), tt.cacheStatus)
		})
	}
}
