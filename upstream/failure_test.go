package upstream

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatewaykit/gateway/internal/problem"
)

// blockUntilCleanup returns a channel closed when the test ends, for
// upstreams that hang.
func blockUntilCleanup(t *testing.T) <-chan struct{} {
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) })
	return stop
}

func TestUpstreamFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		addr       func(t *testing.T) []string
		cfg        Config
		wantStatus int
		retryAfter bool
		stat       func(Stats) int64
	}{
		{
			name:       "no endpoints",
			addr:       func(t *testing.T) []string { return nil },
			wantStatus: http.StatusServiceUnavailable,
			retryAfter: true,
			stat:       func(s Stats) int64 { return s.NoEndpoints },
		},
		{
			name:       "connection refused",
			addr:       func(t *testing.T) []string { return []string{deadAddr(t)} },
			wantStatus: http.StatusBadGateway,
			stat:       func(s Stats) int64 { return s.Failures },
		},
		{
			name: "reset before response",
			addr: func(t *testing.T) []string {
				return []string{rawBackend(t, func(c net.Conn) {
					_, _, _ = readRequestHead(c)
					_ = c.(*net.TCPConn).SetLinger(0)
					_ = c.Close()
				})}
			},
			wantStatus: http.StatusBadGateway,
			stat:       func(s Stats) int64 { return s.Failures },
		},
		{
			name: "closed before response",
			addr: func(t *testing.T) []string {
				return []string{rawBackend(t, func(c net.Conn) {
					_, _, _ = readRequestHead(c)
					_ = c.Close()
				})}
			},
			wantStatus: http.StatusBadGateway,
			stat:       func(s Stats) int64 { return s.Failures },
		},
		{
			name: "malformed response",
			addr: func(t *testing.T) []string {
				return []string{rawBackend(t, func(c net.Conn) {
					_, _, _ = readRequestHead(c)
					_, _ = io.WriteString(c, "HTTP/1.1 abc Nope\r\nBad Header\r\n\r\n")
					_ = c.Close()
				})}
			},
			wantStatus: http.StatusBadGateway,
			stat:       func(s Stats) int64 { return s.Failures },
		},
		{
			name: "hangs before headers",
			addr: func(t *testing.T) []string {
				stop := blockUntilCleanup(t)
				return []string{rawBackend(t, func(c net.Conn) {
					_, _, _ = readRequestHead(c)
					<-stop
					_ = c.Close()
				})}
			},
			cfg:        Config{ResponseHeaderTimeout: 50 * time.Millisecond},
			wantStatus: http.StatusGatewayTimeout,
			stat:       func(s Stats) int64 { return s.Timeouts },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			forEachPath(t, func(t *testing.T, p transportPath) {
				cfg := tt.cfg
				cfg.Discovery = endpointsOf(tt.addr(t)...)
				u := newTestUpstream(t, p, cfg)
				front, client := frontend(t, u)
				res, err := client.Get(front.URL + "/path")
				require.NoError(t, err)
				defer res.Body.Close()
				assert.Equal(t, tt.wantStatus, res.StatusCode)
				assert.Equal(t, problem.ContentType, res.Header.Get("Content-Type"))
				var body map[string]any
				require.NoError(t, json.NewDecoder(res.Body).Decode(&body))
				assert.Equal(t, "rid-1", body["request_id"])
				if tt.retryAfter {
					assert.NotEmpty(t, res.Header.Get("Retry-After"))
				}
				assert.Equal(t, int64(1), tt.stat(u.Stats()))
			})
		})
	}
}

func TestUpstreamFailsMidBody(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		serve func(c net.Conn)
	}{
		{"closes mid-body", func(c net.Conn) {
			_, _, _ = readRequestHead(c)
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten b")
			_ = c.Close()
		}},
		{"resets mid-body", func(c net.Conn) {
			_, _, _ = readRequestHead(c)
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\na\r\nonly ten b\r\n")
			_ = c.(*net.TCPConn).SetLinger(0)
			_ = c.Close()
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			forEachPath(t, func(t *testing.T, p transportPath) {
				u := newTestUpstream(t, p, Config{Discovery: endpointsOf(rawBackend(t, tt.serve))})
				front, client := frontend(t, u)
				res, err := client.Get(front.URL)
				if err == nil {
					// The status may have reached the client (net/http
					// buffers small responses); the body must then fail.
					assert.Equal(t, http.StatusOK, res.StatusCode)
					_, err = io.ReadAll(res.Body)
					res.Body.Close()
				}
				assert.Error(t, err, "the client connection is aborted, not ended cleanly")
				assert.Equal(t, int64(1), u.Stats().Aborted)
			})
		})
	}
}

func TestMidBodyFailureWithoutServerDoesNotPanic(t *testing.T) {
	t.Parallel()
	forEachPath(t, func(t *testing.T, p transportPath) {
		addr := rawBackend(t, func(c net.Conn) {
			_, _, _ = readRequestHead(c)
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort")
			_ = c.Close()
		})
		u := newTestUpstream(t, p, Config{Discovery: endpointsOf(addr)})
		rec := httptest.NewRecorder()
		assert.NotPanics(t, func() { u.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil)) })
		assert.Equal(t, "short", rec.Body.String())
	})
}

