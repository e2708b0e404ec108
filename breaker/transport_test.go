package breaker

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
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

	"github.com/gatewaykit/gateway/upstream"
)

// An upstream answering 503 to everything: the breaker opens after the
// threshold, then answers 503 problem+json with Retry-After at once without
// a connection or request reaching the upstream; after the cooldown it
// half-opens and closes after the required successes.
func TestOpenBreakerAnswersWithoutDialling(t *testing.T) {
	t.Parallel()
	for _, path := range []string{"h1", "transport"} {
		t.Run(path, func(t *testing.T) {
			t.Parallel()
			var healthy atomic.Bool
			srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
				if healthy.Load() {
					_, _ = io.WriteString(w, "ok")
					return
				}
				w.WriteHeader(http.StatusServiceUnavailable)
			})
			var ev events
			b, advance := newFake(Config{Failures: 5, Cooldown: 20 * time.Second, HalfOpenProbes: 1, SuccessesToClose: 2, OnStateChange: ev.add})
			var u *upstream.Upstream
			if path == "h1" {
				u = upstream.New(upstream.Config{Discovery: endpoints(srv.host()), WrapTransport: b.Transport, Logger: slog.New(slog.DiscardHandler)})
				t.Cleanup(u.CloseIdleConnections)
			} else {
				u = proxy(t, b.Transport(newTransport(t)), 0, srv.host())
			}

			for i := range 5 {
				rec := serve(u, "GET", "http://api.test/x")
				require.Equal(t, http.StatusServiceUnavailable, rec.Code, "request %d reaches the upstream", i)
			}
			require.Equal(t, Open, b.State())
			dials, requests := srv.ln.n.Load(), srv.requests.Load()
			require.Equal(t, int64(5), requests)

			for range 20 {
				rec := serve(u, "GET", "http://api.test/x")
				require.Equal(t, http.StatusServiceUnavailable, rec.Code)
				assert.Equal(t, "application/problem+json", rec.Header().Get("Content-Type"))
				assert.Equal(t, "20", rec.Header().Get("Retry-After"))
			}
			assert.Equal(t, dials, srv.ln.n.Load(), "no connection while open")
			assert.Equal(t, requests, srv.requests.Load(), "no request while open")
			assert.Equal(t, int64(20), b.Stats().Rejected)

			advance(10 * time.Second)
			assert.Equal(t, "10", serve(u, "GET", "http://api.test/x").Header().Get("Retry-After"), "cooldown left")
			advance(10 * time.Second)
			assert.Equal(t, HalfOpen, b.State())
			healthy.Store(true)
			rec := serve(u, "GET", "http://api.test/x")
			require.Equal(t, http.StatusOK, rec.Code, "the probe")
			assert.Equal(t, HalfOpen, b.State(), "one success of two")
			rec = serve(u, "GET", "http://api.test/x")
			require.Equal(t, http.StatusOK, rec.Code)
			assert.Equal(t, Closed, b.State())
			assert.Equal(t, []string{"closed->open", "open->half-open", "half-open->closed"}, ev.list())
		})
	}
}

// An upstream that hangs: requests end with 504 at the attempt timeout, the
// bulkhead caps the requests in flight and refuses the rest with 503, and
// nothing leaks (goleak in TestMain).
func TestHangingUpstream(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	defer close(release)
	b := New(Config{
		Failures: 1000,
		Timeout:  100 * time.Millisecond,
		Bulkhead: BulkheadConfig{MaxConcurrent: 3},
	})
	u := proxy(t, b.Transport(newTransport(t)), 0, srv.host())

	const n = 12
	codes := make([]int, n)
	ctypes := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			rec := serve(u, "GET", "http://api.test/slow")
			codes[i], ctypes[i] = rec.Code, rec.Header().Get("Content-Type")
		})
	}
	wg.Wait()
	var timeouts, full int
	for i, c := range codes {
		switch c {
		case http.StatusGatewayTimeout:
			timeouts++
		case http.StatusServiceUnavailable:
			full++
		default:
			t.Errorf("request %d: status %d", i, c)
		}
		assert.Equal(t, "application/problem+json", ctypes[i])
	}
	assert.GreaterOrEqual(t, timeouts, 1)
	assert.LessOrEqual(t, srv.maxIn.Load(), int64(3), "bulkhead caps the upstream's concurrency")
	st := b.Stats()
	assert.Equal(t, int64(timeouts), st.Timeouts)
	assert.Equal(t, int64(full), st.BulkheadFull)
}

