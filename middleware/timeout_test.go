package middleware

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatewaykit/gateway/internal/problem"
)

func TestTimeout(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		handler    http.HandlerFunc
		header     map[string]string
		wantStatus int
		wantBody   string
	}{
		{
			name: "fast handler untouched",
			handler: func(w http.ResponseWriter, r *http.Request) {
				time.Sleep(time.Second)
				_, _ = io.WriteString(w, "ok")
			},
			wantStatus: 200, wantBody: "ok",
		},
		{
			name: "ctx-aware handler writes its own 504",
			handler: func(w http.ResponseWriter, r *http.Request) {
				<-r.Context().Done()
				problem.WriteError(w, r, r.Context().Err())
			},
			wantStatus: 504,
		},
		{
			name: "handler returns silently after deadline",
			handler: func(w http.ResponseWriter, r *http.Request) {
				<-r.Context().Done()
			},
			wantStatus: 504,
		},
		{
			name: "response started before deadline is kept",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusOK)
				_, _ = io.WriteString(w, "partial")
				<-r.Context().Done()
			},
			wantStatus: 200, wantBody: "partial",
		},
		{
			name:   "websocket upgrade exempt",
			header: map[string]string{"Connection": "keep-alive, Upgrade", "Upgrade": "websocket"},
			handler: func(w http.ResponseWriter, r *http.Request) {
				_, ok := r.Context().Deadline()
				assert.False(t, ok, "no deadline for upgrades")
				time.Sleep(time.Hour)
				w.WriteHeader(http.StatusSwitchingProtocols)
			},
			wantStatus: 101,
		},
		{
			name:   "sse exempt",
			header: map[string]string{"Accept": "Text/Event-Stream"},
			handler: func(w http.ResponseWriter, r *http.Request) {
				_, ok := r.Context().Deadline()
				assert.False(t, ok, "no deadline for event streams")
				time.Sleep(time.Hour)
				_, _ = io.WriteString(w, "data: x\n\n")
			},
			wantStatus: 200, wantBody: "data: x\n\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				h := Timeout(10 * time.Second)(tt.handler)
				req := httptest.NewRequest(http.MethodGet, "/", nil)
				for k, v := range tt.header {
					req.Header.Set(k, v)
				}
				rec := httptest.NewRecorder()
				start := time.Now()
				h.ServeHTTP(rec, req)
				assert.Equal(t, tt.wantStatus, rec.Code)
				if tt.wantBody != "" {
					assert.Equal(t, tt.wantBody, rec.Body.String())
				}
				if tt.wantStatus == 504 {
					assert.Equal(t, 10*time.Second, time.Since(start), "answered at the deadline")
					var p map[string]any
					require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &p))
					assert.Equal(t, float64(504), p["status"])
				}
			})
		})
	}
}

func TestTimeoutParentDeadlineWins(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		var got time.Time
		h := Timeout(time.Minute)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			got, _ = r.Context().Deadline()
		}))
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil).WithContext(ctx))
		assert.Equal(t, time.Now().Add(time.Second), got)
	})
}

func TestTimeoutClientGoneWritesNothing(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		h := Timeout(time.Minute)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			cancel()
			<-r.Context().Done()
		}))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil).WithContext(ctx))
		assert.False(t, rec.Flushed)
		assert.Empty(t, rec.Body.String(), "no 504 for a client that went away")
	})
}

// TestTimeoutStreamingFlush checks that Flush still reaches the client
// through Timeout on a real server (http.TimeoutHandler would buffer).
func TestTimeoutStreamingFlush(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	h := Timeout(time.Minute)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "first\n")
		require.NoError(t, http.NewResponseController(w).Flush())
		<-release
		_, _ = io.WriteString(w, "second\n")
	}))
	srv, client := newServer(t, h)
	res, err := client.Get(srv.URL)
	require.NoError(t, err)
	defer res.Body.Close()
	buf := make([]byte, 6)
	_, err = io.ReadFull(res.Body, buf)
	require.NoError(t, err)
	assert.Equal(t, "first\n", string(buf), "first chunk arrives while the handler still runs")
	close(release)
	rest, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	assert.Equal(t, "second\n", string(rest))
}

func TestTimeoutPanicsOnNonPositive(t *testing.T) {
	t.Parallel()
	assert.Panics(t, func() { Timeout(0) })
}

func BenchmarkTimeout(b *testing.B) {
	h := Timeout(time.Second)(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	w := &discardWriter{h: make(http.Header)}
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(w, req)
	}
}
