package breaker

import (
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

	"github.com/gatewaykit/gateway/upstream"
)

// Two endpoints behind an upstream.Upstream whose fast HTTP/1.1 client is
// wrapped by a Breaker with per-endpoint circuits; one endpoint is killed
// mid-load (listener closed, open connections reset): no idempotent request
// fails, the dead endpoint's circuit opens after its threshold, and once
// the endpoint is back its circuit half-opens after the cooldown and
// closes. The upstream sends to the other endpoint the requests reset in
// flight, those refused a connection, and those the dead endpoint's open
// circuit refuses.
func TestEndpointKilledMidLoad(t *testing.T) {
	t.Parallel()
	okHandler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") })
	a := httptest.NewServer(okHandler)
	t.Cleanup(a.Close)
	var bHits atomic.Int64
	bHandler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		bHits.Add(1)
		_, _ = io.WriteString(w, "ok")
	})
	b := httptest.NewServer(bHandler)
	bAddr := b.Listener.Addr().String()

	var ev events
	br, advance := newFake(Config{
		Failures:      1000,
		Endpoint:      EndpointConfig{Failures: 3, Cooldown: time.Minute},
		OnStateChange: ev.add,
	})
	u := upstream.New(upstream.Config{
		Discovery:     endpoints(a.Listener.Addr().String(), bAddr),
		WrapTransport: br.Transport,
		Retries:       1,
		Logger:        slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
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
						t.Logf("status %d: %s", rec.Code, rec.Body.String())
					}
				}
			})
		}
		wg.Wait()
	}
	load(25)
	require.Positive(t, bHits.Load(), "both endpoints serve")

	// Kill b while the load runs.
	var wg sync.WaitGroup
	wg.Go(func() { load(50) })
	b.Listener.Close()
	b.CloseClientConnections()
	wg.Wait()
	b.Close()
	load(25)
	assert.Zero(t, failed.Load(), "failed of %d requests", total.Load())
	assert.Equal(t, Open, br.EndpointState(bAddr))
	assert.Equal(t, Closed, br.State(), "the service is fine")
	assert.Equal(t, []string{bAddr + " closed->open"}, ev.list())

	// b comes back on the same address; its circuit half-opens after the
	// cooldown and closes on the first probe.
	ln, err := net.Listen("tcp", bAddr)
	require.NoError(t, err)
	back := httptest.NewUnstartedServer(bHandler)
	back.Listener.Close()
	back.Listener = ln
	back.Start()
	t.Cleanup(back.Close)
	hitsBefore := bHits.Load()
	advance(time.Minute)
	load(25)
	assert.Zero(t, failed.Load())
	assert.Equal(t, Closed, br.EndpointState(bAddr), "%v %+v", ev.list(), br.Stats())
	assert.Equal(t, []string{bAddr + " closed->open", bAddr + " open->half-open", bAddr + " half-open->closed"}, ev.list())
	assert.Greater(t, bHits.Load(), hitsBefore, "b serves again")
}

// testWriter sends log lines to the test log (shown when a test fails).
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }
