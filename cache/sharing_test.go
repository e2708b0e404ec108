package cache

import (
	"net/http"
	"net/http/httptest"
	"testing"

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
