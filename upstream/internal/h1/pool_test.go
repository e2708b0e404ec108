package h1

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestKeepAliveReuse(t *testing.T) {
	t.Parallel()
	srv, accepted := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.URL.Path)
	})
	c := newClient(t, Config{})
	for i := range 5 {
		_, body := get(t, c, srv.URL+"/n")
		assert.Equal(t, "/n", body, "request %d", i)
	}
	assert.Equal(t, int32(1), accepted.Load(), "sequential requests share one connection")
	assert.Equal(t, HostStats{Open: 1, Idle: 1}, hostStats(c, srv.URL))

	c.CloseIdleConnections()
	assert.Equal(t, HostStats{}, hostStats(c, srv.URL))
	_, _ = get(t, c, srv.URL+"/n")
	assert.Equal(t, int32(2), accepted.Load(), "a new connection after CloseIdleConnections")
}

func TestMaxIdleConnsPerHost(t *testing.T) {
	t.Parallel()
	srv, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") })
	c := newClient(t, Config{MaxIdleConnsPerHost: 1})
	var resps []*http.Response
	for range 3 { // three concurrent exchanges: three connections
		req, err := http.NewRequest(http.MethodGet, srv.URL, nil)
		require.NoError(t, err)
		resp, err := c.RoundTrip(req)
		require.NoError(t, err)
		resps = append(resps, resp)
	}
	assert.Equal(t, HostStats{Open: 3}, hostStats(c, srv.URL))
	for _, resp := range resps {
		_, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		require.NoError(t, resp.Body.Close())
	}
	assert.Equal(t, HostStats{Open: 1, Idle: 1}, hostStats(c, srv.URL), "idle connections beyond the cap are closed")
}

func TestIdleTimeoutEviction(t *testing.T) {
	t.Parallel()
	srv, accepted := countingServer(t, func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") })
	now := time.Unix(1000, 0)
	c := newClient(t, Config{IdleConnTimeout: time.Minute})
	c.now = func() time.Time { return now }

	get(t, c, srv.URL)
	now = now.Add(time.Minute - time.Nanosecond)
	get(t, c, srv.URL)
	assert.Equal(t, int32(1), accepted.Load(), "reused just before the idle timeout")

	now = now.Add(time.Minute)
	get(t, c, srv.URL)
	assert.Equal(t, int32(2), accepted.Load(), "expired connection replaced")
	assert.Equal(t, HostStats{Open: 1, Idle: 1}, hostStats(c, srv.URL), "expired connection closed")
}

func TestMaxConnsPerHostWaiters(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		pn := newPipeNet(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, "first;")
			w.(http.Flusher).Flush()
			if r.URL.Path == "/hold" {
				<-release
			}
			_, _ = io.WriteString(w, "done")
		}))
		c := newClient(t, Config{Dial: pn.Dial, MaxConnsPerHost: 1})
		const host = "http://upstream:80"

		req, err := http.NewRequest(http.MethodGet, host+"/hold", nil)
		require.NoError(t, err)
		held, err := c.RoundTrip(req)
		require.NoError(t, err)

		// A waiter that gets the connection once it is released.
		type result struct {
			body string
			err  error
		}
		waiterDone := make(chan result, 1)
		go func() {
			req, _ := http.NewRequest(http.MethodGet, host+"/next", nil)
			resp, err := c.RoundTrip(req)
			if err != nil {
				waiterDone <- result{err: err}
				return
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			waiterDone <- result{string(b), err}
		}()
		// A waiter whose context ends while it waits.
		ctx, cancel := context.WithCancel(context.Background())
		cancelled := make(chan error, 1)
		go func() {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, host+"/never", nil)
			_, err := c.RoundTrip(req)
			cancelled <- err
		}()
		synctest.Wait()
		assert.Equal(t, HostStats{Open: 1, Waiting: 2}, c.Stats()["upstream:80"])

		cancel()
		err = <-cancelled
		require.ErrorIs(t, err, context.Canceled)
		assert.Equal(t, HostStats{Open: 1, Waiting: 1}, c.Stats()["upstream:80"])

		close(release)
		b, err := io.ReadAll(held.Body)
		require.NoError(t, err)
		require.NoError(t, held.Body.Close())
		assert.Equal(t, "first;done", string(b))

		res := <-waiterDone
		require.NoError(t, res.err)
		assert.Equal(t, "first;done", res.body)
		assert.Equal(t, int32(1), pn.dials.Load(), "the waiter got the released connection")
		assert.Equal(t, HostStats{Open: 1, Idle: 1}, c.Stats()["upstream:80"])
	})
}

