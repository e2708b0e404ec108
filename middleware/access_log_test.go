package middleware

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatewaykit/gateway/internal/reqinfo"
)

func decodeOne(t *testing.T, buf *bytes.Buffer) map[string]any {
	t.Helper()
	var m map[string]any
	dec := json.NewDecoder(buf)
	require.NoError(t, dec.Decode(&m), "log: %s", buf.String())
	require.False(t, dec.More(), "exactly one record")
	return m
}

func TestAccessLogRecord(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, info := reqinfo.Ensure(r)
		info.UpstreamAddr = "10.0.0.7:8080"
		info.Route = "GET /users/{id}"
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte("hello"))
	})
	h := RequestID(RealIP(RealIPConfig{})(AccessLog(jsonLogger(&logs))(inner)))
	req := httptest.NewRequest(http.MethodGet, "/users/7?api_key=secret", nil)
	req.RemoteAddr = "192.0.2.9:5555"
	req.Header.Set("User-Agent", "curl/8")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)

	m := decodeOne(t, &logs)
	assert.Equal(t, "request", m["msg"])
	assert.Equal(t, "INFO", m["level"])
	assert.Equal(t, "GET", m["method"])
	assert.Equal(t, "/users/7", m["path"], "no query")
	assert.NotContains(t, logs.String(), "secret")
	assert.Equal(t, float64(201), m["status"])
	assert.Equal(t, float64(5), m["bytes"])
	assert.Contains(t, m, "duration")
	assert.Equal(t, "10.0.0.7:8080", m["upstream"])
	assert.Equal(t, rec.Header().Get("X-Request-ID"), m["request_id"])
	assert.Equal(t, "192.0.2.9", m["client_ip"])
	assert.Equal(t, "GET /users/{id}", m["route"])
	assert.Equal(t, "curl/8", m["user_agent"])
}

func TestAccessLogLevelsAndStatuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		handler   http.HandlerFunc
		cancel    bool
		wantLevel string
		wantCode  float64
	}{
		{name: "implicit 200", handler: func(http.ResponseWriter, *http.Request) {}, wantLevel: "INFO", wantCode: 200},
		{name: "404", handler: func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) }, wantLevel: "INFO", wantCode: 404},
		{name: "502 is error", handler: func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(502) }, wantLevel: "ERROR", wantCode: 502},
		{name: "client gone", handler: func(http.ResponseWriter, *http.Request) {}, cancel: true, wantLevel: "INFO", wantCode: 499},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var logs bytes.Buffer
			h := AccessLog(jsonLogger(&logs))(tt.handler)
			req := httptest.NewRequest(http.MethodGet, "/x", nil)
			if tt.cancel {
				ctx, cancel := context.WithCancel(req.Context())
				cancel()
				req = req.WithContext(ctx)
			}
			h.ServeHTTP(httptest.NewRecorder(), req)
			m := decodeOne(t, &logs)
			assert.Equal(t, tt.wantLevel, m["level"])
			assert.Equal(t, tt.wantCode, m["status"])
		})
	}
}

func TestAccessLogPanicLoggedAs500(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	h := Recover(slog.New(slog.DiscardHandler))(AccessLog(jsonLogger(&logs))(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		panic("x")
	})))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	m := decodeOne(t, &logs)
	assert.Equal(t, float64(500), m["status"])
	assert.Equal(t, "ERROR", m["level"])
	assert.Equal(t, 500, rec.Code)
}

func TestAccessLogRoutePatternFallback(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	mux := http.NewServeMux()
	mux.HandleFunc("GET /items/{id}", func(http.ResponseWriter, *http.Request) {})
	h := AccessLog(jsonLogger(&logs))(mux)
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/items/3", nil))
	m := decodeOne(t, &logs)
	assert.Equal(t, "GET /items/{id}", m["route"], "r.Pattern set by ServeMux on the same request")
}

func TestAccessLogDisabled(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelError + 1}))
	called := false
	h := AccessLog(logger)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		called = true
		_, isWrapped := w.(interface{ Unwrap() http.ResponseWriter })
		assert.False(t, isWrapped, "no wrapper when the logger is off")
		w.WriteHeader(500)
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
	assert.True(t, called)
	assert.Empty(t, logs.String())
}

func TestAccessLogErrorsOnlyLogger(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ok := AccessLog(logger)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	bad := AccessLog(logger)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) }))
	ok.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
	assert.Empty(t, logs.String(), "2xx below the logger's level")
	bad.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
	m := decodeOne(t, &logs)
	assert.Equal(t, float64(503), m["status"])
}

func TestAccessLogClientIPFromReqinfo(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	h := AccessLog(jsonLogger(&logs))(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	req, info := reqinfo.Ensure(httptest.NewRequest(http.MethodGet, "/", nil))
	info.ClientIP = netip.MustParseAddr("2001:db8::1")
	h.ServeHTTP(httptest.NewRecorder(), req)
	assert.Equal(t, "2001:db8::1", decodeOne(t, &logs)["client_ip"])
}

func BenchmarkAccessLog(b *testing.B) {
	run := func(b *testing.B, logger *slog.Logger) {
		h := AccessLog(logger)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte("ok"))
		}))
		req, info := reqinfo.Ensure(httptest.NewRequest(http.MethodGet, "/users/7", nil))
		info.RequestID = "0f8fad5b-d9cb-469f-a165-70867728950e"
		info.UpstreamAddr = "10.0.0.7:8080"
		info.ClientIP = netip.MustParseAddr("192.0.2.1")
		w := &discardWriter{h: make(http.Header)}
		b.ReportAllocs()
		for b.Loop() {
			h.ServeHTTP(w, req)
		}
	}
	b.Run("json", func(b *testing.B) { run(b, slog.New(slog.NewJSONHandler(discard{}, nil))) })
	b.Run("disabled", func(b *testing.B) { run(b, slog.New(slog.DiscardHandler)) })
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
