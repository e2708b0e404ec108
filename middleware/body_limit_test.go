package middleware

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatewaykit/gateway/internal/problem"
)

func TestBodyLimit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		body          string
		contentLength int64 // -1: unknown (chunked)
		wantStatus    int
		wantCalled    bool
	}{
		{name: "no body", body: "", contentLength: 0, wantStatus: 200, wantCalled: true},
		{name: "under", body: "12345", contentLength: 5, wantStatus: 200, wantCalled: true},
		{name: "exact", body: "1234567890", contentLength: 10, wantStatus: 200, wantCalled: true},
		{name: "declared over", body: "12345678901", contentLength: 11, wantStatus: 413, wantCalled: false},
		{name: "chunked over", body: "12345678901", contentLength: -1, wantStatus: 413, wantCalled: true},
		{name: "chunked under", body: "123", contentLength: -1, wantStatus: 200, wantCalled: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			called := false
			// The handler reads like the proxy does and maps errors with problem.WriteError.
			h := BodyLimit(10)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				called = true
				if _, err := io.ReadAll(r.Body); err != nil {
					problem.WriteError(w, r, err)
					return
				}
				w.WriteHeader(http.StatusOK)
			}))
			req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(tt.body))
			req.ContentLength = tt.contentLength
			if tt.body == "" {
				req.Body = http.NoBody
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			assert.Equal(t, tt.wantStatus, rec.Code)
			assert.Equal(t, tt.wantCalled, called)
			if tt.wantStatus == 413 {
				assert.Equal(t, "application/problem+json", rec.Header().Get("Content-Type"))
				var p map[string]any
				require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &p))
				assert.Equal(t, float64(413), p["status"])
			}
			if !tt.wantCalled {
				assert.Equal(t, "close", rec.Header().Get("Connection"))
			}
		})
	}
}

func TestBodyLimitMaxBytesError(t *testing.T) {
	t.Parallel()
	var readErr error
	h := BodyLimit(4)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, readErr = io.ReadAll(r.Body)
	}))
	req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader("123456"))
	req.ContentLength = -1
	h.ServeHTTP(httptest.NewRecorder(), req)
	var mbe *http.MaxBytesError
	require.True(t, errors.As(readErr, &mbe), "got %v", readErr)
	assert.Equal(t, int64(4), mbe.Limit)
	assert.Equal(t, http.StatusRequestEntityTooLarge, problem.Status(readErr))
}

func TestBodyLimitRealServer(t *testing.T) {
	t.Parallel()
	h := BodyLimit(1024)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, err := io.Copy(io.Discard, r.Body)
		if err != nil {
			problem.WriteError(w, r, err)
			return
		}
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, strings.Repeat("x", int(n%10)))
	}))
	srv, client := newServer(t, h)
	for _, c := range []struct {
		name    string
		size    int
		chunked bool
		want    int
	}{
		{"small", 100, false, 200},
		{"big declared", 1 << 20, false, 413},
		{"big chunked", 1 << 20, true, 413},
	} {
		var body io.Reader = strings.NewReader(strings.Repeat("a", c.size))
		if c.chunked {
			body = io.MultiReader(body) // hides the length: chunked encoding
		}
		req, err := http.NewRequest(http.MethodPost, srv.URL, body)
		require.NoError(t, err)
		res, err := client.Do(req)
		if err != nil {
			// The server may close the connection while the client still
			// sends the refused body; that is the intended effect.
			assert.NotEqual(t, 200, c.want, "%s: %v", c.name, err)
			t.Logf("%s: %v", c.name, err)
			continue
		}
		_, _ = io.Copy(io.Discard, res.Body)
		_ = res.Body.Close()
		assert.Equal(t, c.want, res.StatusCode, c.name)
	}
}

func TestBodyLimitPanicsOnNonPositive(t *testing.T) {
	t.Parallel()
	assert.Panics(t, func() { BodyLimit(0) })
	assert.Panics(t, func() { BodyLimit(-1) })
}

func BenchmarkBodyLimit(b *testing.B) {
	h := BodyLimit(1 << 20)(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	w := &discardWriter{h: make(http.Header)}
	b.Run("no-body", func(b *testing.B) {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		b.ReportAllocs()
		for b.Loop() {
			h.ServeHTTP(w, req)
		}
	})
	b.Run("with-body", func(b *testing.B) {
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader("x"))
		b.ReportAllocs()
		for b.Loop() {
			h.ServeHTTP(w, req)
		}
	})
}
