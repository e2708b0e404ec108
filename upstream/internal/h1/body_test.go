package h1

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestResponseTrailers(t *testing.T) {
	t.Parallel()
	srv, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Checksum")
		_, _ = io.WriteString(w, "streamed")
		w.(http.Flusher).Flush()
		w.Header().Set("X-Checksum", "abc123")
	})
	c := newClient(t, Config{})
	req, err := http.NewRequest(http.MethodGet, srv.URL, nil)
	require.NoError(t, err)
	resp, err := c.RoundTrip(req)
	require.NoError(t, err)
	assert.Equal(t, []string{"chunked"}, resp.TransferEncoding)
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	assert.Equal(t, "streamed", string(b))
	assert.Equal(t, "abc123", resp.Trailer.Get("X-Checksum"))
	assert.Equal(t, HostStats{Open: 1, Idle: 1}, hostStats(c, srv.URL), "chunked response reused")
}

func TestNoBodyResponses(t *testing.T) {
	t.Parallel()
	srv, accepted := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/204":
			w.WriteHeader(http.StatusNoContent)
		case "/304":
			w.Header().Set("ETag", `"v1"`)
			w.WriteHeader(http.StatusNotModified)
		default:
			w.Header().Set("Content-Length", "5")
			_, _ = io.WriteString(w, "hello")
		}
	})
	c := newClient(t, Config{})
	tests := []struct {
		name, method, path string
		status             int
	}{
		{"HEAD", http.MethodHead, "/", http.StatusOK},
		{"204", http.MethodGet, "/204", http.StatusNoContent},
		{"304", http.MethodGet, "/304", http.StatusNotModified},
		{"GET after them", http.MethodGet, "/", http.StatusOK},
	}
	for _, tt := range tests {
		req, err := http.NewRequest(tt.method, srv.URL+tt.path, nil)
		require.NoError(t, err)
		resp, err := c.RoundTrip(req)
		require.NoError(t, err, tt.name)
		assert.Equal(t, tt.status, resp.StatusCode, tt.name)
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err, tt.name)
		require.NoError(t, resp.Body.Close())
		if tt.name == "GET after them" {
			assert.Equal(t, "hello", string(b))
		} else {
			assert.Equal(t, http.NoBody, resp.Body, tt.name)
			assert.Empty(t, b, tt.name)
		}
	}
	assert.Equal(t, int32(1), accepted.Load(), "bodiless responses keep the connection")
}

func TestConnectionNotReused(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		cfg     Config
		handler http.HandlerFunc
		mutate  func(*http.Request)
	}{
		{name: "response Connection: close", handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Connection", "close")
			_, _ = io.WriteString(w, "ok")
		}},
		{name: "request Close", mutate: func(r *http.Request) { r.Close = true }},
		{name: "DisableKeepAlives", cfg: Config{DisableKeepAlives: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := tt.handler
			if h == nil {
				h = func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") }
			}
			srv, accepted := countingServer(t, h)
			c := newClient(t, tt.cfg)
			for range 2 {
				req, err := http.NewRequest(http.MethodGet, srv.URL, nil)
				require.NoError(t, err)
				if tt.mutate != nil {
					tt.mutate(req)
				}
				resp, err := c.RoundTrip(req)
				require.NoError(t, err)
				b, err := io.ReadAll(resp.Body)
				require.NoError(t, err)
				require.NoError(t, resp.Body.Close())
				assert.Equal(t, "ok", string(b))
				assert.Equal(t, 0, hostStats(c, srv.URL).Open)
			}
			assert.Equal(t, int32(2), accepted.Load())
		})
	}
}

