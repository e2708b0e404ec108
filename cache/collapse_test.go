package cache

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// gatedOrigin blocks every request n for which block(n) holds until gate
// is closed.
func gatedOrigin(gate chan struct{}, block func(n int) bool, h func(http.ResponseWriter, *http.Request, int)) *origin {
	return &origin{h: func(w http.ResponseWriter, r *http.Request, n int) {
		if block(n) {
			<-gate
		}
		h(w, r, n)
	}}
}

func doGet(h http.Handler, target string, header http.Header) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, "http://example.com"+target, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestCollapsing(t *testing.T) {
	t.Parallel()
	const n = 50
	tests := []struct {
		name         string
		origin       func(http.ResponseWriter, *http.Request, int)
		header       func(i int) http.Header
		wantUpstream int64
		wantShared   bool
	}{
		{name: "collapse/concurrent-misses-one-upstream-request", origin: resp("Cache-Control", "max-age=60"),
			wantUpstream: 1, wantShared: true},
		{name: "collapse/private-response-not-shared", origin: resp("Cache-Control", "private, max-age=60"),
			wantUpstream: n},
		{name: "collapse/no-store-response-not-shared", origin: resp("Cache-Control", "no-store"),
			wantUpstream: n},
		{name: "collapse/set-cookie-response-not-shared", origin: resp("Cache-Control", "max-age=60", "Set-Cookie", "sid=1"),
			wantUpstream: n},
		{name: "collapse/other-variant-waiters-go-upstream", origin: resp("Cache-Control", "max-age=60", "Vary", "X-V"),
			header: func(i int) http.Header {
				if i == 0 {
					return hdr("X-V", "a")
				}
				return hdr("X-V", "b")
			},
			// The leader's variant is not the waiters'; they go upstream
			// on their own (the first of them stores variant b, later
			// ones may already hit it, so at least 2).
			wantUpstream: -2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				gate := make(chan struct{})
				o := gatedOrigin(gate, func(n int) bool { return n == 1 }, tt.origin)
				c := New(Config{Store: NewMemory(8 << 20)})
				h := c.Handler(o)
				recs := make([]*httptest.ResponseRecorder, n)
				var wg sync.WaitGroup
				header := func(i int) http.Header {
					if tt.header == nil {
						return nil
					}
					return tt.header(i)
				}
				wg.Go(func() { recs[0] = doGet(h, "/c", header(0)) })
				synctest.Wait() // the leader is in the origin, blocked on the gate
				for i := 1; i < n; i++ {
					wg.Go(func() { recs[i] = doGet(h, "/c", header(i)) })
				}
				synctest.Wait() // every waiter is parked on the flight
				require.Equal(t, int64(1), o.n.Load(), "only the leader reached the origin before the gate opened")
				close(gate)
				wg.Wait()

				if tt.wantUpstream < 0 {
					assert.GreaterOrEqual(t, o.n.Load(), -int64(tt.wantUpstream))
				} else {
					assert.Equal(t, tt.wantUpstream, o.n.Load(), "upstream requests")
				}
				bodies := map[string]int{}
				for i, rec := range recs {
					require.Equal(t, http.StatusOK, rec.Code, "request %d", i)
					bodies[rec.Body.String()]++
				}
				if tt.wantShared {
					assert.Equal(t, map[string]int{"v1": n}, bodies)
					assert.Equal(t, int64(n-1), c.Stats().Collapsed)
					assert.Contains(t, recs[n-1].Header().Get("Cache-Status"), "collapsed")
				} else {
					assert.Equal(t, 0, int(c.Stats().Collapsed))
					if tt.header == nil {
						assert.Len(t, bodies, n, "each request got its own response")
					}
				}
			})
		})
	}
}

