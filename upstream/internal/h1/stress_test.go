package h1

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestConcurrentAccounting runs many concurrent exchanges that end in every
// way (complete, cancelled while waiting for a connection, cancelled awaiting
// headers, cancelled mid-body, closed early) under MaxConnsPerHost and checks
// that the pool's accounting holds afterwards: no leaked slot, no waiter
// left, and the cap never exceeded.
func TestConcurrentAccounting(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		churn bool // every idle connection expires; a sweeper drops pools
	}{
		{name: "steady"},
		{name: "churn with sweeps", churn: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			testConcurrentAccounting(t, tt.churn)
		})
	}
}

func testConcurrentAccounting(t *testing.T, churn bool) {
	const maxConns = 3
	srv, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, strings.Repeat("b", 16<<10))
	})
	// Count the client's open connections at the dialer.
	var mu sync.Mutex
	open, peak := 0, 0
	var d net.Dialer
	idle := time.Duration(0)
	if churn {
		idle = time.Nanosecond
	}
	c := newClient(t, Config{MaxConnsPerHost: maxConns, IdleConnTimeout: idle, Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
		nc, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		mu.Lock()
		open++
		peak = max(peak, open)
		mu.Unlock()
		return &closeCounter{Conn: nc, onClose: func() { mu.Lock(); open--; mu.Unlock() }}, nil
	}})

	const workers, perWorker = 8, 40
	var wg sync.WaitGroup
	stopSweeps := make(chan struct{})
	sweeperDone := make(chan struct{})
	go func() {
		defer close(sweeperDone)
		for churn {
			select {
			case <-stopSweeps:
				return
			default:
				c.sweep()
				runtime.Gosched()
			}
		}
	}()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWorker {
				exchangeEndingIn(t, c, srv.URL, (w+i)%5)
			}
		}()
	}
	wg.Wait()
	close(stopSweeps)
	<-sweeperDone

	s := hostStats(c, srv.URL)
	assert.Equal(t, 0, s.Waiting, "no waiter left")
	assert.Equal(t, s.Idle, s.Open, "every open connection is idle: no slot leaked")
	assert.LessOrEqual(t, s.Open, maxConns)
	mu.Lock()
	assert.LessOrEqual(t, peak, maxConns, "cap respected at the dialer")
	assert.Equal(t, s.Open, open, "every connection the pool forgot was closed")
	mu.Unlock()
	// The pool still works.
	_, body := get(t, c, srv.URL)
	assert.Len(t, body, 16<<10)
}

type closeCounter struct {
	net.Conn
	once    sync.Once
	onClose func()
}

func (c *closeCounter) Close() error {
	c.once.Do(c.onClose)
	return c.Conn.Close()
}

func exchangeEndingIn(t *testing.T, c *Client, url string, mode int) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	switch mode {
	case 1: // cancelled while getting a connection (possibly waiting)
		ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{GetConn: func(string) { cancel() }})
	case 2: // cancelled once the request is written
		ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{WroteRequest: func(httptrace.WroteRequestInfo) { cancel() }})
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	require.NoError(t, err)
	resp, err := c.RoundTrip(req)
	if err != nil {
		assert.ErrorIs(t, err, context.Canceled, "mode %d", mode)
		return
	}
	defer resp.Body.Close()
	switch mode {
	case 3: // cancelled mid-body
		_, _ = resp.Body.Read(make([]byte, 100))
		cancel()
		_, err := io.Copy(io.Discard, resp.Body)
		if err != nil {
			assert.ErrorIs(t, err, context.Canceled)
		}
	case 4: // closed early
		_, _ = resp.Body.Read(make([]byte, 100))
	default:
		_, err := io.Copy(io.Discard, resp.Body)
		assert.NoError(t, err, "mode %d", mode)
	}
}
