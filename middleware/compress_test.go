package middleware

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func gunzip(t *testing.T, b []byte) string {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	require.NoError(t, err)
	out, err := io.ReadAll(zr)
	require.NoError(t, err)
	return string(out)
}

func TestCompress(t *testing.T) {
	t.Parallel()
	big := strings.Repeat(`{"name":"gateway","ok":true},`, 100) // 2900 bytes
	small := `{"ok":true}`
	type resp struct {
		status  int
		ctype   string
		header  map[string]string
		body    string
		setLen  bool
		chunked bool // write in 100-byte pieces
	}
	tests := []struct {
		name       string
		method     string
		accept     string
		resp       resp
		wantGzip   bool
		wantVary   bool
		wantLength bool // Content-Length present in the response
	}{
		{name: "big unknown length", accept: "gzip", resp: resp{status: 200, ctype: "application/json", body: big}, wantGzip: true, wantVary: true},
		{name: "big in pieces", accept: "gzip", resp: resp{status: 200, ctype: "application/json", body: big, chunked: true}, wantGzip: true, wantVary: true},
		{name: "big known length", accept: "gzip", resp: resp{status: 200, ctype: "text/html; charset=utf-8", body: big, setLen: true}, wantGzip: true, wantVary: true},
		{name: "small unknown length", accept: "gzip", resp: resp{status: 200, ctype: "application/json", body: small}, wantVary: true, wantLength: true},
		{name: "small known length", accept: "gzip", resp: resp{status: 200, ctype: "application/json", body: small, setLen: true}, wantVary: true, wantLength: true},
		{name: "problem json compressible", accept: "gzip", resp: resp{status: 500, ctype: "application/problem+json", body: big}, wantGzip: true, wantVary: true},
		{name: "svg by suffix", accept: "gzip", resp: resp{status: 200, ctype: "image/svg+xml", body: big}, wantGzip: true, wantVary: true},
		{name: "no accept-encoding", accept: "", resp: resp{status: 200, ctype: "application/json", body: big}, wantVary: true},
		{name: "gzip q=0", accept: "gzip;q=0, br", resp: resp{status: 200, ctype: "application/json", body: big}, wantVary: true},
		{name: "gzip q=0.000", accept: "gzip; q=0.000", resp: resp{status: 200, ctype: "application/json", body: big}, wantVary: true},
		{name: "gzip q=0.5", accept: "br;q=1, gzip;q=0.5", resp: resp{status: 200, ctype: "application/json", body: big}, wantGzip: true, wantVary: true},
		{name: "star", accept: "*", resp: resp{status: 200, ctype: "application/json", body: big}, wantGzip: true, wantVary: true},
		{name: "star q=0", accept: "*;q=0", resp: resp{status: 200, ctype: "application/json", body: big}, wantVary: true},
		{name: "star but gzip refused", accept: "*, gzip;q=0", resp: resp{status: 200, ctype: "application/json", body: big}, wantVary: true},
		{name: "upper case", accept: "GZIP", resp: resp{status: 200, ctype: "application/json", body: big}, wantGzip: true, wantVary: true},
		{name: "x-gzip", accept: "x-gzip", resp: resp{status: 200, ctype: "application/json", body: big}, wantGzip: true, wantVary: true},
		{name: "image not compressible", accept: "gzip", resp: resp{status: 200, ctype: "image/png", body: big}},
		{name: "no content type", accept: "gzip", resp: resp{status: 200, body: big}},
		{name: "event stream", accept: "gzip", resp: resp{status: 200, ctype: "text/event-stream", body: big}},
		{name: "already encoded", accept: "gzip", resp: resp{status: 200, ctype: "application/json", body: big, header: map[string]string{"Content-Encoding": "br"}}},
		{name: "no-transform", accept: "gzip", resp: resp{status: 200, ctype: "application/json", body: big, header: map[string]string{"Cache-Control": "public, No-Transform"}}},
		{name: "partial content", accept: "gzip", resp: resp{status: 206, ctype: "application/json", body: big, header: map[string]string{"Content-Range": "bytes 0-2899/5000"}}},
		{name: "head", method: http.MethodHead, accept: "gzip", resp: resp{status: 200, ctype: "application/json"}, wantVary: true},
		{name: "vary kept once", accept: "gzip", resp: resp{status: 200, ctype: "application/json", body: big, header: map[string]string{"Vary": "Origin, accept-encoding"}}, wantGzip: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := Compress(CompressConfig{})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tt.resp.ctype != "" {
					w.Header().Set("Content-Type", tt.resp.ctype)
				}
				for k, v := range tt.resp.header {
					w.Header().Set(k, v)
				}
				if tt.resp.setLen {
					w.Header().Set("Content-Length", strconv.Itoa(len(tt.resp.body)))
				}
				w.WriteHeader(tt.resp.status)
				body := tt.resp.body
				for tt.resp.chunked && len(body) > 100 {
					_, _ = io.WriteString(w, body[:100])
					body = body[100:]
				}
				_, _ = io.WriteString(w, body)
			}))
			method := tt.method
			if method == "" {
				method = http.MethodGet
			}
			req := httptest.NewRequest(method, "/", nil)
			if tt.accept != "" {
				req.Header.Set("Accept-Encoding", tt.accept)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			res := rec.Result()
			assert.Equal(t, tt.resp.status, res.StatusCode)
			if tt.wantGzip {
				assert.Equal(t, "gzip", res.Header.Get("Content-Encoding"))
				assert.Empty(t, res.Header.Get("Content-Length"))
				assert.Equal(t, tt.resp.body, gunzip(t, rec.Body.Bytes()))
				assert.Less(t, rec.Body.Len(), len(tt.resp.body))
			} else {
				assert.NotEqual(t, "gzip", res.Header.Get("Content-Encoding"))
				assert.Equal(t, tt.resp.body, rec.Body.String())
			}
			if tt.wantLength {
				assert.Equal(t, strconv.Itoa(len(tt.resp.body)), res.Header.Get("Content-Length"))
			}
			varyAE := 0
			for _, v := range res.Header.Values("Vary") {
				if headerHasToken(v, "accept-encoding") {
					varyAE++
				}
			}
			if tt.wantVary {
				assert.Equal(t, 1, varyAE, "Vary: %q", res.Header.Values("Vary"))
			} else if tt.resp.header["Vary"] == "" {
				assert.Equal(t, 0, varyAE, "Vary: %q", res.Header.Values("Vary"))
			} else {
				assert.Equal(t, 1, varyAE, "no duplicate Vary token")
			}
		})
	}
}

