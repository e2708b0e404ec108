package h1

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestInformationalResponses(t *testing.T) {
	t.Parallel()
	t.Run("103 Early Hints from net/http", func(t *testing.T) {
		t.Parallel()
		srv, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Link", "</app.css>; rel=preload")
			w.WriteHeader(http.StatusEarlyHints)
			w.Header().Del("Link")
			_, _ = io.WriteString(w, "final")
		})
		c := newClient(t, Config{})
		var codes []int
		var links []string
		ctx := httptrace.WithClientTrace(t.Context(), &httptrace.ClientTrace{
			Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
				codes = append(codes, code)
				links = append(links, h.Get("Link"))
				return nil
			},
		})
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
		require.NoError(t, err)
		resp, err := c.RoundTrip(req)
		require.NoError(t, err)
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		require.NoError(t, resp.Body.Close())
		assert.Equal(t, http.StatusOK, resp.StatusCode)
		assert.Equal(t, "final", string(b))
		assert.Equal(t, []int{103}, codes)
		assert.Equal(t, []string{"</app.css>; rel=preload"}, links)
		assert.Equal(t, HostStats{Open: 1, Idle: 1}, hostStats(c, srv.URL))
	})
	t.Run("several 1xx from a raw upstream, hook error aborts", func(t *testing.T) {
		t.Parallel()
		s := newRawServer(t, func(s *rawServer, c net.Conn, br *bufio.Reader) {
			for {
				if _, _, err := readRequest(br); err != nil {
					return
				}
				_, _ = io.WriteString(c, "HTTP/1.1 102 Processing\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: <a>\r\n\r\n"+
					"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
			}
		})
		c := newClient(t, Config{})
		var codes []int
		ctx := httptrace.WithClientTrace(t.Context(), &httptrace.ClientTrace{
			Got1xxResponse: func(code int, _ textproto.MIMEHeader) error { codes = append(codes, code); return nil },
		})
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL(), nil)
		require.NoError(t, err)
		resp, err := c.RoundTrip(req)
		require.NoError(t, err)
		require.NoError(t, resp.Body.Close())
		assert.Equal(t, []int{102, 103}, codes)

		ctx = httptrace.WithClientTrace(t.Context(), &httptrace.ClientTrace{
			Got1xxResponse: func(int, textproto.MIMEHeader) error { return errBoom },
		})
		req, err = http.NewRequestWithContext(ctx, http.MethodGet, s.URL(), nil)
		require.NoError(t, err)
		_, err = c.RoundTrip(req)
		require.ErrorIs(t, err, errBoom)
		assert.Equal(t, 0, hostStats(c, s.URL()).Open)
	})
}

func TestSwitchingProtocols(t *testing.T) {
	t.Parallel()
	srv, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "echo" {
			http.Error(w, "want upgrade", http.StatusBadRequest)
			return
		}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		// The greeting travels with the 101 head, so the client finds it
		// in its read buffer.
		_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\nhello;")
		_ = brw.Flush()
		_, _ = io.Copy(conn, brw)
	})
	c := newClient(t, Config{})
	req, err := http.NewRequest(http.MethodGet, srv.URL, nil)
	require.NoError(t, err)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "echo")
	resp, err := c.RoundTrip(req)
	require.NoError(t, err)
	require.Equal(t, http.StatusSwitchingProtocols, resp.StatusCode)
	rwc, ok := resp.Body.(io.ReadWriteCloser)
	require.True(t, ok, "101 body is an io.ReadWriteCloser")

	greet := make([]byte, len("hello;"))
	_, err = io.ReadFull(rwc, greet)
	require.NoError(t, err)
	assert.Equal(t, "hello;", string(greet))
	for _, msg := range []string{"ping", "pong-pong"} {
		_, err = io.WriteString(rwc, msg)
		require.NoError(t, err)
		got := make([]byte, len(msg))
		_, err = io.ReadFull(rwc, got)
		require.NoError(t, err)
		assert.Equal(t, msg, string(got))
	}
	assert.Equal(t, HostStats{Open: 1}, hostStats(c, srv.URL), "upgraded connection is not idle")
	require.NoError(t, rwc.Close())
	require.NoError(t, rwc.Close(), "second Close is a no-op")
	assert.Equal(t, HostStats{}, hostStats(c, srv.URL))
}

