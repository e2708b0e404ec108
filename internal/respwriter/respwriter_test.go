package respwriter_test

import (
	"bufio"
	"compress/gzip"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatewaykit/gateway/internal/respwriter"
)

// layers wraps h in n Writers, as n middleware would.
func layers(n int, h http.Handler) http.Handler {
	for range n {
		next := h
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(respwriter.New(w), r)
		})
	}
	return h
}

func TestRecordsStatusAndBytes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		h      http.HandlerFunc
		status int
		bytes  int64
	}{
		{name: "implicit 200", h: func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") }, status: 200, bytes: 5},
		{name: "explicit status", h: func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(404) }, status: 404},
		{name: "second status ignored", h: func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(201); w.WriteHeader(500) }, status: 201},
		{name: "nothing written", h: func(w http.ResponseWriter, r *http.Request) {}, status: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rw := respwriter.New(httptest.NewRecorder())
			tt.h(rw, httptest.NewRequest("GET", "/", nil))
			assert.Equal(t, tt.status, rw.Status())
			assert.Equal(t, tt.bytes, rw.BytesWritten())
		})
	}
}

func TestInformationalPassesThrough(t *testing.T) {
	t.Parallel()
	got := make(chan *respwriter.Writer, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rw := respwriter.New(w)
		rw.Header().Set("Link", "</style.css>; rel=preload")
		rw.WriteHeader(http.StatusEarlyHints)
		rw.Write([]byte("ab"))
		got <- rw
	}))
	defer srv.Close()
	var early []int
	ctx := httptrace.WithClientTrace(t.Context(), &httptrace.ClientTrace{
		Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
			early = append(early, code)
			return nil
		},
	})
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL, nil)
	resp, err := srv.Client().Do(req)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	rw := <-got
	assert.Equal(t, []int{103}, early, "103 reached the client")
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "ab", string(body))
	assert.Equal(t, 200, rw.Status(), "1xx is not the final status")
	assert.EqualValues(t, 2, rw.BytesWritten())
}

func TestFlushThroughLayers(t *testing.T) {
	t.Parallel()
	next := make(chan struct{})
	srv := httptest.NewServer(layers(3, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "first\n")
		require.NoError(t, http.NewResponseController(w).Flush())
		<-next
		io.WriteString(w, "second\n")
		w.(http.Flusher).Flush()
	})))
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	require.NoError(t, err)
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	line, err := br.ReadString('\n')
	require.NoError(t, err)
	assert.Equal(t, "first\n", line, "flushed before the handler finished")
	close(next)
	line, err = br.ReadString('\n')
	require.NoError(t, err)
	assert.Equal(t, "second\n", line)
}

func TestHijackAndDeadlinesThroughLayers(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(layers(3, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		require.NoError(t, rc.SetWriteDeadline(time.Now().Add(time.Minute)), "deadline reaches the connection")
		c, brw, err := w.(http.Hijacker).Hijack()
		require.NoError(t, err)
		defer c.Close()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
		brw.Flush()
		line, _ := brw.ReadString('\n')
		brw.WriteString("echo " + line)
		brw.Flush()
	})))
	defer srv.Close()
	c, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
	require.NoError(t, err)
	defer c.Close()
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
	assert.Equal(t, 101, resp.StatusCode)
	io.WriteString(c, "ping\n")
	line, err := br.ReadString('\n')
	require.NoError(t, err)
	assert.Equal(t, "echo ping\n", line)
}

func TestHijackRecordsUpgrade(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rw := respwriter.New(w)
		c, _, err := rw.Hijack()
		require.NoError(t, err)
		assert.True(t, rw.Hijacked())
		assert.Equal(t, http.StatusSwitchingProtocols, rw.Status())
		c.Close()
	}))
	defer srv.Close()
	_, err := srv.Client().Get(srv.URL)
	assert.Error(t, err, "connection was taken over and closed")
}

func TestHijackUnsupported(t *testing.T) {
	t.Parallel()
	rw := respwriter.New(httptest.NewRecorder())
	_, _, err := rw.Hijack()
	assert.ErrorIs(t, err, http.ErrNotSupported)
	assert.False(t, rw.Hijacked())
}

func TestDivertAndOnHeader(t *testing.T) {
	t.Parallel()
	rec := httptest.NewRecorder()
	rw := respwriter.New(rec)
	var gz *gzip.Writer
	rw.OnHeader = func(status int) {
		rw.Header().Set("Content-Encoding", "gzip")
		gz = gzip.NewWriter(rw.Unwrap())
		rw.Divert(gz, gz.Flush)
	}
	io.WriteString(rw, "hello, hello, hello")
	rw.Flush()
	require.NoError(t, gz.Close())
	assert.Equal(t, "gzip", rec.Header().Get("Content-Encoding"))
	assert.EqualValues(t, 19, rw.BytesWritten(), "counts the handler's bytes")
	zr, err := gzip.NewReader(rec.Body)
	require.NoError(t, err)
	plain, err := io.ReadAll(zr)
	require.NoError(t, err)
	assert.Equal(t, "hello, hello, hello", string(plain))
	assert.True(t, rec.Flushed)
}

func BenchmarkWriter(b *testing.B) {
	rec := httptest.NewRecorder()
	p := []byte("payload")
	b.ReportAllocs()
	for b.Loop() {
		var w respwriter.Writer
		w.Reset(rec)
		w.WriteHeader(200)
		w.Write(p)
	}
}
