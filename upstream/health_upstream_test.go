package upstream

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// hcFixedSet is a Discovery over fixed endpoints for the health tests.
type hcFixedSet []Endpoint

func (s hcFixedSet) Snapshot() []Endpoint { return append([]Endpoint(nil), s...) }
func (s hcFixedSet) Watch(ctx context.Context, _ string) (<-chan []Endpoint, error) {
	ch := make(chan []Endpoint, 1)
	ch <- s.Snapshot()
	context.AfterFunc(ctx, func() { close(ch) })
	return ch, nil
}

// Two endpoints, one killed mid-load (its listener closed and its
// connections reset): no idempotent request fails, the dead endpoint is
// ejected after ConsecutiveGatewayErrors failures, and once it is back on
// its address it returns to rotation when the ejection ends.
func TestUpstreamEndpointKilledMidLoad(t *testing.T) {
	t.Parallel()
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") })
	a := httptest.NewServer(ok)
	t.Cleanup(a.Close)
	var bHits atomic.Int64
	bHandler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		bHits.Add(1)
		_, _ = io.WriteString(w, "ok")
	})
	b := httptest.NewServer(bHandler)
	bAddr := b.Listener.Addr().String()

	var ev healthEvents
	u := New(Config{
		Discovery:     hcFixedSet(epsOf(a.Listener.Addr().String(), bAddr)),
		Retries:       1,
		Outlier:       OutlierDetection{ConsecutiveGatewayErrors: 3, BaseEjectionTime: 30 * time.Second},
		OnHealthEvent: ev.add,
		Logger:        slog.New(slog.DiscardHandler),
	})
	var skew atomic.Int64
	u.health.clock = func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	t.Cleanup(u.CloseIdleConnections)

	var failed, total atomic.Int64
	load := func(n int) {
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				for range n {
					rec := httptest.NewRecorder()
					u.ServeHTTP(rec, httptest.NewRequest("GET", "http://api.test/", nil))
					total.Add(1)
					if rec.Code != http.StatusOK {
						failed.Add(1)
					}
				}
			})
		}
		wg.Wait()
	}
	load(25)
	require.Positive(t, bHits.Load(), "both endpoints serve")

	var wg sync.WaitGroup
	wg.Go(func() { load(50) })
	b.Listener.Close()
	b.CloseClientConnections()
	wg.Wait()
	b.Close()
	load(25)
	assert.Zero(t, failed.Load(), "failed of %d requests", total.Load())
	assert.Equal(t, []string{"ejected " + bAddr}, ev.list())
	h := u.Health()
	require.Len(t, h, 2)
	assert.True(t, h[1].Ejected)
	assert.False(t, h[1].InRotation)

	// b comes back on the same address; its ejection ends after 30s.
	ln, err := net.Listen("tcp", bAddr)
	require.NoError(t, err)
	back := &http.Server{Handler: bHandler}
	go back.Serve(ln)
	t.Cleanup(func() { back.Close() })
	before := bHits.Load()
	skew.Add(int64(31 * time.Second))
	load(25)
	assert.Zero(t, failed.Load())
	assert.Equal(t, []string{"ejected " + bAddr, "returned " + bAddr}, ev.list())
	assert.Greater(t, bHits.Load(), before, "b serves again")
}

// Active checks run by Run take a failing endpoint out of rotation and
// bring it back.
func TestUpstreamActiveHealthChecks(t *testing.T) {
	t.Parallel()
	good, _ := healthServer(t, http.StatusOK)
	bad, badStatus := healthServer(t, http.StatusInternalServerError)
	events := make(chan HealthEvent, 16)
	u := New(Config{
		Discovery: hcFixedSet(epsOf(good, bad)),
		HealthCheck: HealthCheck{Type: "http", Path: "/healthz", Interval: 5 * time.Millisecond,
			HealthyThreshold: 1, UnhealthyThreshold: 2},
		OnHealthEvent: func(ev HealthEvent) { events <- ev },
		Logger:        slog.New(slog.DiscardHandler),
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- u.Run(ctx) }()
	defer func() { cancel(); <-done }()

	wait := func(want HealthEventType) HealthEvent {
		select {
		case ev := <-events:
			require.Equal(t, want, ev.Type)
			return ev
		case <-time.After(10 * time.Second): // a guard against hanging, not a timing assertion
			t.Fatalf("no %s event", want)
		}
		return HealthEvent{}
	}
	ev := wait(EventUnhealthy)
	assert.Equal(t, bad, ev.Endpoint)
	for range 10 {
		rec := httptest.NewRecorder()
		u.ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
		assert.Equal(t, http.StatusOK, rec.Code, "only the healthy endpoint is picked")
	}
	badStatus.Store(http.StatusOK)
	ev = wait(EventHealthy)
	assert.Equal(t, bad, ev.Endpoint)
	assert.True(t, u.Health()[1].InRotation)
}

func TestUpstreamPanicFail(t *testing.T) {
	t.Parallel()
	u := New(Config{
		Discovery:   hcFixedSet(epsOf("127.0.0.1:1", "127.0.0.1:2")),
		HealthCheck: HealthCheck{Type: "tcp", UnhealthyThreshold: 1},
		Panic:       PanicFail,
		Logger:      slog.New(slog.DiscardHandler),
	})
	u.health.checkResult("127.0.0.1:1", io.EOF)
	u.health.checkResult("127.0.0.1:2", io.EOF)
	rec := httptest.NewRecorder()
	u.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	assert.Equal(t, http.StatusServiceUnavailable, rec.Code)
	assert.Equal(t, "application/problem+json", rec.Header().Get("Content-Type"))
	assert.NotEmpty(t, rec.Header().Get("Retry-After"))
	assert.Equal(t, int64(1), u.Stats().NoEndpoints)
}

func TestUpstreamHealthWithoutConfig(t *testing.T) {
	t.Parallel()
	u := New(Config{Discovery: hcFixedSet(epsOf("10.0.0.1:80")), Logger: slog.New(slog.DiscardHandler)})
	h := u.Health()
	require.Len(t, h, 1)
	assert.True(t, h[0].Healthy)
	assert.True(t, h[0].InRotation)
	assert.Equal(t, 1, h[0].Weight)
}

// BenchmarkProxyHealth is the proxy with every health feature configured
// (its pick path reads the precomputed set; each attempt feeds outlier
// detection) next to the same proxy without.
func BenchmarkProxyHealth(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok")
	}))
	defer srv.Close()
	addr := srv.Listener.Addr().String()
	for _, on := range []bool{false, true} {
		name := "off"
		cfg := Config{Discovery: hcFixedSet(epsOf(addr)), Logger: slog.New(slog.DiscardHandler)}
		if on {
			name = "on"
			cfg.HealthCheck = HealthCheck{Type: "tcp"}
			cfg.Outlier = OutlierDetection{Consecutive5xx: 5}
			cfg.SlowStart = SlowStart{Window: time.Minute}
			cfg.PanicThreshold = 0.5
		}
		b.Run(name, func(b *testing.B) {
			u := New(cfg)
			defer u.CloseIdleConnections()
			req := httptest.NewRequest("GET", "http://api.test/", nil)
			b.ReportAllocs()
			for b.Loop() {
				rec := httptest.NewRecorder()
				u.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("status %d", rec.Code)
				}
			}
		})
	}
}
