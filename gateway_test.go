package gateway_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/gatewaykit/gateway"
	"github.com/gatewaykit/gateway/discovery"
	"github.com/gatewaykit/gateway/gatewaytest"
	"github.com/gatewaykit/gateway/upstream"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func newUpstream(t *testing.T, h http.Handler) (*gatewaytest.Upstream, *upstream.Upstream) {
	t.Helper()
	rec := gatewaytest.NewUpstream(t, h)
	u := upstream.New(upstream.Config{Name: "svc", Discovery: discovery.Static(rec.Addr())})
	t.Cleanup(u.CloseIdleConnections)
	return rec, u
}

func serve(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	t.Cleanup(srv.Client().CloseIdleConnections)
	return srv
}

func get(t *testing.T, c *http.Client, url string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(url)
	require.NoError(t, err, url)
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err, url)
	resp.Body.Close()
	return resp, string(b)
}

func TestGatewayProxiesAndSetsPathValues(t *testing.T) {
	t.Parallel()
	rec, u := newUpstream(t, nil)
	gw := gateway.New(gateway.Config{})
	var pattern, id string
	gw.Handle("GET /users/{id}", u, gateway.Public, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			pattern, id = r.Pattern, r.PathValue("id")
			next.ServeHTTP(w, r)
		})
	})
	srv := serve(t, gw)

	resp, body := get(t, srv.Client(), srv.URL+"/users/42?x=1;y=2")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "ok", body)
	assert.Equal(t, "GET /users/{id}", pattern)
	assert.Equal(t, "42", id)
	last := rec.Last(t)
	assert.Equal(t, "/users/42?x=1;y=2", last.RequestURI, "query passed unmodified")
	assert.NotEmpty(t, resp.Header.Get("X-Request-ID"), "request ID echoed")
	assert.Equal(t, resp.Header.Get("X-Request-ID"), last.Header.Get("X-Request-ID"), "request ID forwarded")
}

func TestGatewayErrorsAreProblems(t *testing.T) {
	t.Parallel()
	_, u := newUpstream(t, nil)
	gw := gateway.New(gateway.Config{})
	gw.Handle("GET /users/{id}", u, gateway.Public)
	gw.Handle("GET /private", u)
	srv := serve(t, gw)

	tests := []struct {
		name   string
		method string
		path   string
		status int
	}{
		{name: "unknown path", method: "GET", path: "/nowhere", status: http.StatusNotFound},
		{name: "wrong method", method: "DELETE", path: "/users/1", status: http.StatusMethodNotAllowed},
		{name: "route without auth config is protected", method: "GET", path: "/private", status: http.StatusUnauthorized},
		{name: "dot-dot escaping a route", method: "GET", path: "/users/..%2f..%2fprivate", status: http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, srv.URL+tt.path, nil)
			require.NoError(t, err)
			resp, err := srv.Client().Do(req)
			require.NoError(t, err)
			require.Equal(t, tt.status, resp.StatusCode, tt.path)
			id := resp.Header.Get("X-Request-ID")
			p := gatewaytest.ReadProblem(t, resp)
			assert.Equal(t, tt.status, p.Status)
			assert.NotEmpty(t, id)
			assert.Equal(t, id, p.RequestID, "problem carries the request ID")
			if tt.status == http.StatusMethodNotAllowed {
				assert.Contains(t, resp.Header.Get("Allow"), "GET")
			}
		})
	}
}

func TestAuthByDefault(t *testing.T) {
	t.Parallel()
	rec, u := newUpstream(t, nil)
	requireToken := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") != "Bearer good" {
				gateway.WriteProblem(w, r, http.StatusUnauthorized, "bad token")
				return
			}
			next.ServeHTTP(w, r)
		})
	}
	gw := gateway.New(gateway.Config{Auth: requireToken})
	gw.Handle("GET /open", u, gateway.Public)
	gw.Handle("GET /closed", u)
	gw.Route(gateway.Route{Pattern: "GET /alsoopen", Handler: u, Public: true})
	srv := serve(t, gw)

	tests := []struct {
		name   string
		path   string
		token  string
		status int
	}{
		{name: "public route without token", path: "/open", status: 200},
		{name: "public by field", path: "/alsoopen", status: 200},
		{name: "default-protected route without token", path: "/closed", status: 401},
		{name: "default-protected route with bad token", path: "/closed", token: "Bearer bad", status: 401},
		{name: "default-protected route with token", path: "/closed", token: "Bearer good", status: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := rec.Count()
			req, _ := http.NewRequest("GET", srv.URL+tt.path, nil)
			if tt.token != "" {
				req.Header.Set("Authorization", tt.token)
			}
			resp, err := srv.Client().Do(req)
			require.NoError(t, err)
			resp.Body.Close()
			assert.Equal(t, tt.status, resp.StatusCode)
			reached := rec.Count() > before
			assert.Equal(t, tt.status == 200, reached, "upstream reached only when admitted")
		})
	}
}

