package redislimit

import (
	"context"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gatewaykit/gateway/ratelimit"
)

// BenchmarkRedisDecision compares one decision against a local
// redis-server: the GCRA and sliding-window scripts (one round trip, all
// windows), high-rate mode (lease 100), and a naive fixed window (INCR then
// EXPIRE, pipelined into one round trip) in the same run. It reports the
// p50/p99 latency of a decision and decisions per second; the parallelism
// sub-benchmarks run 1 and 16 goroutines per GOMAXPROCS.
func BenchmarkRedisDecision(b *testing.B) {
	srv := startRedis(b)
	rdb := srv.client(b)
	limits := []ratelimit.Limit{ratelimit.PerSecond(1e6)}
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = "bench-client-" + strconv.Itoa(i)
	}
	naive := func(ctx context.Context, key string) error {
		pipe := rdb.Pipeline()
		incr := pipe.Incr(ctx, "naive:"+key)
		pipe.Expire(ctx, "naive:"+key, time.Minute)
		if _, err := pipe.Exec(ctx); err != nil {
			return err
		}
		_ = incr.Val() <= 1e9
		return nil
	}
	variants := []struct {
		name   string
		decide func(ctx context.Context, key string) error
	}{
		{"gcra", limiterFunc(New(Config{Client: rdb, Timeout: time.Second, Limits: limits, Prefix: "bg:"}))},
		{"gcra-3-windows", limiterFunc(New(Config{Client: rdb, Timeout: time.Second, Prefix: "bg3:", Limits: []ratelimit.Limit{
			ratelimit.PerSecond(1e6), ratelimit.PerHour(1e9), ratelimit.PerDay(1e10)}}))},
		{"sliding-window", limiterFunc(New(Config{Client: rdb, Timeout: time.Second, Limits: limits, Algorithm: SlidingWindow, Prefix: "bs:"}))},
		{"gcra-lease-100", limiterFunc(New(Config{Client: rdb, Timeout: time.Second, Limits: limits, Lease: 100, Prefix: "bl:"}))},
		{"naive-incr-expire", naive},
	}
	for _, par := range []int{1, 16} {
		for _, v := range variants {
			b.Run(v.name+"/par="+strconv.Itoa(par), func(b *testing.B) {
				ctx := context.Background()
				var mu sync.Mutex
				var lat []time.Duration
				var gid atomic.Int64
				b.SetParallelism(par)
				b.ReportAllocs()
				start := time.Now()
				b.RunParallel(func(pb *testing.PB) {
					g := int(gid.Add(1))
					local := make([]time.Duration, 0, 1024)
					i := g * 7
					for pb.Next() {
						t0 := time.Now()
						if err := v.decide(ctx, keys[i&1023]); err != nil {
							b.Error(err)
							return
						}
						local = append(local, time.Since(t0))
						i++
					}
					mu.Lock()
					lat = append(lat, local...)
					mu.Unlock()
				})
				elapsed := time.Since(start)
				slices.Sort(lat)
				if len(lat) > 0 {
					b.ReportMetric(float64(lat[len(lat)/2])/1e3, "p50-µs")
					b.ReportMetric(float64(lat[len(lat)*99/100])/1e3, "p99-µs")
					b.ReportMetric(float64(len(lat))/elapsed.Seconds(), "decisions/s")
				}
			})
		}
	}
}

func limiterFunc(l *Limiter) func(ctx context.Context, key string) error {
	return func(ctx context.Context, key string) error {
		d, err := l.Allow(ctx, key, 1)
		if err == nil && !d.Allowed {
			panic("benchmark limit too low")
		}
		return err
	}
}

// BenchmarkBreakerOpen is the cost of a decision while Redis is down and
// the breaker is open: no network, straight to the fallback.
func BenchmarkBreakerOpen(b *testing.B) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, ContextTimeoutEnabled: true})
	b.Cleanup(func() { _ = rdb.Close() })
	limits := []ratelimit.Limit{ratelimit.PerSecond(1e6)}
	l := New(Config{Client: rdb, Limits: limits, FailureThreshold: 1, Cooldown: time.Hour,
		Fallback: ratelimit.NewLocal(ratelimit.LocalConfig{Limits: limits})})
	ctx := context.Background()
	_, _ = l.Allow(ctx, "k", 1) // fails, opens the breaker
	if l.State() != Open {
		b.Fatal("breaker not open")
	}
	b.ReportAllocs()
	for b.Loop() {
		_, _ = l.Allow(ctx, "k", 1)
	}
}