func TestResponseHeaderTimeout(t *testing.T) {
	t.Parallel()
	s := newRawServer(t, func(s *rawServer, c net.Conn, br *bufio.Reader) {
		_, _, _ = readRequest(br)
		<-s.done // never answers
	})
	c := newClient(t, Config{ResponseHeaderTimeout: 20 * time.Millisecond})
	req, err := http.NewRequest(http.MethodGet, s.URL(), nil)
	require.NoError(t, err)
	_, err = c.RoundTrip(req)
	require.ErrorIs(t, err, ErrResponseHeaderTimeout)
	var ne net.Error
	require.ErrorAs(t, err, &ne)
	assert.True(t, ne.Timeout())
	assert.NotErrorIs(t, err, context.DeadlineExceeded)
	assert.Equal(t, 0, hostStats(c, s.URL()).Open)
}

func TestContextCancelledAwaitingHeaders(t *testing.T) {
	t.Parallel()
	s := newRawServer(t, func(s *rawServer, c net.Conn, br *bufio.Reader) {
		_, _, _ = readRequest(br)
		<-s.done
	})
	c := newClient(t, Config{})
	ctx, cancel := context.WithCancel(t.Context())
	// Cancel once the request is on the wire: the blocked read must end.
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{WroteRequest: func(httptrace.WroteRequestInfo) { cancel() }})
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL(), nil)
	require.NoError(t, err)
	_, err = c.RoundTrip(req)
	require.ErrorIs(t, err, context.Canceled)
	var ne net.Error
	assert.False(t, errors.As(err, &ne) && ne.Timeout(), "not reported as an i/o timeout: %v", err)
	assert.Equal(t, 0, hostStats(c, s.URL()).Open)
}

func TestContextDeadlineIsDeadlineExceeded(t *testing.T) {
	t.Parallel()
	s := newRawServer(t, func(s *rawServer, c net.Conn, br *bufio.Reader) {
		_, _, _ = readRequest(br)
		<-s.done
	})
	c := newClient(t, Config{})
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Millisecond)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL(), nil)
	require.NoError(t, err)
	_, err = c.RoundTrip(req)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.NotErrorIs(t, err, ErrResponseHeaderTimeout)
}

func TestDialRefused(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())

	c := newClient(t, Config{})
	body := &trackingBody{r: strings.NewReader("x")}
	req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/", body)
	require.NoError(t, err)
	_, err = c.RoundTrip(req)
	var de *DialError
	require.ErrorAs(t, err, &de)
	assert.Equal(t, addr, de.Addr)
	assert.Equal(t, int32(1), body.closed.Load(), "request body closed on dial error")
	assert.Equal(t, HostStats{}, c.Stats()[addr], "slot released")
}

func TestDialCancelledIsNotDialError(t *testing.T) {
	t.Parallel()
	c := newClient(t, Config{Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}})
	ctx, cancel := context.WithCancel(t.Context())
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{GetConn: func(string) { cancel() }})
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://upstream/", nil)
	require.NoError(t, err)
	_, err = c.RoundTrip(req)
	require.ErrorIs(t, err, context.Canceled)
	var de *DialError
	assert.False(t, errors.As(err, &de))
}

// oneShotServer answers the first request on each connection; a second
// request is read and then the connection is closed without an answer, as
// an upstream does when its keep-alive timeout races a new request.
func oneShotServer(t *testing.T) *rawServer {
	return newRawServer(t, func(s *rawServer, c net.Conn, br *bufio.Reader) {
		_, b, err := readRequest(br)
		if err != nil {
			return
		}
		if len(b) == 0 {
			b = []byte("ok")
		}
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: "+strconv.Itoa(len(b))+"\r\n\r\n"+string(b))
		_, _, _ = readRequest(br)
	})
}

