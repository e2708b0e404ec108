package upstream

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatewaykit/gateway/internal/reqinfo"
)

// firstPicker always picks the first candidate, so tests control which
// endpoint fails first and see which ones a retry is offered.
type firstPicker struct {
	mu      sync.Mutex
	offered [][]string // the candidate addresses of each Pick
}

func (f *firstPicker) Pick(_ *http.Request, eps []Endpoint) (Endpoint, error) {
	addrs := make([]string, len(eps))
	for i, ep := range eps {
		addrs[i] = ep.Addr
	}
	f.mu.Lock()
	f.offered = append(f.offered, addrs)
	f.mu.Unlock()
	return eps[0], nil
}

// statusBackend answers status with a large body (so an undrained body
// would block the handler) and records the bodies it received.
func statusBackend(t *testing.T, status int, got *atomic.Value, finished chan<- struct{}) string {
	return backend(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got.Store(string(b))
		w.WriteHeader(status)
		_, _ = w.Write(make([]byte, 1<<20))
		if finished != nil {
			finished <- struct{}{}
		}
	})
}

func TestRetries(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		method      string
		body        string
		header      map[string]string
		firstDead   bool // the first endpoint refuses connections
		firstStatus int  // else it answers this status
		retries     int
		maxReplay   int64
		chunked     bool
		wantStatus  int
		wantRetried bool
		// wantFirstBody: the first endpoint received the whole body.
		wantFirstBody bool
	}{
		{name: "GET retried on 503", method: "GET", firstStatus: 503, retries: 1, wantStatus: 200, wantRetried: true},
		{name: "no retries configured", method: "GET", firstStatus: 503, retries: 0, wantStatus: 503},
		{name: "status not listed", method: "GET", firstStatus: 500, retries: 1, wantStatus: 500},
		{name: "POST not retried on status", method: "POST", body: "order", firstStatus: 503, retries: 1, wantStatus: 503},
		{name: "POST with Idempotency-Key replayed", method: "POST", body: "order",
			header: map[string]string{"Idempotency-Key": "k1"}, firstStatus: 503, retries: 1, wantStatus: 200, wantRetried: true},
		{name: "PUT body within limit replayed", method: "PUT", body: "doc", firstStatus: 502, retries: 1, wantStatus: 200, wantRetried: true},
		{name: "PUT body over limit not retried", method: "PUT", body: strings.Repeat("x", 100), maxReplay: 10,
			firstStatus: 502, retries: 1, wantStatus: 502},
		{name: "chunked body within limit replayed", method: "PUT", body: "chunked-doc", chunked: true,
			firstStatus: 503, retries: 1, wantStatus: 200, wantRetried: true},
		{name: "chunked body over limit streamed, not retried", method: "PUT", body: strings.Repeat("y", 100), chunked: true,
			maxReplay: 10, firstStatus: 503, retries: 1, wantStatus: 503, wantFirstBody: true},
		{name: "Expect 100-continue not buffered", method: "PUT", body: "doc", header: map[string]string{"Expect": "100-continue"},
			firstStatus: 503, retries: 1, wantStatus: 503, wantFirstBody: true},
		{name: "GET retried on dial error", method: "GET", firstDead: true, retries: 1, wantStatus: 200, wantRetried: true},
		{name: "POST retried on dial error, body unread", method: "POST", body: "order", firstDead: true,
			retries: 1, wantStatus: 200, wantRetried: true},
		{name: "dial error without retries", method: "GET", firstDead: true, retries: 0, wantStatus: 502},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			forEachPath(t, func(t *testing.T, p transportPath) {
				var firstGot, secondGot atomic.Value
				finished := make(chan struct{}, 1)
				var first string
				if tt.firstDead {
					first = deadAddr(t)
				} else {
					first = statusBackend(t, tt.firstStatus, &firstGot, finished)
				}
				second := statusBackend(t, http.StatusOK, &secondGot, nil)
				picker := &firstPicker{}
				u := newTestUpstream(t, p, Config{
					Discovery:     endpointsOf(first, second),
					Balancer:      picker,
					Retries:       tt.retries,
					RetryStatuses: []int{502, 503, 504},
					MaxReplayBody: tt.maxReplay,
				})
				var info reqinfo.Info
				front, client := frontend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					u.ServeHTTP(w, r)
					info = *reqinfo.From(r.Context())
				}))
				var body io.Reader
				if tt.body != "" {
					body = strings.NewReader(tt.body)
					if tt.chunked {
						body = io.MultiReader(body)
					}
				}
				req, _ := http.NewRequest(tt.method, front.URL, body)
				for k, v := range tt.header {
					req.Header.Set(k, v)
				}
				res, err := client.Do(req)
				require.NoError(t, err)
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
				assert.Equal(t, tt.wantStatus, res.StatusCode)
				if !tt.firstDead {
					<-finished // the failed attempt's body was drained or closed
				}
				if tt.wantRetried {
					assert.Equal(t, int64(1), u.Stats().Retries)
					assert.Equal(t, 2, info.Attempts)
					assert.Equal(t, second, info.UpstreamAddr)
					require.Len(t, picker.offered, 2)
					assert.Equal(t, []string{second}, picker.offered[1], "the failed endpoint is excluded")
					assert.Equal(t, tt.body, secondGot.Load(), "the body reached the second endpoint whole")
				} else {
					assert.Equal(t, int64(0), u.Stats().Retries)
					assert.Equal(t, 1, info.Attempts)
				}
				if tt.wantFirstBody {
					assert.Equal(t, tt.body, firstGot.Load(), "the body streamed whole to the first endpoint")
				}
			})
		})
	}
}

