package redislimit

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatewaykit/gateway/ratelimit"
)

// TestRedisStoppedAndRestarted kills the real redis-server mid-run and
// starts it again: behaviour follows the configured failure mode, the
// breaker stops calling Redis after FailureThreshold failures (no
// per-request cost while it is down), and counting resumes in Redis after
// the cooldown once it is back.
func TestRedisStoppedAndRestarted(t *testing.T) {
	t.Parallel()
	limits := []ratelimit.Limit{ratelimit.PerMinute(10)}
	tests := []struct {
		name     string
		fallback bool
		failure  ratelimit.FailureMode
		// statuses while Redis is down, for 6 requests
		wantDown []int
	}{
		{name: "fallback to local", fallback: true, wantDown: []int{200, 200, 200, 429, 429, 429}},
		{name: "fail open", failure: ratelimit.FailOpen, wantDown: []int{200, 200, 200, 200, 200, 200}},
		{name: "fail closed", failure: ratelimit.FailClosed, wantDown: []int{503, 503, 503, 503, 503, 503}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := startRedis(t)
			rdb := srv.client(t)
			var calls callCounter
			rdb.AddHook(&calls)
			clock := newFakeClock()
			var mu sync.Mutex
			var transitions []string
			cfg := Config{
				Client: rdb, Limits: limits, Timeout: testTimeout, FailureThreshold: 2, Cooldown: 5 * time.Second, Now: clock.Now,
				OnStateChange: func(from, to State) {
					mu.Lock()
					transitions = append(transitions, from.String()+">"+to.String())
					mu.Unlock()
				},
			}
			if tt.fallback {
				cfg.Fallback = ratelimit.NewLocal(ratelimit.LocalConfig{Limits: []ratelimit.Limit{ratelimit.PerMinute(3)}})
			}
			lim := New(cfg)
			p := ratelimit.New(ratelimit.Config{Name: "demo", Limiters: []ratelimit.Limiter{lim}, Failure: tt.failure, Key: ratelimit.Const("k")})
			h := p.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
			get := func() *httptest.ResponseRecorder {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, httptest.NewRequest("GET", "/demo", nil))
				return w
			}

			w := get()
			require.Equal(t, http.StatusOK, w.Code)
			assert.Equal(t, `"demo";r=9;t=6`, w.Header().Get("RateLimit"), "counted in Redis")

			srv.stop()
			var codes []int
			for i := range 6 {
				before := calls.n.Load()
				w := get()
				codes = append(codes, w.Code)
				if i >= 2 {
					assert.Equal(t, before, calls.n.Load(), "request %d: the open breaker does not call Redis", i)
				}
			}
			assert.Equal(t, tt.wantDown, codes, "statuses while Redis is down")
			assert.Equal(t, Open, lim.State())

			srv.start() // same port, empty (no persistence)
			before := calls.n.Load()
			get()
			assert.Equal(t, before, calls.n.Load(), "still open within the cooldown")

			// After the cooldown one probe goes to Redis. A pooled
			// connection to the dead server may fail the first probe;
			// a later one succeeds.
			for range 3 {
				clock.Advance(6 * time.Second)
				w = get()
				if lim.State() == Closed {
					break
				}
			}
			require.Equal(t, Closed, lim.State(), "the breaker closes once Redis answers")
			require.Equal(t, http.StatusOK, w.Code)
			assert.Equal(t, `"demo";r=9;t=6`, w.Header().Get("RateLimit"), "counting resumed in the restarted Redis")
			w = get()
			assert.Equal(t, `"demo";r=8;t=12`, w.Header().Get("RateLimit"))
			mu.Lock()
			defer mu.Unlock()
			assert.Contains(t, transitions, "closed>open")
			assert.Contains(t, transitions, "half-open>closed")
		})
	}
}