// The bulkhead queue: with one slot and a queue of one, a second request
// waits for the first and a third is refused at once.
func TestBulkheadQueue(t *testing.T) {
	t.Parallel()
	entered := make(chan struct{}, 4)
	release := make(chan struct{})
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-release
	})
	b := New(Config{Bulkhead: BulkheadConfig{MaxConcurrent: 1, MaxQueue: 1, QueueTimeout: time.Minute}})
	queued := make(chan struct{}, 1)
	b.bulk.queued = func() { queued <- struct{}{} }
	rt := b.Transport(newTransport(t))
	results := make(chan int, 2)
	for range 2 {
		go func() {
			res, err := get(t, rt, srv.URL)
			if err != nil {
				results <- 0
				return
			}
			res.Body.Close()
			results <- res.StatusCode
		}()
	}
	<-entered // one in flight
	<-queued  // and the other waiting for its slot
	_, err := get(t, rt, srv.URL)
	require.ErrorIs(t, err, ErrBulkheadFull)
	close(release)
	assert.Equal(t, http.StatusOK, <-results)
	assert.Equal(t, http.StatusOK, <-results)
	assert.Equal(t, int64(1), srv.maxIn.Load())
}

// Retry budget: against an upstream failing every request, the attempts
// stay within requests × (1 + budget).
func TestRetryBudget(t *testing.T) {
	t.Parallel()
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	const requests, ratio = 200, 0.2
	b, _ := newFake(Config{
		Failures: 1 << 20, // keep the circuit closed: this test is about retries
		Retry:    RetryConfig{MaxAttempts: 4, BaseDelay: time.Microsecond, Budget: ratio, NoMinRetries: true},
	})
	rt := b.Transport(newTransport(t))
	for range requests {
		res, err := get(t, rt, srv.URL)
		require.NoError(t, err)
		assert.Equal(t, http.StatusServiceUnavailable, res.StatusCode)
		res.Body.Close()
	}
	attempts := srv.requests.Load()
	assert.LessOrEqual(t, attempts, int64(requests*(1+ratio)))
	assert.Greater(t, attempts, int64(requests), "some retries were allowed")
	st := b.Stats()
	assert.Equal(t, attempts-requests, st.Retries)
	assert.Positive(t, st.BudgetDenied)
}

// The floor lets a quiet service retry although ratio × requests is zero.
func TestRetryBudgetFloor(t *testing.T) {
	t.Parallel()
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
	})
	b, _ := newFake(Config{Failures: 1 << 20, Retry: RetryConfig{MaxAttempts: 3, BaseDelay: time.Microsecond, MinRetriesPerSecond: 1, BudgetWindow: 3 * time.Second}})
	rt := b.Transport(newTransport(t))
	res, err := get(t, rt, srv.URL)
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, int64(3), srv.requests.Load(), "1 request, 2 retries within the floor of 3 per window")
}

func TestRetryEligibility(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		method string
		body   string
		noGet  bool // body without GetBody
		header [2]string
		want   int64 // upstream attempts
	}{
		{name: "GET retried", method: "GET", want: 3},
		{name: "PUT with replayable body retried", method: "PUT", body: "x", want: 3},
		{name: "POST not retried on status", method: "POST", body: "x", want: 1},
		{name: "POST with Idempotency-Key retried", method: "POST", body: "x", header: [2]string{"Idempotency-Key", "k1"}, want: 3},
		{name: "body without GetBody not retried", method: "PUT", body: "x", noGet: true, want: 1},
		{name: "upgrade never retried", method: "GET", header: [2]string{"Upgrade", "websocket"}, want: 1},
		{name: "event stream never retried", method: "GET", header: [2]string{"Accept", "text/event-stream"}, want: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				w.WriteHeader(http.StatusServiceUnavailable)
			})
			b := New(Config{Failures: 1 << 20, Retry: RetryConfig{MaxAttempts: 3, BaseDelay: time.Microsecond}})
			var body io.Reader
			if tt.body != "" {
				body = strings.NewReader(tt.body)
			}
			req, err := http.NewRequest(tt.method, srv.URL, body)
			require.NoError(t, err)
			if tt.noGet {
				req.GetBody = nil
			}
			if tt.header[0] != "" {
				req.Header.Set(tt.header[0], tt.header[1])
			}
			res, err := b.Transport(newTransport(t)).RoundTrip(req)
			require.NoError(t, err)
			res.Body.Close()
			assert.Equal(t, tt.want, srv.requests.Load())
		})
	}
}