func TestRemaining(t *testing.T) {
	t.Parallel()
	a, b, c := Endpoint{Addr: "a:1"}, Endpoint{Addr: "b:1"}, Endpoint{Addr: "c:1"}
	tests := []struct {
		name       string
		eps, tried []Endpoint
		want       []Endpoint
	}{
		{"untried left", []Endpoint{a, b, c}, []Endpoint{a}, []Endpoint{b, c}},
		{"all tried: all but the last failed", []Endpoint{a, b}, []Endpoint{a, b}, []Endpoint{a}},
		{"single endpoint: itself", []Endpoint{a}, []Endpoint{a}, []Endpoint{a}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.want, remaining(tt.eps, tt.tried))
		})
	}
}

// observer records Begin/End calls.
type observer struct {
	RoundRobin
	mu     sync.Mutex
	begins []string
	ends   []string
	errs   int
}

func (o *observer) Begin(ep Endpoint) {
	o.mu.Lock()
	o.begins = append(o.begins, ep.Addr)
	o.mu.Unlock()
}

func (o *observer) End(ep Endpoint, d time.Duration, err error) {
	o.mu.Lock()
	o.ends = append(o.ends, ep.Addr)
	if err != nil {
		o.errs++
	}
	o.mu.Unlock()
}

func TestObserverSeesAttempts(t *testing.T) {
	t.Parallel()
	forEachPath(t, func(t *testing.T, p transportPath) {
		dead := deadAddr(t)
		live := backend(t, func(w http.ResponseWriter, r *http.Request) {})
		obs := &observer{}
		u := newTestUpstream(t, p, Config{Discovery: endpointsOf(dead, live), Balancer: obs, Retries: 1})
		front, client := frontend(t, u)
		for range 2 {
			res, err := client.Get(front.URL)
			require.NoError(t, err)
			res.Body.Close()
			assert.Equal(t, http.StatusOK, res.StatusCode)
		}
		obs.mu.Lock()
		defer obs.mu.Unlock()
		assert.Equal(t, obs.begins, obs.ends)
		assert.Contains(t, obs.begins, dead)
		assert.Contains(t, obs.begins, live)
		deadAttempts := 0
		for _, a := range obs.begins {
			if a == dead {
				deadAttempts++
			}
		}
		assert.Equal(t, deadAttempts, obs.errs, "each dial error is reported")
	})
}

// chanDiscovery hands out the test's channel.
type chanDiscovery chan []Endpoint

func (c chanDiscovery) Watch(ctx context.Context, _ string) (<-chan []Endpoint, error) { return c, nil }

func TestRunSwapsEndpoints(t *testing.T) {
	t.Parallel()
	forEachPath(t, func(t *testing.T, p transportPath) {
		addr := backend(t, func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "up") })
		updates := make(chan []Endpoint)
		u := newTestUpstream(t, p, Config{Discovery: chanDiscovery(updates)})
		assert.Empty(t, u.Endpoints(), "no Snapshotter: empty until Run")

		rec := httptestRecorder(u, "/")
		assert.Equal(t, http.StatusServiceUnavailable, rec.Code)

		ctx, cancel := context.WithCancel(context.Background())
		runErr := make(chan error, 1)
		go func() { runErr <- u.Run(ctx) }()
		// Run applies an update before it receives the next one, so once a
		// send completes the previous update is in effect.
		updates <- []Endpoint{{Addr: addr}}
		updates <- []Endpoint{{Addr: addr}, {Addr: ""}}
		rec = httptestRecorder(u, "/")
		assert.Equal(t, http.StatusOK, rec.Code)
		assert.Equal(t, "up", rec.Body.String())
		updates <- []Endpoint{{Addr: addr}, {Addr: ""}} // the same again
		assert.Equal(t, []Endpoint{{Addr: addr}}, u.Endpoints(), "the empty address is dropped")
		cancel()
		assert.NoError(t, <-runErr, "Run returns nil when ctx ends")
	})
}

