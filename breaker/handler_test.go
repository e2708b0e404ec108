package breaker

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestHandler(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		cfg      Config
		statuses []int
		want     []int
		state    State
	}{
		{"5xx open the circuit", Config{Failures: 2, Cooldown: 5 * time.Second}, []int{502, 504, 200}, []int{502, 504, 503}, Open},
		{"4xx are no failures", Config{Failures: 2}, []int{404, 400, 200}, []int{404, 400, 200}, Closed},
		{"custom IsFailure", Config{Failures: 1, IsFailure: func(res *http.Response, err error) bool { return res.StatusCode == 429 }},
			[]int{503, 429, 200}, []int{503, 429, 503}, Open},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b, _ := newFake(tt.cfg)
			i := 0
			h := b.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tt.statuses[i])
			}))
			var got []int
			for i = range tt.statuses {
				rec := serve(h, "GET", "/")
				got = append(got, rec.Code)
				if rec.Code == 503 && tt.statuses[i] != 503 {
					assert.Equal(t, "application/problem+json", rec.Header().Get("Content-Type"))
					assert.NotEmpty(t, rec.Header().Get("Retry-After"))
				}
			}
			assert.Equal(t, tt.want, got)
			assert.Equal(t, tt.state, b.State())
		})
	}
}

func TestHandlerFallbackAndPanic(t *testing.T) {
	t.Parallel()
	b, _ := newFake(Config{Failures: 1, FallbackHandler: NewStatic(http.StatusOK, nil, []byte("cached"))})
	h := b.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { panic("boom") }))
	assert.Panics(t, func() { serve(h, "GET", "/") })
	assert.Equal(t, Open, b.State(), "a panic is a failure")
	rec := serve(h, "GET", "/")
	assert.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, "cached", rec.Body.String())
}

// Hijacking works through Handler, and upgrades skip the bulkhead.
func TestHandlerUpgrade(t *testing.T) {
	t.Parallel()
	b := New(Config{Bulkhead: BulkheadConfig{MaxConcurrent: 1}, Deadline: time.Nanosecond})
	h := b.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		defer conn.Close()
		_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: x\r\n\r\nhello\n")
		_ = brw.Flush()
	}))
	front := httptest.NewServer(h)
	t.Cleanup(front.Close)
	c, err := net.Dial("tcp", front.Listener.Addr().String())
	require.NoError(t, err)
	defer c.Close()
	_, err = io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: x\r\n\r\n")
	require.NoError(t, err)
	br := bufio.NewReader(c)
	res, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
	assert.Equal(t, http.StatusSwitchingProtocols, res.StatusCode)
	line, err := br.ReadString('\n')
	require.NoError(t, err)
	assert.Equal(t, "hello\n", line)
}