// A connection refused is retried for any method (nothing was sent), and
// counts as a failure.
func TestRetryNotSent(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	dead := ln.Addr().String()
	ln.Close()
	b := New(Config{Failures: 1 << 20, Retry: RetryConfig{MaxAttempts: 3, BaseDelay: time.Microsecond}})
	req, _ := http.NewRequest("POST", "http://"+dead+"/", strings.NewReader("x"))
	_, err = b.Transport(newTransport(t)).RoundTrip(req)
	require.Error(t, err)
	st := b.Stats()
	assert.Equal(t, int64(2), st.Retries)
	assert.Equal(t, int64(3), st.Failures)
}

// The first attempt hangs past the attempt timeout; the retry succeeds.
func TestAttemptTimeoutThenRetry(t *testing.T) {
	t.Parallel()
	var n atomic.Int64
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			<-r.Context().Done()
			return
		}
		_, _ = io.WriteString(w, "second")
	})
	b := New(Config{Timeout: 50 * time.Millisecond, Retry: RetryConfig{MaxAttempts: 2, BaseDelay: time.Microsecond}})
	u := proxy(t, b.Transport(newTransport(t)), 0, srv.host())
	rec := serve(u, "GET", "http://api.test/")
	assert.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, "second", rec.Body.String())
	assert.Equal(t, int64(1), b.Stats().Timeouts)
}

// The attempt timeout ends at the response headers: a body slower than
// the timeout is copied whole.
func TestTimeoutDoesNotCutBody(t *testing.T) {
	t.Parallel()
	gate := make(chan struct{})
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "head ")
		http.NewResponseController(w).Flush()
		<-gate
		_, _ = io.WriteString(w, "tail")
	})
	b := New(Config{Timeout: 20 * time.Millisecond})
	res, err := get(t, b.Transport(newTransport(t)), srv.URL)
	require.NoError(t, err)
	defer res.Body.Close()
	buf := make([]byte, 5)
	_, err = io.ReadFull(res.Body, buf)
	require.NoError(t, err)
	time.AfterFunc(60*time.Millisecond, func() { close(gate) }) // the body outlives the timeout
	rest, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	assert.Equal(t, "head tail", string(buf)+string(rest))
}

// The deadline bounds the body too.
func TestDeadlineCutsBody(t *testing.T) {
	t.Parallel()
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "head ")
		http.NewResponseController(w).Flush()
		<-r.Context().Done()
	})
	b := New(Config{Deadline: 50 * time.Millisecond})
	res, err := get(t, b.Transport(newTransport(t)), srv.URL)
	require.NoError(t, err)
	defer res.Body.Close()
	_, err = io.ReadAll(res.Body)
	require.ErrorIs(t, err, ErrTimeout)
}