func TestMaxConnsPerHostDiscardGrantsDial(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pn := newPipeNet(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "100")
			_, _ = io.WriteString(w, "partial")
			w.(http.Flusher).Flush()
			if r.URL.Path == "/hold" {
				<-r.Context().Done()
			}
		}))
		c := newClient(t, Config{Dial: pn.Dial, MaxConnsPerHost: 1})
		req, err := http.NewRequest(http.MethodGet, "http://upstream/hold", nil)
		require.NoError(t, err)
		held, err := c.RoundTrip(req)
		require.NoError(t, err)

		got := make(chan error, 1)
		go func() {
			req, _ := http.NewRequest(http.MethodGet, "http://upstream/next", nil)
			resp, err := c.RoundTrip(req)
			if err == nil {
				resp.Body.Close()
			}
			got <- err
		}()
		synctest.Wait()
		assert.Equal(t, 1, c.Stats()["upstream:80"].Waiting)
		// Closing early (most of the body unread) discards the connection:
		// the waiter is allowed to dial.
		require.NoError(t, held.Body.Close())
		require.NoError(t, <-got)
		assert.Equal(t, int32(2), pn.dials.Load())
		assert.Equal(t, HostStats{Open: 0}, c.Stats()["upstream:80"])
	})
}

func TestRunSweepsIdleConns(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pn := newPipeNet(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") }))
		c := newClient(t, Config{Dial: pn.Dial, IdleConnTimeout: 10 * time.Second})
		ctx, cancel := context.WithCancel(context.Background())
		ran := make(chan error, 1)
		go func() { ran <- c.Run(ctx) }()

		get(t, c, "http://a:80/")
		get(t, c, "http://b:80/")
		assert.Len(t, c.Stats(), 2)
		time.Sleep(5 * time.Second) // fake time: first sweep, nothing expired yet
		synctest.Wait()
		get(t, c, "http://b:80/") // b stays fresh
		time.Sleep(5*time.Second + time.Millisecond)
		synctest.Wait()
		assert.Equal(t, map[string]HostStats{"b:80": {Open: 1, Idle: 1}}, c.Stats(), "a expired and forgotten")

		cancel()
		require.NoError(t, <-ran)
		assert.Empty(t, c.Stats()["b:80"].Idle, "Run closes idle connections on exit")
	})
}

func TestNewPanicsOnNegative(t *testing.T) {
	t.Parallel()
	assert.PanicsWithValue(t, "h1: negative Config.MaxConnsPerHost", func() { New(Config{MaxConnsPerHost: -1}) })
}

func TestConnLimits(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		cfg          Config
		advance      time.Duration // clock step before each request
		wantAccepted int32
	}{
		{name: "MaxRequestsPerConn 2", cfg: Config{MaxRequestsPerConn: 2}, wantAccepted: 3},
		{name: "MaxConnLifetime", cfg: Config{MaxConnLifetime: time.Minute}, advance: 25 * time.Second, wantAccepted: 2},
		{name: "no limits", wantAccepted: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, accepted := countingServer(t, func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") })
			now := time.Unix(1000, 0)
			c := newClient(t, tt.cfg)
			c.now = func() time.Time { return now }
			for range 5 { // at 0s, 25s, 50s | 75s, 100s with the lifetime
				_, body := get(t, c, srv.URL)
				assert.Equal(t, "ok", body)
				now = now.Add(tt.advance)
			}
			assert.Equal(t, tt.wantAccepted, accepted.Load())
		})
	}
}

func TestTraceConnHooks(t *testing.T) {
	t.Parallel()
	srv, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") })
	c := newClient(t, Config{})
	var events []string
	trace := &httptrace.ClientTrace{
		GetConn:              func(string) { events = append(events, "get") },
		ConnectDone:          func(string, string, error) { events = append(events, "connect") },
		GotConn:              func(i httptrace.GotConnInfo) { events = append(events, fmt.Sprintf("got reused=%t", i.Reused)) },
		WroteRequest:         func(i httptrace.WroteRequestInfo) { events = append(events, fmt.Sprintf("wrote err=%v", i.Err)) },
		GotFirstResponseByte: func() { events = append(events, "first byte") },
	}
	for range 2 {
		req, err := http.NewRequestWithContext(httptrace.WithClientTrace(t.Context(), trace), http.MethodGet, srv.URL, nil)
		require.NoError(t, err)
		resp, err := c.RoundTrip(req)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		require.NoError(t, resp.Body.Close())
	}
	assert.Equal(t, []string{
		"get", "connect", "got reused=false", "wrote err=<nil>", "first byte",
		"get", "got reused=true", "wrote err=<nil>", "first byte",
	}, events)
}