func TestHTTP10Upstream(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		resp      string
		wantBody  string
		wantReuse bool
	}{
		{"close-delimited body", "HTTP/1.0 200 OK\r\n\r\nuntil close", "until close", false},
		{"no keep-alive", "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", "ok", false},
		{"keep-alive", "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok", "ok", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newRawServer(t, func(s *rawServer, c net.Conn, br *bufio.Reader) {
				for {
					if _, _, err := readRequest(br); err != nil {
						return
					}
					_, _ = io.WriteString(c, tt.resp)
					if !tt.wantReuse {
						return
					}
				}
			})
			c := newClient(t, Config{})
			for range 2 {
				resp, body := get(t, c, s.URL())
				assert.Equal(t, "HTTP/1.0", resp.Proto)
				assert.Equal(t, tt.wantBody, body)
			}
			want := int32(2)
			if tt.wantReuse {
				want = 1
			}
			assert.Equal(t, want, s.accepted.Load())
		})
	}
}

func TestUpstreamFailsMidBody(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		reset bool
	}{
		{"closes", false},
		{"resets (SO_LINGER 0)", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newRawServer(t, func(s *rawServer, c net.Conn, br *bufio.Reader) {
				if _, _, err := readRequest(br); err != nil {
					return
				}
				_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten!!")
				if tt.reset {
					_ = c.(*net.TCPConn).SetLinger(0)
				}
			})
			c := newClient(t, Config{})
			req, err := http.NewRequest(http.MethodGet, s.URL(), nil)
			require.NoError(t, err)
			resp, err := c.RoundTrip(req)
			if err == nil { // a reset may also hit the response head
				_, err = io.ReadAll(resp.Body)
				require.NoError(t, resp.Body.Close())
			}
			require.Error(t, err)
			if !tt.reset {
				assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
			}
			assert.Equal(t, 0, hostStats(c, s.URL()).Open, "connection not reused")
		})
	}
}

func TestContextCancelledMidBody(t *testing.T) {
	t.Parallel()
	s := newRawServer(t, func(s *rawServer, c net.Conn, br *bufio.Reader) {
		if _, _, err := readRequest(br); err != nil {
			return
		}
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n")
		<-s.done // the rest never comes
	})
	c := newClient(t, Config{})
	ctx, cancel := context.WithCancel(t.Context())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL(), nil)
	require.NoError(t, err)
	resp, err := c.RoundTrip(req)
	require.NoError(t, err)
	buf := make([]byte, 5)
	_, err = io.ReadFull(resp.Body, buf)
	require.NoError(t, err)
	assert.Equal(t, "first", string(buf))
	assert.Equal(t, 1, hostStats(c, s.URL()).Open)

	cancel()
	_, err = resp.Body.Read(buf) // blocked on the network until the interrupt
	require.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, 0, hostStats(c, s.URL()).Open, "connection freed")
	_, err = resp.Body.Read(buf)
	assert.ErrorIs(t, err, ErrBodyClosed)
	require.NoError(t, resp.Body.Close())
}

func TestCloseBeforeEOF(t *testing.T) {
	t.Parallel()
	srv, accepted := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		n := 64 << 10
		if r.URL.Path == "/small" {
			n = 100
		}
		_, _ = io.WriteString(w, strings.Repeat("z", n))
	})
	c := newClient(t, Config{})

	// Small remainder already in the read buffer: drained, reused.
	req, err := http.NewRequest(http.MethodGet, srv.URL+"/small", nil)
	require.NoError(t, err)
	resp, err := c.RoundTrip(req)
	require.NoError(t, err)
	_, err = resp.Body.Read(make([]byte, 10))
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	assert.Equal(t, HostStats{Open: 1, Idle: 1}, hostStats(c, srv.URL), "drained and pooled")

	// Large remainder: the connection is closed rather than drained.
	req, err = http.NewRequest(http.MethodGet, srv.URL+"/large", nil)
	require.NoError(t, err)
	resp, err = c.RoundTrip(req)
	require.NoError(t, err)
	_, err = resp.Body.Read(make([]byte, 10))
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	assert.Equal(t, HostStats{}, hostStats(c, srv.URL), "closed")
	assert.Equal(t, int32(1), accepted.Load())

	_, err = resp.Body.Read(make([]byte, 1))
	assert.ErrorIs(t, err, ErrBodyClosed)
}