func TestStaleConnRetry(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		method    string
		body      string
		getBody   bool
		header    string
		wantRetry bool
	}{
		{name: "GET retried", method: http.MethodGet, wantRetry: true},
		{name: "HEAD retried", method: http.MethodHead, wantRetry: true},
		{name: "POST without GetBody not retried", method: http.MethodPost, body: "x"},
		{name: "POST with GetBody but not idempotent", method: http.MethodPost, body: "x", getBody: true},
		{name: "POST with Idempotency-Key and GetBody retried", method: http.MethodPost, body: "replayed", getBody: true,
			header: "Idempotency-Key", wantRetry: true},
		{name: "PATCH with X-Idempotency-Key, no body, retried", method: http.MethodPatch,
			header: "X-Idempotency-Key", wantRetry: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := oneShotServer(t)
			c := newClient(t, Config{})
			get(t, c, s.URL()) // pools the connection the server will drop

			var body io.Reader
			if tt.body != "" {
				body = strings.NewReader(tt.body)
			}
			req, err := http.NewRequest(tt.method, s.URL(), body)
			require.NoError(t, err)
			if !tt.getBody {
				req.GetBody = nil
			}
			if tt.header != "" {
				req.Header.Set(tt.header, "k1")
			}
			// The server drops the connection only after reading this
			// request, so the liveness check (non-replayable requests)
			// passes and the failure surfaces.
			assert.Equal(t, tt.wantRetry, IsReplayable(req))
			resp, err := c.RoundTrip(req)
			if tt.wantRetry {
				require.NoError(t, err)
				b, err := io.ReadAll(resp.Body)
				require.NoError(t, err)
				require.NoError(t, resp.Body.Close())
				assert.Equal(t, http.StatusOK, resp.StatusCode)
				if tt.body != "" {
					assert.Equal(t, tt.body, string(b), "body replayed through GetBody")
				}
				assert.Equal(t, int32(2), s.accepted.Load(), "retried on a new connection")
				return
			}
			require.Error(t, err)
			assert.True(t, isStale(err), "stale-connection error: %v", err)
			assert.Equal(t, int32(1), s.accepted.Load(), "not retried")
		})
	}
}

func TestNonReplayableSkipsClosedIdleConn(t *testing.T) {
	t.Parallel()
	closed := make(chan struct{}, 1)
	s := newRawServer(t, func(s *rawServer, c net.Conn, br *bufio.Reader) {
		if _, _, err := readRequest(br); err != nil {
			return
		}
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		if s.accepted.Load() == 1 {
			c.Close() // idle close, like a keep-alive timeout
			closed <- struct{}{}
			return
		}
		<-s.done
	})
	c := newClient(t, Config{})
	get(t, c, s.URL())
	<-closed
	req, err := http.NewRequest(http.MethodPost, s.URL(), strings.NewReader("once"))
	require.NoError(t, err)
	req.GetBody = nil
	resp, err := c.RoundTrip(req)
	if !assert.NoError(t, err, "POST must not be sent on a connection the upstream closed") {
		return
	}
	require.NoError(t, resp.Body.Close())
	assert.Equal(t, int32(2), s.accepted.Load())
}

func TestMalformedResponses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		resp string
		cfg  Config
		want error
	}{
		{name: "garbage status line", resp: "SMTP ready\r\n\r\n"},
		{name: "non-numeric status", resp: "HTTP/1.1 2x0 OK\r\n\r\n"},
		{name: "header without colon", resp: "HTTP/1.1 200 OK\r\nBad Header\r\n\r\n"},
		{name: "bad content-length", resp: "HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n"},
		{name: "conflicting content-length", resp: "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab"},
		{name: "empty reply", resp: ""},
		{name: "headers too large", resp: "HTTP/1.1 200 OK\r\nX-Big: " + strings.Repeat("a", 8<<10) + "\r\n\r\n",
			cfg: Config{MaxResponseHeaderBytes: 1 << 10}, want: ErrResponseHeadersTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newRawServer(t, func(s *rawServer, c net.Conn, br *bufio.Reader) {
				if _, _, err := readRequest(br); err != nil {
					return
				}
				_, _ = io.WriteString(c, tt.resp)
			})
			c := newClient(t, tt.cfg)
			req, err := http.NewRequest(http.MethodPost, s.URL(), nil) // POST: no retry
			require.NoError(t, err)
			_, err = c.RoundTrip(req)
			require.Error(t, err)
			if tt.want != nil {
				assert.ErrorIs(t, err, tt.want)
			}
			assert.Equal(t, 0, hostStats(c, s.URL()).Open, "connection closed")
		})
	}
}

