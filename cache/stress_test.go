package cache

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestConcurrentMix runs hits, misses, revalidations, background
// refreshes, Vary variants, invalidations and purges at once, for the race
// detector, and checks every answer is a whole, correct body.
func TestConcurrentMix(t *testing.T) {
	t.Parallel()
	o := &origin{h: func(w http.ResponseWriter, r *http.Request, n int) {
		if r.Method != http.MethodGet {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		w.Header().Set("Cache-Control", "max-age=0, stale-while-revalidate=60")
		w.Header().Set("ETag", `"`+r.URL.Path+`"`)
		w.Header().Set("Vary", "X-V")
		w.Header().Set("Surrogate-Key", "all")
		if r.Header.Get("If-None-Match") == `"`+r.URL.Path+`"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		writeBody(w, "body of "+r.URL.Path+" for "+r.Header.Get("X-V"))
	}}
	c := New(Config{Store: NewMemory(1 << 20)})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	h := c.Handler(o)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 300 {
				path := "/p/" + strconv.Itoa((i*7+g)%20)
				v := strconv.Itoa(i % 3)
				switch i % 50 {
				case 17:
					req, _ := http.NewRequest(http.MethodPost, "http://example.com"+path, nil)
					h.ServeHTTP(noopWriter{}, req)
					continue
				case 33:
					_, err := c.PurgeTag(context.Background(), "all")
					assert.NoError(t, err)
					continue
				}
				rec := doGet(h, path, hdr("X-V", v))
				require.Equal(t, http.StatusOK, rec.Code)
				require.Equal(t, "body of "+path+" for "+v, rec.Body.String(), "Cache-Status %s", rec.Header().Get("Cache-Status"))
			}
		})
	}
	wg.Wait()
	cancel()
	require.NoError(t, <-done)
	st := c.Stats()
	assert.Positive(t, st.Stored)
	assert.Positive(t, st.Stale, "stale-while-revalidate answered some")
}

type noopWriter struct{}

func (noopWriter) Header() http.Header         { return http.Header{} }
func (noopWriter) Write(p []byte) (int, error) { return len(p), nil }
func (noopWriter) WriteHeader(int)             {}
