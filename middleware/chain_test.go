package middleware

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatewaykit/gateway/internal/problem"
)

// TestChain runs every middleware together on a real server, in the
// recommended order, and checks that they compose: one shared reqinfo
// record, problem responses with the request ID, streaming through every
// ResponseWriter layer, and one access-log line per request.
func TestChain(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	mu := make(chan struct{}, 1)
	mu <- struct{}{}
	logger := slog.New(slog.NewJSONHandler(lockedWriter{&logs, mu}, nil))

	release := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /stream", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-ndjson")
		for i := range 2 {
			_, _ = io.WriteString(w, `{"n":`+strconv.Itoa(i)+"}\n")
			require.NoError(t, http.NewResponseController(w).Flush())
			<-release
		}
	})
	mux.HandleFunc("GET /panic", func(http.ResponseWriter, *http.Request) { panic("boom") })
	mux.HandleFunc("POST /echo", func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			problem.WriteError(w, r, err)
			return
		}
		_, _ = w.Write(b)
	})

	var h http.Handler = mux
	h = Compress(CompressConfig{})(h)
	h = Timeout(time.Minute)(h)
	h = Headers(HeaderRules{Response: HeaderOps{Set: http.Header{"X-Frame-Options": {"DENY"}}}})(h)
	h = IPFilter(IPFilterConfig{Deny: prefixes("198.51.100.0/24")})(h)
	h = CORS(CORSConfig{AllowedOrigins: []string{"https://app.example.com"}})(h)
	h = BodyLimit(1024)(h)
	h = AccessLog(logger)(h)
	h = NormalizePath(PathConfig{})(h)
	h = RealIP(RealIPConfig{TrustedProxies: prefixes("127.0.0.0/8", "::1/128")})(h)
	h = RequestID(h)
	h = Recover(logger)(h)
	srv, client := newServer(t, h)

	do := func(method, path string, body io.Reader, hdr map[string]string) *http.Response {
		t.Helper()
		req, err := http.NewRequest(method, srv.URL+path, body)
		require.NoError(t, err)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		res, err := client.Do(req)
		require.NoError(t, err)
		return res
	}
	problemOf := func(res *http.Response) map[string]any {
		t.Helper()
		defer res.Body.Close()
		assert.Equal(t, "application/problem+json", res.Header.Get("Content-Type"))
		var p map[string]any
		require.NoError(t, json.NewDecoder(res.Body).Decode(&p))
		assert.Equal(t, res.Header.Get("X-Request-ID"), p["request_id"], "problem carries the echoed request ID")
		return p
	}

	// 1. Streaming, compressed, through every layer.
	res := do(http.MethodGet, "/a/../stream", nil, map[string]string{"Accept-Encoding": "gzip", "Origin": "https://app.example.com"})
	require.Equal(t, 200, res.StatusCode)
	assert.Equal(t, "gzip", res.Header.Get("Content-Encoding"))
	assert.Equal(t, "DENY", res.Header.Get("X-Frame-Options"))
	assert.Equal(t, "https://app.example.com", res.Header.Get("Access-Control-Allow-Origin"))
	zr, err := gzip.NewReader(res.Body)
	require.NoError(t, err)
	lines := bufio.NewReader(zr)
	for i := range 2 {
		line, err := lines.ReadString('\n')
		require.NoError(t, err)
		assert.Equal(t, `{"n":`+strconv.Itoa(i)+"}\n", line)
		release <- struct{}{}
	}
	_, err = io.ReadAll(lines)
	require.NoError(t, err)
	_ = res.Body.Close()

	// 2. A panic behind a normalized path.
	res = do(http.MethodGet, "/x/%2e%2e/panic", nil, map[string]string{"X-Request-ID": "chain-1"})
	assert.Equal(t, 500, res.StatusCode)
	assert.Equal(t, "chain-1", problemOf(res)["request_id"])

	// 3. A body over the limit, streamed without a length.
	res = do(http.MethodPost, "/echo", io.MultiReader(strings.NewReader(strings.Repeat("a", 4096))), nil)
	assert.Equal(t, 413, res.StatusCode)
	problemOf(res)

	// 4. A denied client behind the trusted proxy.
	res = do(http.MethodGet, "/stream", nil, map[string]string{"X-Forwarded-For": "198.51.100.7"})
	assert.Equal(t, 403, res.StatusCode)
	problemOf(res)

	// 5. A path that climbs above the root.
	res = do(http.MethodGet, "/%2e%2e/etc/passwd", nil, nil)
	assert.Equal(t, 400, res.StatusCode)
	problemOf(res)

	// One access-log line per request that reached AccessLog (the 400 from
	// NormalizePath is answered outside it), plus the panic record.
	var statuses []float64
	clientIPs := map[string]bool{}
	dec := json.NewDecoder(bytes.NewReader(logs.Bytes()))
	for dec.More() {
		var m map[string]any
		require.NoError(t, dec.Decode(&m))
		if m["msg"] != "request" {
			assert.Equal(t, "panic serving request", m["msg"])
			assert.Equal(t, "chain-1", m["request_id"])
			continue
		}
		statuses = append(statuses, m["status"].(float64))
		assert.NotEmpty(t, m["request_id"])
		clientIPs[m["client_ip"].(string)] = true
	}
	assert.Equal(t, []float64{200, 500, 413, 403}, statuses)
	assert.True(t, clientIPs["198.51.100.7"], "RealIP result shared with AccessLog: %v", clientIPs)
}

// TestChainConcurrent sends concurrent requests through the whole chain on
// a real server, for the race detector: pools, compiled rules and shared
// records must not be raced on.
func TestChainConcurrent(t *testing.T) {
	t.Parallel()
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		_, _ = io.WriteString(w, strings.Repeat(`{"a":1}`, n))
	})
	var h http.Handler = mux
	h = Compress(CompressConfig{MinSize: 200})(h)
	h = Headers(HeaderRules{
		Request:  HeaderOps{Set: http.Header{"X-Env": {"prod"}}},
		Response: HeaderOps{Add: http.Header{"X-Served-By": {"gw"}}},
	})(h)
	h = CORS(CORSConfig{AllowedOrigins: []string{"*"}})(h)
	h = AccessLog(slog.New(slog.DiscardHandler))(h)
	h = NormalizePath(PathConfig{})(h)
	h = RealIP(RealIPConfig{})(h)
	h = RequestID(h)
	h = Recover(slog.New(slog.DiscardHandler))(h)
	srv, client := newServer(t, h)

	const workers, each = 8, 25
	errs := make(chan error, workers)
	for w := range workers {
		go func() {
			for i := range each {
				n := (w*each + i) % 80
				req, _ := http.NewRequest(http.MethodGet, srv.URL+"//x/./?n="+strconv.Itoa(n), nil)
				req.Header.Set("Accept-Encoding", "gzip")
				res, err := client.Do(req)
				if err != nil {
					errs <- err
					return
				}
				var body io.Reader = res.Body
				if res.Header.Get("Content-Encoding") == "gzip" {
					zr, err := gzip.NewReader(res.Body)
					if err != nil {
						errs <- err
						return
					}
					body = zr
				}
				b, err := io.ReadAll(body)
				_ = res.Body.Close()
				if err != nil {
					errs <- err
					return
				}
				if string(b) != strings.Repeat(`{"a":1}`, n) || len(res.Header.Values("X-Served-By")) != 1 {
					errs <- assert.AnError
					return
				}
			}
			errs <- nil
		}()
	}
	for range workers {
		require.NoError(t, <-errs)
	}
}