// WebSocket upgrades and event streams pass through a Breaker whose
// timeout and deadline are a nanosecond (any timer would kill them), keep
// hijacking and flushing working, and are not retried.
func TestStreamsPassThrough(t *testing.T) {
	t.Parallel()
	// One event channel per path, so that a handler of the other path's
	// stream still ending cannot take an event.
	streams := map[string]chan string{"h1": make(chan string), "transport": make(chan string)}
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "" {
			conn, brw, err := http.NewResponseController(w).Hijack()
			if err != nil {
				return
			}
			defer conn.Close()
			_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
			_ = brw.Flush()
			for {
				line, err := brw.ReadString('\n')
				if err != nil {
					return
				}
				_, _ = brw.WriteString(strings.ToUpper(line))
				_ = brw.Flush()
			}
		}
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		_ = http.NewResponseController(w).Flush()
		for {
			select {
			case ev := <-streams[r.URL.Query().Get("path")]:
				_, _ = io.WriteString(w, "data: "+ev+"\n\n")
				_ = http.NewResponseController(w).Flush()
			case <-r.Context().Done():
				return
			}
		}
	})
	for _, path := range []string{"h1", "transport"} {
		b := New(Config{Timeout: time.Nanosecond, Deadline: time.Nanosecond, Retry: RetryConfig{MaxAttempts: 3}})
		var u *upstream.Upstream
		if path == "h1" {
			// The upstream's fast client, wrapped.
			u = upstream.New(upstream.Config{Discovery: endpoints(srv.host()), WrapTransport: b.Transport, Logger: slog.New(slog.DiscardHandler)})
			t.Cleanup(u.CloseIdleConnections)
		} else {
			u = proxy(t, b.Transport(newTransport(t)), 0, srv.host())
		}
		front := httptest.NewServer(u)
		t.Cleanup(front.Close)

		t.Run(path+"/plain request times out", func(t *testing.T) {
			rec := serve(u, "GET", "http://api.test/")
			assert.Equal(t, http.StatusGatewayTimeout, rec.Code)
		})
		t.Run(path+"/websocket", func(t *testing.T) {
			c, err := net.Dial("tcp", front.Listener.Addr().String())
			require.NoError(t, err)
			defer c.Close()
			_, err = io.WriteString(c, "GET /ws HTTP/1.1\r\nHost: api.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
			require.NoError(t, err)
			br := bufio.NewReader(c)
			res, err := http.ReadResponse(br, nil)
			require.NoError(t, err)
			require.Equal(t, http.StatusSwitchingProtocols, res.StatusCode)
			for _, msg := range []string{"hello\n", "again\n"} {
				_, err = io.WriteString(c, msg)
				require.NoError(t, err)
				line, err := br.ReadString('\n')
				require.NoError(t, err)
				assert.Equal(t, strings.ToUpper(msg), line)
			}
		})
		t.Run(path+"/event stream", func(t *testing.T) {
			req, _ := http.NewRequest("GET", front.URL+"/events?path="+path, nil)
			req.Header.Set("Accept", "text/event-stream")
			res, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			defer res.Body.Close()
			br := bufio.NewReader(res.Body)
			for _, ev := range []string{"one", "two"} {
				streams[path] <- ev // the next event is sent only once this one arrived
				line, err := br.ReadString('\n')
				require.NoError(t, err)
				assert.Equal(t, "data: "+ev+"\n", line)
				_, _ = br.ReadString('\n')
			}
		})
		assert.Zero(t, b.Stats().Retries)
	}
}

// Per-endpoint breakers cut off one bad instance; the service circuit
// stays closed.
func TestEndpointBreaker(t *testing.T) {
	t.Parallel()
	good := newServer(t, func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") })
	bad := newServer(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusBadGateway) })
	var ev events
	b, _ := newFake(Config{Failures: 1000, Endpoint: EndpointConfig{Failures: 3}, OnStateChange: ev.add})
	rt := b.Transport(newTransport(t))
	for range 3 {
		res, err := get(t, rt, bad.URL)
		require.NoError(t, err)
		res.Body.Close()
	}
	assert.Equal(t, Open, b.EndpointState(bad.host()))
	_, err := get(t, rt, bad.URL)
	require.ErrorIs(t, err, ErrOpen)
	var ns interface{ RetryOnOtherEndpoint() bool }
	require.True(t, errors.As(err, &ns) && ns.RetryOnOtherEndpoint(), "a proxy may try another endpoint")
	res, err := get(t, rt, good.URL)
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, http.StatusOK, res.StatusCode)
	assert.Equal(t, Closed, b.State())
	assert.Equal(t, []string{bad.host() + " closed->open"}, ev.list())
	st := b.Stats()
	require.Len(t, st.Endpoints, 2)
	assert.Equal(t, int64(3), bad.requests.Load())
}

