package redislimit_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/redis/go-redis/v9"

	"github.com/gatewaykit/gateway/ratelimit"
	"github.com/gatewaykit/gateway/ratelimit/redislimit"
)

// A limit shared by every gateway instance through Redis, with a local
// fallback. Here Redis is unreachable (nothing listens on port 1), so after
// FailureThreshold failed calls the breaker opens and the local fallback
// decides alone: 3 per minute on this instance.
func Example() {
	rdb := redis.NewUniversalClient(&redis.UniversalOptions{
		Addrs:                 []string{"127.0.0.1:1"},
		MaxRetries:            -1, // go-redis: no retries; the breaker handles failures
		ContextTimeoutEnabled: true,
	})
	defer rdb.Close()
	limits := []ratelimit.Limit{ratelimit.PerMinute(3)}
	shared := redislimit.New(redislimit.Config{
		Client:           rdb,
		Limits:           limits,
		FailureThreshold: 2,
		Fallback:         ratelimit.NewLocal(ratelimit.LocalConfig{Limits: limits}),
	})
	demo := ratelimit.New(ratelimit.Config{
		Name:     "demo",
		Scope:    ratelimit.ScopeService,
		Limiters: []ratelimit.Limiter{shared},
		Key:      ratelimit.ClientIP,
	})
	h := demo.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	for range 4 {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", "/demo", nil))
		fmt.Println(w.Code, w.Header().Get("RateLimit"), shared.State())
	}
	// Output:
	// 200 "demo";r=2;t=20 closed
	// 200 "demo";r=1;t=40 open
	// 200 "demo";r=0;t=60 open
	// 429 "demo";r=0;t=60 open
}

// Without a fallback, a Redis failure is an error wrapping
// ratelimit.ErrUnavailable, and the Policy's FailureMode decides.
func ExampleLimiter_Allow() {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, ContextTimeoutEnabled: true})
	defer rdb.Close()
	l := redislimit.New(redislimit.Config{Client: rdb, Limits: []ratelimit.Limit{ratelimit.PerSecond(10)}, FailureThreshold: 1})
	_, err := l.Allow(context.Background(), "alice", 1)
	fmt.Println(errors.Is(err, ratelimit.ErrUnavailable), errors.Is(err, redislimit.ErrRedis), l.State())
	_, err = l.Allow(context.Background(), "alice", 1)
	fmt.Println(errors.Is(err, ratelimit.ErrUnavailable), errors.Is(err, redislimit.ErrOpen))
	// Output:
	// true true open
	// true true
}