func TestCloseDuringRead(t *testing.T) {
	t.Parallel()
	s := newRawServer(t, func(s *rawServer, c net.Conn, br *bufio.Reader) {
		if _, _, err := readRequest(br); err != nil {
			return
		}
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")
		<-s.done
	})
	c := newClient(t, Config{})
	req, err := http.NewRequest(http.MethodGet, s.URL(), nil)
	require.NoError(t, err)
	resp, err := c.RoundTrip(req)
	require.NoError(t, err)
	readErr := make(chan error, 1)
	go func() {
		_, err := resp.Body.Read(make([]byte, 10))
		readErr <- err
	}()
	require.NoError(t, resp.Body.Close()) // before or during the Read
	require.ErrorIs(t, <-readErr, ErrBodyClosed)
	assert.Equal(t, 0, hostStats(c, s.URL()).Open)
}

func TestRequestBodyClosedOnSuccess(t *testing.T) {
	t.Parallel()
	srv, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(w, r.Body)
	})
	c := newClient(t, Config{})
	body := &trackingBody{r: strings.NewReader("echo")}
	req, err := http.NewRequest(http.MethodPost, srv.URL, body)
	require.NoError(t, err)
	req.ContentLength = 4
	resp, err := c.RoundTrip(req)
	require.NoError(t, err)
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	assert.Equal(t, "echo", string(b))
	assert.Equal(t, int32(1), body.closed.Load())
}

// deadlineRecorder records the last read deadline set on a connection.
type deadlineRecorder struct {
	net.Conn
	mu   sync.Mutex
	last time.Time // protected by mu
}

func (d *deadlineRecorder) SetReadDeadline(t time.Time) error {
	d.mu.Lock()
	d.last = t
	d.mu.Unlock()
	return d.Conn.SetReadDeadline(t)
}

func (d *deadlineRecorder) lastReadDeadline() time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.last
}

func TestReadTimeout(t *testing.T) {
	t.Parallel()
	s := newRawServer(t, func(s *rawServer, c net.Conn, br *bufio.Reader) {
		for {
			req, _, err := readRequest(br)
			if err != nil {
				return
			}
			if req.URL.Path == "/stall" {
				_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf")
				<-s.done
				return
			}
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nfull")
		}
	})
	var conns []*deadlineRecorder
	var mu sync.Mutex
	var d net.Dialer
	c := newClient(t, Config{ReadTimeout: 20 * time.Millisecond, Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
		nc, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		dr := &deadlineRecorder{Conn: nc}
		mu.Lock()
		conns = append(conns, dr)
		mu.Unlock()
		return dr, nil
	}})

	// A complete body: the connection returns to the pool with no read
	// deadline left on it.
	_, body := get(t, c, s.URL()+"/ok")
	assert.Equal(t, "full", body)
	assert.Equal(t, HostStats{Open: 1, Idle: 1}, hostStats(c, s.URL()))
	mu.Lock()
	require.Len(t, conns, 1)
	assert.True(t, conns[0].lastReadDeadline().IsZero(), "deadline cleared before pooling")
	mu.Unlock()

	// A stalled body: Read fails with the read timeout.
	req, err := http.NewRequest(http.MethodGet, s.URL()+"/stall", nil)
	require.NoError(t, err)
	resp, err := c.RoundTrip(req)
	require.NoError(t, err)
	b, err := io.ReadAll(resp.Body)
	assert.Equal(t, "half", string(b))
	require.ErrorIs(t, err, ErrReadTimeout)
	var ne net.Error
	require.ErrorAs(t, err, &ne)
	assert.True(t, ne.Timeout())
	assert.NotErrorIs(t, err, context.DeadlineExceeded)
	require.NoError(t, resp.Body.Close())
	assert.Equal(t, HostStats{}, hostStats(c, s.URL()), "timed-out connection closed")
}