// A request the client cancelled is no failure.
func TestClientCancelIsNotFailure(t *testing.T) {
	t.Parallel()
	entered := make(chan struct{})
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-r.Context().Done()
	})
	b := New(Config{Failures: 1})
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL, nil)
	go func() { <-entered; cancel() }()
	_, err := b.Transport(newTransport(t)).RoundTrip(req)
	require.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, Closed, b.State())
	assert.Zero(t, b.Stats().Failures)
}

func TestFallback(t *testing.T) {
	t.Parallel()
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) })
	fb := NewStatic(http.StatusOK, http.Header{"Content-Type": {"application/json"}}, []byte(`{"items":[]}`))
	b, _ := newFake(Config{Failures: 2, Fallback: fb})
	rt := b.Transport(newTransport(t))
	for i := range 4 { // two failures answered by the fallback, then the open circuit's rejections
		res, err := get(t, rt, srv.URL)
		require.NoError(t, err, "request %d", i)
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		assert.Equal(t, http.StatusOK, res.StatusCode)
		assert.Equal(t, `{"items":[]}`, string(body))
	}
	assert.Equal(t, int64(2), srv.requests.Load())
	assert.Equal(t, int64(4), b.Stats().Fallbacks)
}

// Hedging: the first request stalls, the hedge sent after Delay answers.
func TestHedge(t *testing.T) {
	t.Parallel()
	var n atomic.Int64
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			<-r.Context().Done() // cancelled once the hedge won
			return
		}
		_, _ = io.WriteString(w, "hedge")
	})
	b := New(Config{Hedge: HedgeConfig{Delay: 10 * time.Millisecond}})
	res, err := get(t, b.Transport(newTransport(t)), srv.URL)
	require.NoError(t, err)
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	assert.Equal(t, "hedge", string(body))
	assert.Equal(t, int64(1), b.Stats().Hedges)
}

func TestNilNextIsDefaultTransport(t *testing.T) {
	t.Parallel()
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") })
	rt := New(Config{}).Transport(nil)
	res, err := get(t, rt, srv.URL)
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, http.StatusOK, res.StatusCode)
	http.DefaultTransport.(*http.Transport).CloseIdleConnections()
}

// Only an endpoint circuit's rejection invites a proxy to try elsewhere.
func TestOpenErrorScope(t *testing.T) {
	t.Parallel()
	b, _ := newFake(Config{Failures: 1})
	done, err := b.Allow()
	require.NoError(t, err)
	done(true)
	_, err = b.Allow()
	var oe interface{ RetryOnOtherEndpoint() bool }
	require.True(t, errors.As(err, &oe))
	assert.False(t, oe.RetryOnOtherEndpoint(), "the whole service is refused")
}

// A retry that could not finish before the deadline is not started.
func TestDeadlineStopsRetries(t *testing.T) {
	t.Parallel()
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) })
	// The backoff is uniform in [0, 1h] (full jitter): with 200ms left, a
	// retry fits once in 18000.
	b := New(Config{Failures: 1000, Deadline: 200 * time.Millisecond, Retry: RetryConfig{MaxAttempts: 5, BaseDelay: time.Hour, MaxDelay: time.Hour}})
	for range 5 {
		res, err := get(t, b.Transport(newTransport(t)), srv.URL)
		if err != nil {
			require.ErrorIs(t, err, ErrTimeout) // a very slow machine
			continue
		}
		res.Body.Close()
		assert.Equal(t, http.StatusServiceUnavailable, res.StatusCode)
	}
	assert.LessOrEqual(t, srv.requests.Load(), int64(6), "retries without time left are skipped")
}

func TestSynchronous(t *testing.T) {
	t.Parallel()
	type syncer interface{ Synchronous() bool }
	assert.True(t, New(Config{}).Transport(nil).(syncer).Synchronous())
	assert.False(t, New(Config{Hedge: HedgeConfig{Delay: time.Millisecond}}).Transport(nil).(syncer).Synchronous())
}

// A transport panicking in a hedged attempt's goroutine fails that attempt
// instead of the process.
func TestHedgePanicIsAnError(t *testing.T) {
	t.Parallel()
	b := New(Config{Hedge: HedgeConfig{Delay: time.Hour}})
	boom := roundTripFunc(func(*http.Request) (*http.Response, error) { panic("boom") })
	_, err := get(t, b.Transport(boom), "http://10.0.0.1/")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "panicked: boom")
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