// TestChunkedBodyStreamedAsItArrives: an upstream that sends its headers
// and then the body a chunk at a time is streamed to the client chunk by
// chunk, with a ResponseHeaderTimeout set (it bounds only the headers).
func TestChunkedBodyStreamedAsItArrives(t *testing.T) {
	t.Parallel()
	forEachPath(t, func(t *testing.T, p transportPath) {
		release := make(chan struct{})
		addr := rawBackend(t, func(c net.Conn) {
			_, _, _ = readRequestHead(c)
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n")
			<-release // the rest only once the client has the first chunk
			_, _ = io.WriteString(c, "6\r\nsecond\r\n0\r\n\r\n")
			_ = c.Close()
		})
		u := newTestUpstream(t, p, Config{Discovery: endpointsOf(addr), ResponseHeaderTimeout: time.Second})
		front, client := frontend(t, u)
		res, err := client.Get(front.URL)
		require.NoError(t, err)
		defer res.Body.Close()
		br := bufio.NewReader(res.Body)
		buf := make([]byte, 5)
		_, err = io.ReadFull(br, buf)
		require.NoError(t, err)
		assert.Equal(t, "first", string(buf))
		close(release)
		rest, err := io.ReadAll(br)
		require.NoError(t, err)
		assert.Equal(t, "second", string(rest))
	})
}

func TestClientDisconnectMidStream(t *testing.T) {
	t.Parallel()
	forEachPath(t, func(t *testing.T, p transportPath) {
		upstreamGone := make(chan struct{})
		addr := backend(t, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			rc := http.NewResponseController(w)
			for {
				if _, err := io.WriteString(w, "data: tick\n\n"); err != nil {
					break
				}
				if rc.Flush() != nil {
					break
				}
				select {
				case <-r.Context().Done():
				case <-time.After(time.Millisecond): // the stream's own pace
					continue
				}
				break
			}
			close(upstreamGone)
		})
		u := newTestUpstream(t, p, Config{Discovery: endpointsOf(addr)})
		handled := make(chan struct{})
		front, client := frontend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			defer close(handled)
			u.ServeHTTP(w, r)
		}))
		res, err := client.Get(front.URL)
		require.NoError(t, err)
		line, err := bufio.NewReader(res.Body).ReadString('\n')
		require.NoError(t, err)
		assert.Equal(t, "data: tick\n", line)
		require.NoError(t, res.Body.Close()) // the client goes away mid-stream
		<-upstreamGone                       // the upstream request ended
		<-handled                            // and the proxy returned
		assert.Equal(t, int64(1), u.Stats().ClientGone)
	})
}

// TestDeadlineMidBodyAborts: when a deadline of the gateway (a Timeout
// middleware) ends the request while the body streams, the client must not
// receive a truncated body that looks complete.
func TestDeadlineMidBodyAborts(t *testing.T) {
	t.Parallel()
	forEachPath(t, func(t *testing.T, p transportPath) {
		stop := blockUntilCleanup(t)
		addr := backend(t, func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, "partial")
			http.NewResponseController(w).Flush()
			select {
			case <-stop:
			case <-r.Context().Done():
			}
		})
		u := newTestUpstream(t, p, Config{Discovery: endpointsOf(addr)})
		front, client := frontend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ctx, cancel := context.WithTimeout(r.Context(), 300*time.Millisecond)
			defer cancel()
			u.ServeHTTP(w, r.WithContext(ctx))
		}))
		res, err := client.Get(front.URL)
		require.NoError(t, err)
		defer res.Body.Close()
		body, err := io.ReadAll(res.Body)
		assert.Error(t, err, "aborted, not ended cleanly")
		assert.Equal(t, "partial", string(body))
		assert.Equal(t, int64(1), u.Stats().Aborted)
	})
}

func TestReadTimeoutAbortsStalledBody(t *testing.T) {
	t.Parallel()
	forEachPath(t, func(t *testing.T, p transportPath) {
		stop := blockUntilCleanup(t)
		upstreamGone := make(chan struct{})
		addr := backend(t, func(w http.ResponseWriter, r *http.Request) {
			defer close(upstreamGone)
			_, _ = io.WriteString(w, "partial")
			http.NewResponseController(w).Flush()
			select { // stalls mid-body
			case <-stop:
			case <-r.Context().Done():
			}
		})
		u := newTestUpstream(t, p, Config{Discovery: endpointsOf(addr), ReadTimeout: 200 * time.Millisecond})
		front, client := frontend(t, u)
		res, err := client.Get(front.URL)
		require.NoError(t, err)
		defer res.Body.Close()
		body, err := io.ReadAll(res.Body)
		assert.Error(t, err, "aborted, not ended cleanly")
		assert.Equal(t, "partial", string(body))
		<-upstreamGone // the upstream request was cancelled
		assert.Equal(t, int64(1), u.Stats().Aborted)
	})
}
