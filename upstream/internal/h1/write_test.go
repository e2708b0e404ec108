package h1

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// headServer returns each request's raw head (up to the blank line) on heads
// and answers 200 with an empty body.
func headServer(t *testing.T) (*rawServer, chan string) {
	heads := make(chan string, 16)
	s := newRawServer(t, func(s *rawServer, c net.Conn, br *bufio.Reader) {
		for {
			var head strings.Builder
			for {
				line, err := br.ReadString('\n')
				if err != nil {
					return
				}
				head.WriteString(line)
				if line == "\r\n" {
					break
				}
			}
			heads <- head.String()
			if _, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"); err != nil {
				return
			}
		}
	})
	return s, heads
}

func TestRequestWireFormat(t *testing.T) {
	t.Parallel()
	s, heads := headServer(t)
	c := newClient(t, Config{})
	base, err := url.Parse(s.URL())
	require.NoError(t, err)

	tests := []struct {
		name   string
		build  func() *http.Request
		want   []string // lines that must appear
		absent []string // substrings that must not appear
	}{
		{
			name: "raw query kept exactly, Host from req.Host",
			build: func() *http.Request {
				u := *base
				u.Path, u.RawQuery = "/a b/c", "x=%zz&y=a+b&z"
				r, _ := http.NewRequest(http.MethodGet, u.String(), nil)
				r.URL.RawQuery = "x=%zz&y=a+b&z"
				r.Host = "api.example.com"
				return r
			},
			want:   []string{"GET /a%20b/c?x=%zz&y=a+b&z HTTP/1.1", "Host: api.example.com"},
			absent: []string{"User-Agent", "Content-Length", "Accept-Encoding"},
		},
		{
			name: "POST without body sends Content-Length 0",
			build: func() *http.Request {
				r, _ := http.NewRequest(http.MethodPost, s.URL()+"/p", nil)
				return r
			},
			want: []string{"POST /p HTTP/1.1", "Content-Length: 0"},
		},
		{
			name: "DELETE without body sends no Content-Length",
			build: func() *http.Request {
				r, _ := http.NewRequest(http.MethodDelete, s.URL()+"/d", http.NoBody)
				return r
			},
			want:   []string{"DELETE /d HTTP/1.1"},
			absent: []string{"Content-Length", "Transfer-Encoding"},
		},
		{
			name: "headers as given, framing headers from the request fields",
			build: func() *http.Request {
				r, _ := http.NewRequest(http.MethodPut, s.URL()+"/", strings.NewReader("abc"))
				r.Header.Set("User-Agent", "gateway/1")
				r.Header.Add("X-Multi", "1")
				r.Header.Add("X-Multi", "2")
				r.Header["content-length"] = []string{"999"} // non-canonical: must not leak
				r.Header.Set("Transfer-Encoding", "chunked")
				return r
			},
			want:   []string{"PUT / HTTP/1.1", "User-Agent: gateway/1", "X-Multi: 1", "X-Multi: 2", "Content-Length: 3"},
			absent: []string{"999", "chunked"},
		},
		{
			name: "empty User-Agent is not sent; Close adds Connection: close",
			build: func() *http.Request {
				r, _ := http.NewRequest(http.MethodGet, s.URL()+"/", nil)
				r.Header.Set("User-Agent", "")
				r.Close = true
				return r
			},
			want:   []string{"Connection: close"},
			absent: []string{"User-Agent"},
		},
		{
			name: "OPTIONS *",
			build: func() *http.Request {
				r, _ := http.NewRequest(http.MethodOptions, s.URL(), nil)
				r.URL.Path = "*"
				return r
			},
			want: []string{"OPTIONS * HTTP/1.1"},
		},
	}
	for _, tt := range tests {
		req := tt.build()
		resp, err := c.RoundTrip(req)
		require.NoError(t, err, tt.name)
		require.NoError(t, resp.Body.Close())
		head := <-heads
		lines := strings.Split(head, "\r\n")
		for _, w := range tt.want {
			assert.Contains(t, lines, w, "%s: head %q", tt.name, head)
		}
		for _, a := range tt.absent {
			assert.NotContains(t, head, a, tt.name)
		}
	}
}