func TestCompressETagAndRanges(t *testing.T) {
	t.Parallel()
	body := strings.Repeat("hello world ", 200)
	for _, tt := range []struct{ etag, want string }{
		{`"abc"`, `W/"abc"`},
		{`W/"abc"`, `W/"abc"`},
	} {
		h := Compress(CompressConfig{})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			w.Header().Set("ETag", tt.etag)
			w.Header().Set("Accept-Ranges", "bytes")
			_, _ = io.WriteString(w, body)
		}))
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.Header.Set("Accept-Encoding", "gzip")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		assert.Equal(t, tt.want, rec.Header().Get("ETag"))
		assert.Empty(t, rec.Header().Get("Accept-Ranges"))
		assert.Equal(t, body, gunzip(t, rec.Body.Bytes()))
	}
}

func TestCompressMinSizeAndLevel(t *testing.T) {
	t.Parallel()
	body := strings.Repeat("a", 50)
	h := Compress(CompressConfig{MinSize: 10, Level: 9, Types: []string{"text/*"}})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/anything")
		_, _ = io.WriteString(w, body)
	}))
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("Accept-Encoding", "gzip")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	assert.Equal(t, "gzip", rec.Header().Get("Content-Encoding"))
	assert.Equal(t, body, gunzip(t, rec.Body.Bytes()))

	h = Compress(CompressConfig{Types: []string{"text/*"}})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, strings.Repeat(body, 100))
	}))
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	assert.Empty(t, rec.Header().Get("Content-Encoding"), "custom Types replace the defaults")
}

func TestCompressPoolReuse(t *testing.T) {
	t.Parallel()
	h := Compress(CompressConfig{MinSize: 100})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, strings.Repeat(r.URL.Query().Get("c"), n))
	}))
	for i := range 50 {
		n := (i * 37) % 400
		c := string(rune('a' + i%26))
		req := httptest.NewRequest(http.MethodGet, "/?n="+strconv.Itoa(n)+"&c="+c, nil)
		req.Header.Set("Accept-Encoding", "gzip")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		want := strings.Repeat(c, n)
		if n >= 100 {
			require.Equal(t, "gzip", rec.Header().Get("Content-Encoding"), "n=%d", n)
			require.Equal(t, want, gunzip(t, rec.Body.Bytes()), "n=%d", n)
		} else {
			require.Equal(t, want, rec.Body.String(), "n=%d", n)
		}
	}
}

