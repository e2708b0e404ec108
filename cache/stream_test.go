package cache

import (
	"bufio"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestStreamsWhileStoring checks over a real connection that the client
// reads the first part of a miss before upstream has written the rest, and
// that the whole body is stored.
func TestStreamsWhileStoring(t *testing.T) {
	t.Parallel()
	gate := make(chan struct{})
	o := &origin{h: func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Cache-Control", "max-age=60")
		_, _ = io.WriteString(w, "first\n")
		w.(http.Flusher).Flush()
		<-gate
		_, _ = io.WriteString(w, "second\n")
	}}
	c := New(Config{})
	srv := httptest.NewServer(c.Handler(o))
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()

	res, err := client.Get(srv.URL + "/stream")
	require.NoError(t, err)
	br := bufio.NewReader(res.Body)
	line, err := br.ReadString('\n')
	require.NoError(t, err)
	assert.Equal(t, "first\n", line, "streamed before upstream finished")
	close(gate)
	rest, err := io.ReadAll(br)
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, "second\n", string(rest))

	res, err = client.Get(srv.URL + "/stream")
	require.NoError(t, err)
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	assert.Equal(t, "first\nsecond\n", string(b))
	assert.Contains(t, res.Header.Get("Cache-Status"), "hit")
	assert.Equal(t, int64(1), o.n.Load())
}

// TestObjectCap checks that a response over MaxObjectBytes reaches the
// client whole and is not stored, with or without Content-Length.
func TestObjectCap(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("z", 1000)
	tests := []struct {
		name       string
		withLength bool
		wantStatus string
	}{
		{name: "cap/known-length-not-stored", withLength: true, wantStatus: "detail=too-large"},
		{name: "cap/streamed-storing-abandoned", withLength: false, wantStatus: "stored"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o := &origin{h: func(w http.ResponseWriter, r *http.Request, n int) {
				w.Header().Set("Cache-Control", "max-age=60")
				if tt.withLength {
					w.Header().Set("Content-Length", "1000")
				}
				for i := 0; i < len(big); i += 100 {
					_, _ = io.WriteString(w, big[i:i+100])
				}
			}}
			h := New(Config{MaxObjectBytes: 300}).Handler(o)
			rec := doGet(h, "/big", nil)
			assert.Equal(t, big, rec.Body.String())
			assert.Contains(t, rec.Header().Get("Cache-Status"), tt.wantStatus)
			rec = doGet(h, "/big", nil)
			assert.Equal(t, big, rec.Body.String())
			assert.Equal(t, int64(2), o.n.Load(), "not stored")
		})
	}
}

// TestStaleIfErrorUpstreamDown serves the stale response when the real
// upstream behind a reverse proxy is gone (the proxy answers 502).
func TestStaleIfErrorUpstreamDown(t *testing.T) {
	t.Parallel()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=1, stale-if-error=600")
		_, _ = io.WriteString(w, "last good")
	}))
	target, _ := url.Parse(up.URL)
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	proxy := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(target) }, Transport: tr,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) { w.WriteHeader(http.StatusBadGateway) }}
	clk := newClock()
	h := New(Config{Now: clk.Now}).Handler(proxy)
	assert.Equal(t, "last good", doGet(h, "/x", nil).Body.String())
	up.Close()
	tr.CloseIdleConnections()
	clk.Add(30 * time.Second)
	rec := doGet(h, "/x", nil)
	assert.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, "last good", rec.Body.String())
	assert.Contains(t, rec.Header().Get("Cache-Status"), "fwd-status=502")
	assert.Equal(t, "30", rec.Header().Get("Age"))
}