func httptestRecorder(h http.Handler, target string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", target, nil))
	return rec
}

// TestRequestsDuringSwaps runs requests while Run swaps the endpoint set, for
// the race detector: ServeHTTP reads the snapshot without locks.
func TestRequestsDuringSwaps(t *testing.T) {
	t.Parallel()
	forEachPath(t, func(t *testing.T, p transportPath) {
		a := backend(t, func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "a") })
		b := backend(t, func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "b") })
		updates := make(chan []Endpoint)
		u := newTestUpstream(t, p, Config{Discovery: chanDiscovery(updates)})
		ctx, cancel := context.WithCancel(context.Background())
		runErr := make(chan error, 1)
		go func() { runErr <- u.Run(ctx) }()
		updates <- []Endpoint{{Addr: a}}

		var wg sync.WaitGroup
		var bad atomic.Int64
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 25 {
					rec := httptestRecorder(u, "/")
					if rec.Code != http.StatusOK || (rec.Body.String() != "a" && rec.Body.String() != "b") {
						bad.Add(1)
					}
				}
			}()
		}
		for i := range 20 {
			if i%2 == 0 {
				updates <- []Endpoint{{Addr: b}}
			} else {
				updates <- []Endpoint{{Addr: a}, {Addr: b}}
			}
		}
		wg.Wait()
		cancel()
		require.NoError(t, <-runErr)
		assert.Equal(t, int64(0), bad.Load(), "every request served by a live endpoint")
	})
}

func TestRunClosesIdleConnectionsAtEnd(t *testing.T) {
	t.Parallel()
	forEachPath(t, func(t *testing.T, p transportPath) {
		closed := make(chan struct{}, 1)
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, "ok")
		}))
		srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
			if s == http.StateClosed {
				closed <- struct{}{}
			}
		}
		srv.Start()
		t.Cleanup(srv.Close)
		u := newTestUpstream(t, p, Config{Discovery: endpointsOf(hostOf(t, srv.URL))})
		ctx, cancel := context.WithCancel(context.Background())
		runErr := make(chan error, 1)
		go func() { runErr <- u.Run(ctx) }()
		rec := httptestRecorder(u, "/")
		require.Equal(t, http.StatusOK, rec.Code) // leaves one idle pooled connection
		cancel()
		require.NoError(t, <-runErr)
		<-closed // the idle connection was closed by Run's end, not by the test's cleanup
	})
}

// failingBody returns some bytes, then an error, as a client that breaks
// off its upload does.
type failingBody struct{ n int }

func (f *failingBody) Read(p []byte) (int, error) {
	if f.n > 0 {
		n := min(f.n, len(p))
		f.n -= n
		return n, nil
	}
	return 0, io.ErrUnexpectedEOF
}
func (f *failingBody) Close() error { return nil }

func TestReplayBufferingErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body func() io.ReadCloser
		want int
	}{
		{"client body breaks off", func() io.ReadCloser { return &failingBody{n: 5} }, http.StatusBadRequest},
		{"body over a MaxBytesReader limit", func() io.ReadCloser {
			return http.MaxBytesReader(nil, io.NopCloser(strings.NewReader(strings.Repeat("z", 100))), 10)
		}, http.StatusRequestEntityTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			forEachPath(t, func(t *testing.T, p transportPath) {
				reached := make(chan struct{}, 1)
				addr := backend(t, func(w http.ResponseWriter, r *http.Request) { reached <- struct{}{} })
				u := newTestUpstream(t, p, Config{Discovery: endpointsOf(addr), Retries: 1, RetryStatuses: []int{503}})
				req := httptest.NewRequest("PUT", "/", nil)
				req.Body, req.ContentLength = tt.body(), -1
				rec := httptest.NewRecorder()
				u.ServeHTTP(rec, req)
				assert.Equal(t, tt.want, rec.Code)
				assert.Empty(t, reached, "nothing sent upstream")
			})
		})
	}
}