func TestInvalidRequestsSendNothing(t *testing.T) {
	t.Parallel()
	s, _ := headServer(t)
	c := newClient(t, Config{})
	tests := []struct {
		name   string
		mutate func(r *http.Request)
	}{
		{"header value with CRLF", func(r *http.Request) { r.Header.Set("X-A", "a\r\nX-Injected: 1") }},
		{"header name with space", func(r *http.Request) { r.Header["Bad Name"] = []string{"v"} }},
		{"host with CRLF", func(r *http.Request) { r.Host = "a\r\nb" }},
		{"raw query with space", func(r *http.Request) { r.URL.RawQuery = "a=b HTTP/1.1\r\nX: y" }},
		{"method with space", func(r *http.Request) { r.Method = "GET /x" }},
		{"https scheme", func(r *http.Request) { r.URL.Scheme = "https" }},
		{"ContentLength without body", func(r *http.Request) { r.ContentLength = 5 }},
		{"forbidden trailer", func(r *http.Request) { r.Trailer = http.Header{"Content-Length": {"1"}} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := &trackingBody{r: strings.NewReader("")}
			req, err := http.NewRequest(http.MethodGet, s.URL()+"/", nil)
			require.NoError(t, err)
			tt.mutate(req)
			if tt.name != "ContentLength without body" {
				req.Body = body
			}
			_, err = c.RoundTrip(req)
			require.Error(t, err)
			if tt.name == "https scheme" {
				assert.ErrorIs(t, err, ErrUnsupportedScheme)
			} else {
				assert.ErrorIs(t, err, ErrInvalidRequest)
			}
			if req.Body != nil {
				assert.Equal(t, int32(1), body.closed.Load(), "request body closed on error")
			}
		})
	}
	assert.Equal(t, int32(0), s.accepted.Load(), "nothing was sent")
}

func TestChunkedRequestWithTrailers(t *testing.T) {
	t.Parallel()
	type seen struct {
		te      []string
		body    string
		trailer string
	}
	got := make(chan seen, 1)
	srv, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		got <- seen{r.TransferEncoding, string(b), r.Trailer.Get("X-Checksum")}
		_, _ = io.WriteString(w, "ok")
	})
	c := newClient(t, Config{})
	pr, pw := io.Pipe()
	req, err := http.NewRequest(http.MethodPost, srv.URL, pr)
	require.NoError(t, err)
	req.ContentLength = -1
	req.Trailer = http.Header{"X-Checksum": nil}
	go func() {
		for _, part := range []string{"hello ", "chunked ", "world"} {
			_, _ = io.WriteString(pw, part)
		}
		req.Trailer.Set("X-Checksum", "c0ffee") // set while the body is read, as a proxy does
		pw.Close()
	}()
	resp, err := c.RoundTrip(req)
	require.NoError(t, err)
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	assert.Equal(t, "ok", string(b))
	s := <-got
	assert.Equal(t, []string{"chunked"}, s.te)
	assert.Equal(t, "hello chunked world", s.body)
	assert.Equal(t, "c0ffee", s.trailer)
}

func TestRequestBodyLengthMismatch(t *testing.T) {
	t.Parallel()
	s, _ := headServer(t)
	c := newClient(t, Config{})
	body := &trackingBody{r: strings.NewReader("short")}
	req, err := http.NewRequest(http.MethodPost, s.URL(), body)
	require.NoError(t, err)
	req.ContentLength = 10
	_, err = c.RoundTrip(req)
	require.ErrorIs(t, err, ErrInvalidRequest)
	assert.Equal(t, int32(1), body.closed.Load())
	assert.Equal(t, 0, hostStats(c, s.URL()).Open, "connection with a truncated request closed")
}

func TestRequestBodyReadError(t *testing.T) {
	t.Parallel()
	s, _ := headServer(t)
	c := newClient(t, Config{})
	req, err := http.NewRequest(http.MethodPost, s.URL(), io.MultiReader(strings.NewReader("ab"), iotestErr{}))
	require.NoError(t, err)
	req.ContentLength = -1
	_, err = c.RoundTrip(req)
	require.ErrorIs(t, err, errBoom)
	assert.Equal(t, 0, hostStats(c, s.URL()).Open)
}

type iotestErr struct{}

func (iotestErr) Read([]byte) (int, error) { return 0, errBoom }