func TestRouteConflictIsReported(t *testing.T) {
	t.Parallel()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	gw := gateway.New(gateway.Config{})
	gw.Handle("GET /a/{x}", h, gateway.Public)
	gw.Handle("GET /a/{y}", h, gateway.Public)
	err := gw.Compile()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "/a/{")

	rec := httptest.NewRecorder()
	gw.ServeHTTP(rec, httptest.NewRequest("GET", "/a/1", nil))
	assert.Equal(t, http.StatusInternalServerError, rec.Code)

	require.Error(t, gw.Reload(nil, []gateway.Route{{Pattern: "GET /b/{x}", Handler: h}, {Pattern: "GET /b/{y}", Handler: h}}))
}

func TestHandlePanicsOnBadPattern(t *testing.T) {
	t.Parallel()
	gw := gateway.New(gateway.Config{})
	assert.Panics(t, func() { gw.Handle("GET /a/{", http.NotFoundHandler()) })
	assert.Panics(t, func() { gw.Handle("GET /a", nil) })
}

// TestReloadUnderLoad swaps the route table repeatedly while clients send
// requests: every request succeeds, and both generations answer.
func TestReloadUnderLoad(t *testing.T) {
	t.Parallel()
	_, ua := newUpstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "A") }))
	_, ub := newUpstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "B") }))
	routesFor := func(u http.Handler) []gateway.Route {
		return []gateway.Route{{Pattern: "GET /svc/{id}", Handler: u, Public: true}}
	}
	gw := gateway.New(gateway.Config{})
	require.NoError(t, gw.Reload(nil, routesFor(ua)))
	srv := serve(t, gw)

	const clients, perClient = 8, 150
	var failed, seenA, seenB atomic.Int64
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			for i := range perClient {
				resp, err := srv.Client().Get(fmt.Sprintf("%s/svc/%d-%d", srv.URL, c, i))
				if err != nil {
					failed.Add(1)
					continue
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				switch {
				case resp.StatusCode != 200:
					failed.Add(1)
				case string(b) == "A":
					seenA.Add(1)
				case string(b) == "B":
					seenB.Add(1)
				default:
					failed.Add(1)
				}
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	reloads := 0
	for gen := 0; ; gen++ {
		select {
		case <-done:
			require.Zero(t, failed.Load(), "failed requests during %d reloads", reloads)
			assert.Equal(t, int64(clients*perClient), seenA.Load()+seenB.Load())
			assert.Positive(t, reloads)
			return
		default:
		}
		u := ua
		if gen%2 == 1 {
			u = ub
		}
		require.NoError(t, gw.Reload(nil, routesFor(u)))
		reloads++
		runtime.Gosched()
	}
}

// TestStreamFinishesOnOldTable opens an SSE stream, reloads to a table where
// the route no longer exists, and reads the stream to its end.
func TestStreamFinishesOnOldTable(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	started := make(chan struct{})
	_, u := newUpstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: one\n\n")
		http.NewResponseController(w).Flush()
		close(started)
		<-release
		io.WriteString(w, "data: two\n\n")
	}))
	gw := gateway.New(gateway.Config{})
	gw.Handle("GET /events", u, gateway.Public)
	srv := serve(t, gw)

	resp, err := srv.Client().Get(srv.URL + "/events")
	require.NoError(t, err)
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	line, err := br.ReadString('\n')
	require.NoError(t, err)
	assert.Equal(t, "data: one\n", line, "first event flushed before the upstream finished")
	<-started

	require.NoError(t, gw.Reload(nil, nil))
	resp404, _ := get(t, srv.Client(), srv.URL+"/events")
	assert.Equal(t, http.StatusNotFound, resp404.StatusCode, "new requests see the new table")

	close(release)
	rest, err := io.ReadAll(br)
	require.NoError(t, err)
	assert.Equal(t, "\ndata: two\n\n", string(rest), "the open stream finished on the old table")
}