func TestEarlyResponseWhileWritingBody(t *testing.T) {
	t.Parallel()
	s := newRawServer(t, func(s *rawServer, c net.Conn, br *bufio.Reader) {
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		_, _ = io.WriteString(c, "HTTP/1.1 413 Content Too Large\r\nConnection: close\r\nContent-Length: 7\r\n\r\ntoo big")
		// Closing with the body unread resets the connection.
	})
	c := newClient(t, Config{})
	big := strings.NewReader(strings.Repeat("x", 32<<20))
	req, err := http.NewRequest(http.MethodPost, s.URL(), big)
	require.NoError(t, err)
	resp, err := c.RoundTrip(req)
	require.NoError(t, err)
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	assert.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
	assert.Equal(t, "too big", string(b))
	assert.Equal(t, 0, hostStats(c, s.URL()).Open)
}

func TestUnsolicited408OnIdleConn(t *testing.T) {
	t.Parallel()
	idle := make(chan struct{})
	s := newRawServer(t, func(s *rawServer, c net.Conn, br *bufio.Reader) {
		if _, _, err := readRequest(br); err != nil {
			return
		}
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst")
		if s.accepted.Load() > 1 {
			<-s.done
			return
		}
		// What some servers send when an idle connection times out,
		// then the close (after reading what arrived meanwhile).
		<-idle
		_, _ = io.WriteString(c, "HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
		_, _, _ = readRequest(br)
	})
	c := newClient(t, Config{})
	get(t, c, s.URL())
	require.Equal(t, HostStats{Open: 1, Idle: 1}, hostStats(c, s.URL()))
	close(idle)
	resp, body := get(t, c, s.URL())
	assert.Equal(t, http.StatusOK, resp.StatusCode, "the 408 was not taken as the answer")
	assert.Equal(t, "first", body)
	assert.Equal(t, int32(2), s.accepted.Load())
}

func TestCloseDelimitedHTTP11Body(t *testing.T) {
	t.Parallel()
	s := newRawServer(t, func(s *rawServer, c net.Conn, br *bufio.Reader) {
		if _, _, err := readRequest(br); err != nil {
			return
		}
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\n\r\nto the end")
	})
	c := newClient(t, Config{})
	_, body := get(t, c, s.URL())
	assert.Equal(t, "to the end", body)
	assert.Equal(t, 0, hostStats(c, s.URL()).Open)
}

func TestHeadWithoutLengthReused(t *testing.T) {
	t.Parallel()
	s := newRawServer(t, func(s *rawServer, c net.Conn, br *bufio.Reader) {
		for {
			if _, _, err := readRequest(br); err != nil {
				return
			}
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nX: y\r\n\r\n")
		}
	})
	c := newClient(t, Config{})
	for range 2 {
		req, err := http.NewRequest(http.MethodHead, s.URL(), nil)
		require.NoError(t, err)
		resp, err := c.RoundTrip(req)
		require.NoError(t, err)
		require.NoError(t, resp.Body.Close())
	}
	assert.Equal(t, int32(1), s.accepted.Load())
}

func TestDialTimeout(t *testing.T) {
	t.Parallel()
	c := newClient(t, Config{DialTimeout: 10 * time.Millisecond, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		<-ctx.Done() // a black-holed SYN
		return nil, ctx.Err()
	}})
	req, err := http.NewRequest(http.MethodGet, "http://upstream/", nil)
	require.NoError(t, err)
	_, err = c.RoundTrip(req)
	var de *DialError
	require.ErrorAs(t, err, &de)
	var ne net.Error
	require.ErrorAs(t, err, &ne)
	assert.True(t, ne.Timeout(), "a dial timeout is a timeout (504)")
	assert.Equal(t, HostStats{}, c.Stats()["upstream:80"])
}

func TestExtraBytesAfterResponseNotPooled(t *testing.T) {
	t.Parallel()
	s := newRawServer(t, func(s *rawServer, c net.Conn, br *bufio.Reader) {
		if _, _, err := readRequest(br); err != nil {
			return
		}
		// An unrequested second response in the same write.
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"+
			"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nstale")
		<-s.done
	})
	c := newClient(t, Config{})
	_, body := get(t, c, s.URL())
	assert.Equal(t, "ok", body)
	assert.Equal(t, HostStats{}, hostStats(c, s.URL()), "a connection with unread bytes is closed")
}