// TestCompressFlushStreams checks on a real connection that each flushed
// chunk of a compressible stream can be decompressed before the handler
// finishes.
func TestCompressFlushStreams(t *testing.T) {
	t.Parallel()
	next := make(chan struct{})
	h := Compress(CompressConfig{})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-ndjson")
		for i := range 3 {
			_, _ = io.WriteString(w, `{"event":`+strconv.Itoa(i)+"}\n")
			require.NoError(t, http.NewResponseController(w).Flush())
			<-next
		}
	}))
	srv, client := newServer(t, h)
	req, err := http.NewRequest(http.MethodGet, srv.URL, nil)
	require.NoError(t, err)
	req.Header.Set("Accept-Encoding", "gzip")
	res, err := client.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	require.Equal(t, "gzip", res.Header.Get("Content-Encoding"))
	zr, err := gzip.NewReader(res.Body)
	require.NoError(t, err)
	lines := bufio.NewReader(zr)
	for i := range 3 {
		line, err := lines.ReadString('\n')
		require.NoError(t, err)
		assert.Equal(t, `{"event":`+strconv.Itoa(i)+"}\n", line, "chunk %d arrives while the handler waits", i)
		next <- struct{}{}
	}
	_, err = io.ReadAll(lines)
	require.NoError(t, err, "the stream ends with a valid gzip trailer")
}

func TestCompressHijack(t *testing.T) {
	t.Parallel()
	h := Compress(CompressConfig{})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, brw, err := http.NewResponseController(w).Hijack()
		require.NoError(t, err)
		defer conn.Close()
		_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\nhello")
		_ = brw.Flush()
	}))
	srv, _ := newServer(t, h)
	conn, err := netDialer.Dial("tcp", srv.Listener.Addr().String())
	require.NoError(t, err)
	defer conn.Close()
	_, err = io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
	require.NoError(t, err)
	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
	assert.Equal(t, 101, res.StatusCode)
	rest, _ := io.ReadAll(br)
	assert.Equal(t, "hello", string(rest))
}

func TestAcceptsGzip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		vals []string
		want bool
	}{
		{"none", nil, false},
		{"gzip", []string{"gzip"}, true},
		{"list", []string{"deflate, gzip, br"}, true},
		{"two lines", []string{"br", "gzip;q=0.1"}, true},
		{"q zero", []string{"gzip;q=0"}, false},
		{"q 0.0", []string{"gzip;q=0.0"}, false},
		{"q 0.001", []string{"gzip;q=0.001"}, true},
		{"q 1.0", []string{"gzip;q=1.0"}, true},
		{"q malformed", []string{"gzip;q=abc"}, false},
		{"q too big", []string{"gzip;q=1.5"}, false},
		{"star", []string{"*"}, true},
		{"identity only", []string{"identity"}, false},
		{"gzip refused star allowed", []string{"gzip;q=0, *"}, false},
		{"spaces", []string{" gzip ; q=0.8 "}, true},
		{"gzipx", []string{"gzipx"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.want, acceptsGzip(tt.vals), "%q", tt.vals)
		})
	}
}

func TestCompressInvalidConfigPanics(t *testing.T) {
	t.Parallel()
	assert.Panics(t, func() { Compress(CompressConfig{Level: 10}) })
	assert.Panics(t, func() { Compress(CompressConfig{Level: -1}) })
	assert.Panics(t, func() { Compress(CompressConfig{MinSize: -1}) })
	assert.Panics(t, func() { Compress(CompressConfig{Types: []string{"json"}}) })
}

func BenchmarkCompress(b *testing.B) {
	body := []byte(strings.Repeat(`{"name":"gateway","ok":true},`, 300)) // ~8.7 KB
	h := Compress(CompressConfig{Level: 1})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	for _, c := range []struct{ name, accept string }{
		{"gzip-8KB", "gzip"},
		{"identity-8KB", ""},
	} {
		b.Run(c.name, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			if c.accept != "" {
				req.Header.Set("Accept-Encoding", c.accept)
			}
			w := &discardWriter{h: make(http.Header, 8)}
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				h.ServeHTTP(w, req)
			}
		})
	}
	b.Run("gzip-8KB-parallel", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			req.Header.Set("Accept-Encoding", "gzip")
			w := &discardWriter{h: make(http.Header, 8)}
			for pb.Next() {
				clear(w.h)
				h.ServeHTTP(w, req)
			}
		})
	})
}

func TestCompressKeepsTrailers(t *testing.T) {
	t.Parallel()
	for _, size := range []int{10, 5000} {
		h := Compress(CompressConfig{})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			w.Header().Set("Trailer", "X-Checksum")
			_, _ = io.WriteString(w, strings.Repeat("z", size))
			w.Header().Set("X-Checksum", "abc")
		}))
		srv, client := newServer(t, h)
		req, err := http.NewRequest(http.MethodGet, srv.URL, nil)
		require.NoError(t, err)
		req.Header.Set("Accept-Encoding", "gzip")
		res, err := client.Do(req)
		require.NoError(t, err)
		b, err := io.ReadAll(res.Body)
		require.NoError(t, err)
		_ = res.Body.Close()
		if res.Header.Get("Content-Encoding") == "gzip" {
			assert.Equal(t, strings.Repeat("z", size), gunzip(t, b))
		} else {
			assert.Equal(t, strings.Repeat("z", size), string(b))
		}
		assert.Equal(t, "abc", res.Trailer.Get("X-Checksum"), "size %d", size)
	}
}