func TestExpectContinue(t *testing.T) {
	t.Parallel()
	t.Run("rejected before the body", func(t *testing.T) {
		t.Parallel()
		s := newRawServer(t, func(s *rawServer, c net.Conn, br *bufio.Reader) {
			if _, err := http.ReadRequest(br); err != nil {
				return
			}
			_, _ = io.WriteString(c, "HTTP/1.1 417 Expectation Failed\r\nContent-Length: 4\r\n\r\nnope")
			<-s.done
		})
		c := newClient(t, Config{ExpectContinueTimeout: time.Hour})
		body := &trackingBody{r: strings.NewReader("payload")}
		req, err := http.NewRequest(http.MethodPut, s.URL(), body)
		require.NoError(t, err)
		req.ContentLength = 7
		req.Header.Set("Expect", "100-continue")
		resp, err := c.RoundTrip(req)
		require.NoError(t, err)
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		require.NoError(t, resp.Body.Close())
		assert.Equal(t, http.StatusExpectationFailed, resp.StatusCode)
		assert.Equal(t, "nope", string(b))
		assert.False(t, body.read.Load(), "body not sent")
		assert.Equal(t, int32(1), body.closed.Load(), "body closed")
		assert.Equal(t, 0, hostStats(c, s.URL()).Open, "connection not reused")
	})
	t.Run("accepted with 100 Continue", func(t *testing.T) {
		t.Parallel()
		srv, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body) // net/http sends 100 Continue here
			_, _ = w.Write(b)
		})
		c := newClient(t, Config{ExpectContinueTimeout: time.Hour})
		var got100 atomic.Bool
		ctx := httptrace.WithClientTrace(t.Context(), &httptrace.ClientTrace{Got100Continue: func() { got100.Store(true) }})
		req, err := http.NewRequestWithContext(ctx, http.MethodPut, srv.URL, strings.NewReader("payload"))
		require.NoError(t, err)
		req.Header.Set("Expect", "100-continue")
		resp, err := c.RoundTrip(req)
		require.NoError(t, err)
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		require.NoError(t, resp.Body.Close())
		assert.Equal(t, "payload", string(b))
		assert.True(t, got100.Load())
		assert.Equal(t, HostStats{Open: 1, Idle: 1}, hostStats(c, srv.URL))
	})
	t.Run("no answer: body sent after the timeout", func(t *testing.T) {
		t.Parallel()
		s := newRawServer(t, func(s *rawServer, c net.Conn, br *bufio.Reader) {
			_, b, err := readRequest(br) // never sends 100
			if err != nil {
				return
			}
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: "+strconv.Itoa(len(b))+"\r\n\r\n"+string(b))
			<-s.done
		})
		c := newClient(t, Config{ExpectContinueTimeout: time.Millisecond})
		req, err := http.NewRequest(http.MethodPost, s.URL(), strings.NewReader("late body"))
		require.NoError(t, err)
		req.Header.Set("Expect", "100-continue")
		resp, err := c.RoundTrip(req)
		require.NoError(t, err)
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		require.NoError(t, resp.Body.Close())
		assert.Equal(t, "late body", string(b))
	})
}

func TestWriteTimeout(t *testing.T) {
	t.Parallel()
	s := newRawServer(t, func(s *rawServer, c net.Conn, br *bufio.Reader) {
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		<-s.done // stops reading the body, never answers, never closes
	})
	c := newClient(t, Config{WriteTimeout: 20 * time.Millisecond})
	body := &trackingBody{r: strings.NewReader(strings.Repeat("x", 64<<20))}
	req, err := http.NewRequest(http.MethodPost, s.URL(), body)
	require.NoError(t, err)
	req.ContentLength = 64 << 20
	_, err = c.RoundTrip(req)
	require.ErrorIs(t, err, ErrWriteTimeout)
	var ne net.Error
	require.ErrorAs(t, err, &ne)
	assert.True(t, ne.Timeout())
	assert.NotErrorIs(t, err, context.DeadlineExceeded)
	assert.Equal(t, int32(1), body.closed.Load())
	assert.Equal(t, HostStats{}, hostStats(c, s.URL()))
}

// writeLog records the order of SetWriteDeadline and Write calls.
type writeLog struct {
	net.Conn
	mu     sync.Mutex
	events []string // protected by mu
}

func (w *writeLog) SetWriteDeadline(t time.Time) error {
	w.mu.Lock()
	if t.IsZero() {
		w.events = append(w.events, "clear")
	} else {
		w.events = append(w.events, "deadline")
	}
	w.mu.Unlock()
	return w.Conn.SetWriteDeadline(t)
}

func (w *writeLog) Write(p []byte) (int, error) {
	w.mu.Lock()
	w.events = append(w.events, "write")
	w.mu.Unlock()
	return w.Conn.Write(p)
}

func TestWriteTimeoutIsPerWrite(t *testing.T) {
	t.Parallel()
	srv, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(w, r.Body)
	})
	var wl *writeLog
	var d net.Dialer
	c := newClient(t, Config{WriteTimeout: time.Minute, Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
		nc, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		wl = &writeLog{Conn: nc}
		return wl, nil
	}})
	// A streamed body, slow to produce: the deadline must be set anew
	// before each write, so waiting for the body does not count.
	pr, pw := io.Pipe()
	go func() {
		for range 3 {
			_, _ = io.WriteString(pw, "part;")
		}
		pw.Close()
	}()
	req, err := http.NewRequest(http.MethodPost, srv.URL, pr)
	require.NoError(t, err)
	resp, err := c.RoundTrip(req)
	require.NoError(t, err)
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	assert.Equal(t, "part;part;part;", string(b))

	wl.mu.Lock()
	defer wl.mu.Unlock()
	require.NotEmpty(t, wl.events)
	assert.Equal(t, "deadline", wl.events[0])
	for i := 1; i < len(wl.events); i++ {
		if wl.events[i] == "write" {
			assert.Equal(t, "deadline", wl.events[i-1], "write %d not preceded by a fresh deadline: %v", i, wl.events)
		}
	}
	assert.Equal(t, 4, strings.Count(strings.Join(wl.events, " "), "write"), "three chunks and the last chunk: %v", wl.events)
}
