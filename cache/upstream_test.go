package cache

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRevalidationAgainstRealUpstream runs the cache in a real server in
// front of a reverse proxy to a real upstream that counts its requests and
// answers 304 to the cache's conditional requests.
func TestRevalidationAgainstRealUpstream(t *testing.T) {
	t.Parallel()
	var full, notModified atomic.Int64
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=10")
		w.Header().Set("ETag", `"v1"`)
		if r.Header.Get("If-None-Match") == `"v1"` {
			notModified.Add(1)
			w.WriteHeader(http.StatusNotModified)
			return
		}
		full.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"catalog":["a","b"]}`)
	}))
	defer up.Close()
	target, err := url.Parse(up.URL)
	require.NoError(t, err)
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	proxy := &httputil.ReverseProxy{
		Rewrite:   func(pr *httputil.ProxyRequest) { pr.SetURL(target) },
		Transport: tr,
	}
	clk := newClock()
	c := New(Config{Now: clk.Now, Store: NewMemory(1 << 20)})
	front := httptest.NewServer(c.Handler(proxy))
	defer front.Close()
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()

	get := func(h http.Header) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, front.URL+"/catalog", nil)
		require.NoError(t, err)
		for k, v := range h {
			req.Header[k] = v
		}
		res, err := client.Do(req)
		require.NoError(t, err)
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		require.NoError(t, err)
		return res, string(b)
	}

	res, body := get(nil)
	assert.Equal(t, `{"catalog":["a","b"]}`, body)
	assert.Contains(t, res.Header.Get("Cache-Status"), "fwd=uri-miss; stored")

	clk.Add(4 * time.Second)
	res, body = get(nil)
	assert.Equal(t, `{"catalog":["a","b"]}`, body)
	assert.Equal(t, "4", res.Header.Get("Age"))
	assert.Equal(t, "gatewaykit; hit; ttl=6", res.Header.Get("Cache-Status"))
	assert.Equal(t, "application/json", res.Header.Get("Content-Type"))

	clk.Add(10 * time.Second)
	res, body = get(nil)
	assert.Equal(t, http.StatusOK, res.StatusCode)
	assert.Equal(t, `{"catalog":["a","b"]}`, body, "a 304 upstream gives the client the stored body")
	assert.Contains(t, res.Header.Get("Cache-Status"), "fwd=stale; fwd-status=304")

	res, _ = get(http.Header{"If-None-Match": {`"v1"`}})
	assert.Equal(t, http.StatusNotModified, res.StatusCode, "the client's own condition is answered from the cache")

	assert.Equal(t, int64(1), full.Load(), "one full response from upstream")
	assert.Equal(t, int64(1), notModified.Load(), "one revalidation")
	st := c.Stats()
	assert.Equal(t, Stats{Hits: 2, Misses: 1, Revalidated: 1, Stored: 2}, st)
}