func TestCollapsingWaiterTimeout(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		gate := make(chan struct{})
		o := gatedOrigin(gate, func(n int) bool { return n == 1 }, resp("Cache-Control", "max-age=60"))
		c := New(Config{Store: NewMemory(8 << 20), CollapseTimeout: 2 * time.Second})
		h := c.Handler(o)
		var wg sync.WaitGroup
		var leader, waiter *httptest.ResponseRecorder
		wg.Go(func() { leader = doGet(h, "/slow", nil) })
		synctest.Wait()
		wg.Go(func() { waiter = doGet(h, "/slow", nil) })
		synctest.Wait()
		assert.Equal(t, int64(1), o.n.Load())
		time.Sleep(2 * time.Second) // fake time: the waiter's bound passes
		synctest.Wait()
		assert.Equal(t, int64(2), o.n.Load(), "the waiter went upstream itself after CollapseTimeout")
		require.NotNil(t, waiter)
		assert.Equal(t, "v2", waiter.Body.String())
		close(gate)
		wg.Wait()
		assert.Equal(t, "v1", leader.Body.String())
	})
}

func TestCollapsingWaiterContextCanceled(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		gate := make(chan struct{})
		o := gatedOrigin(gate, func(n int) bool { return n == 1 }, resp("Cache-Control", "max-age=60"))
		c := New(Config{Store: NewMemory(8 << 20)})
		h := c.Handler(o)
		var wg sync.WaitGroup
		wg.Go(func() { doGet(h, "/x", nil) })
		synctest.Wait()
		ctx, cancel := context.WithCancel(context.Background())
		rec := httptest.NewRecorder()
		wg.Go(func() {
			h.ServeHTTP(rec, httptest.NewRequestWithContext(ctx, http.MethodGet, "http://example.com/x", nil))
		})
		synctest.Wait()
		cancel()
		synctest.Wait()
		assert.False(t, rec.Flushed)
		assert.Equal(t, 0, rec.Body.Len(), "a waiter whose client left writes nothing")
		close(gate)
		wg.Wait()
		assert.Equal(t, int64(1), o.n.Load())
	})
}

func TestPassMemoSkipsCollapsing(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		gate := make(chan struct{})
		// After a first uncacheable answer the key is not collapsed: two
		// concurrent requests both reach the origin at once.
		o := gatedOrigin(gate, func(n int) bool { return n > 1 }, resp("Cache-Control", "private"))
		c := New(Config{Store: NewMemory(8 << 20)})
		h := c.Handler(o)
		doGet(h, "/p", nil)
		var wg sync.WaitGroup
		wg.Go(func() { doGet(h, "/p", nil) })
		wg.Go(func() { doGet(h, "/p", nil) })
		synctest.Wait()
		assert.Equal(t, int64(3), o.n.Load(), "both requests are in the origin together")
		close(gate)
		wg.Wait()
	})
}

func TestStaleWhileRevalidateBackground(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		o := &origin{h: func(w http.ResponseWriter, r *http.Request, n int) {
			w.Header().Set("Cache-Control", "max-age=10, stale-while-revalidate=60")
			w.Header().Set("ETag", `"e`+itoa(n)+`"`)
			writeBody(w, "v"+itoa(n))
		}}
		c := New(Config{Store: NewMemory(8 << 20)})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- c.Run(ctx) }()
		synctest.Wait()
		assert.ErrorIs(t, c.Run(ctx), ErrRunning)
		h := c.Handler(o)

		assert.Equal(t, "v1", doGet(h, "/s", nil).Body.String())
		time.Sleep(20 * time.Second)
		rec := doGet(h, "/s", nil)
		assert.Equal(t, "v1", rec.Body.String(), "stale served at once")
		assert.Contains(t, rec.Header().Get("Cache-Status"), "detail=stale-while-revalidate")
		assert.Equal(t, "20", rec.Header().Get("Age"))
		synctest.Wait() // the background refresh ran
		assert.Equal(t, int64(2), o.n.Load())
		assert.Equal(t, `"e1"`, o.last().Header.Get("If-None-Match"), "the refresh is conditional")
		rec = doGet(h, "/s", nil)
		assert.Equal(t, "v2", rec.Body.String())
		assert.Contains(t, rec.Header().Get("Cache-Status"), "hit")
		assert.Equal(t, int64(2), o.n.Load())

		cancel()
		require.NoError(t, <-done)
	})
}