func TestServeGracefulShutdown(t *testing.T) {
	t.Parallel()
	inFlight := make(chan struct{})
	release := make(chan struct{})
	_, u := newUpstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(inFlight)
		<-release
		io.WriteString(w, "finished")
	}))
	gw := gateway.New(gateway.Config{})
	gw.Handle("GET /slow", u, gateway.Public)
	gw.Handle("GET /readyz", gw.Readiness(), gateway.Public)
	gw.Handle("GET /healthz", gw.Liveness(), gateway.Public)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- gw.Serve(ctx, ln) }()
	base := "http://" + ln.Addr().String()
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()

	waitReady(t, gw)
	resp, _ := get(t, client, base+"/readyz")
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	resp, _ = get(t, client, base+"/healthz")
	assert.Equal(t, http.StatusOK, resp.StatusCode)

	result := make(chan string, 1)
	go func() {
		resp, err := client.Get(base + "/slow")
		if err != nil {
			result <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		result <- fmt.Sprint(resp.StatusCode, " ", string(b))
	}()
	<-inFlight
	cancel()
	for gw.Ready() {
		// Serve marks the gateway not ready as its first shutdown step.
		runtime.Gosched()
	}
	rec := httptest.NewRecorder()
	gw.Readiness().ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
	assert.Equal(t, http.StatusServiceUnavailable, rec.Code, "readiness fails while draining")

	close(release)
	assert.Equal(t, "200 finished", <-result, "in-flight request drained")
	require.NoError(t, <-served, "clean shutdown returns nil")

	_, err = net.DialTimeout("tcp", ln.Addr().String(), time.Second)
	assert.Error(t, err, "listener closed after shutdown")
}

func TestServeDrainDeadline(t *testing.T) {
	t.Parallel()
	inFlight := make(chan struct{})
	release := make(chan struct{})
	defer close(release)
	_, u := newUpstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(inFlight)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	gw := gateway.New(gateway.Config{ShutdownTimeout: 20 * time.Millisecond})
	gw.Handle("GET /hang", u, gateway.Public)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- gw.Serve(ctx, ln) }()
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	waitReady(t, gw)
	go func() {
		resp, err := client.Get("http://" + ln.Addr().String() + "/hang")
		if err == nil {
			resp.Body.Close()
		}
	}()
	<-inFlight
	cancel()
	err = <-served
	require.Error(t, err, "a drain that misses its deadline is not clean")
	assert.Contains(t, err.Error(), "drain")
}

func TestBadRequestsFromTheWire(t *testing.T) {
	t.Parallel()
	_, u := newUpstream(t, nil)
	gw := gateway.New(gateway.Config{MaxHeaderBytes: 4 << 10})
	gw.Handle("/", u, gateway.Public)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- gw.Serve(ctx, ln) }()
	defer func() { cancel(); require.NoError(t, <-served) }()
	waitReady(t, gw)

	tests := []struct {
		name   string
		raw    string
		status int
	}{
		{name: "malformed request line", raw: "GET\r\n\r\n", status: 400},
		{name: "malformed header", raw: "GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n", status: 400},
		{name: "headers over the limit", raw: "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 16<<10) + "\r\n\r\n", status: 431},
		{name: "body over the limit", raw: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\n\r\n", status: 413},
		{name: "encoded slash", raw: "GET /a%2Fb HTTP/1.1\r\nHost: x\r\n\r\n", status: 400},
		{name: "well formed", raw: "GET /ok HTTP/1.1\r\nHost: x\r\n\r\n", status: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := net.Dial("tcp", ln.Addr().String())
			require.NoError(t, err)
			defer c.Close()
			_, err = io.WriteString(c, tt.raw)
			require.NoError(t, err)
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			require.NoError(t, err)
			resp.Body.Close()
			assert.Equal(t, tt.status, resp.StatusCode)
		})
	}
}

func waitReady(t *testing.T, gw *gateway.Gateway) {
	t.Helper()
	for !gw.Ready() {
		runtime.Gosched()
	}
}

func TestAccessLogNamesRouteAndUpstream(t *testing.T) {
	t.Parallel()
	rec, u := newUpstream(t, nil)
	var buf safeBuffer
	logger := slog.New(slog.NewJSONHandler(&buf, nil))
	gw := gateway.New(gateway.Config{Logger: logger, AccessLog: true})
	gw.Route(gateway.Route{Pattern: "GET /users/{id}", Handler: u, Public: true, Name: "users-get"})
	srv := serve(t, gw)
	resp, _ := get(t, srv.Client(), srv.URL+"/users/7?secret=x")
	require.Equal(t, http.StatusOK, resp.StatusCode)

	// The access log line is written when the handler returns, which may
	// be just after the client has the whole response.
	for len(buf.Bytes()) == 0 {
		runtime.Gosched()
	}
	var line map[string]any
	require.NoError(t, json.Unmarshal(buf.Bytes(), &line), buf.String())
	assert.Equal(t, "users-get", line["route"])
	assert.Equal(t, rec.Addr(), line["upstream"])
	assert.Equal(t, "/users/7", line["path"])
	assert.EqualValues(t, 200, line["status"])
	assert.Equal(t, resp.Header.Get("X-Request-ID"), line["request_id"])
	assert.NotContains(t, buf.String(), "secret", "query strings are not logged")
}

// safeBuffer is a bytes.Buffer safe for the server goroutine to write while
// the test reads after the response.
type safeBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *safeBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *safeBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]byte(nil), b.buf.Bytes()...)
}

func (b *safeBuffer) String() string { return string(b.Bytes()) }
