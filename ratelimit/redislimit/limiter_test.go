package redislimit

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatewaykit/gateway/ratelimit"
)

var bg = context.Background()

// fakeClock is an injected clock for the breaker and leases; decisions use
// the Redis server's clock regardless.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	return c
}
func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// callCounter is a go-redis hook counting commands that reach the network.
type callCounter struct{ n atomic.Int64 }

func (c *callCounter) DialHook(next redis.DialHook) redis.DialHook { return next }
func (c *callCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.n.Add(1)
		return next(ctx, cmd)
	}
}
func (c *callCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		c.n.Add(int64(len(cmds)))
		return next(ctx, cmds)
	}
}

func TestDecisions(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	rdb := srv.client(t)
	tests := []struct {
		name string
		algo Algorithm
	}{
		{name: "gcra", algo: GCRA},
		{name: "sliding window", algo: SlidingWindow},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			l := New(Config{Client: rdb, Timeout: testTimeout, Algorithm: tt.algo, Prefix: "t-" + tt.algo.String() + ":", Limits: []ratelimit.Limit{ratelimit.PerHour(3)}})
			for i := range 3 {
				d, err := l.Allow(bg, "alice", 1)
				require.NoError(t, err)
				assert.True(t, d.Allowed, "request %d", i)
				assert.Equal(t, int64(2-i), d.Remaining, "remaining after %d", i)
				assert.Equal(t, int64(3), d.Limit)
				assert.Equal(t, time.Hour, d.Window)
			}
			d, err := l.Allow(bg, "alice", 1)
			require.NoError(t, err)
			assert.False(t, d.Allowed, "quota spent")
			assert.Equal(t, int64(0), d.Remaining)
			assert.Positive(t, d.RetryAfter)
			assert.LessOrEqual(t, d.RetryAfter, 2*time.Hour)
			if tt.algo == GCRA {
				assert.InDelta(t, float64(20*time.Minute), float64(d.RetryAfter), float64(time.Second), "one unit per 20 min")
			}
			d, err = l.Allow(bg, "bob", 2)
			require.NoError(t, err)
			assert.True(t, d.Allowed, "keys are independent")
			assert.Equal(t, int64(1), d.Remaining)
			d, err = l.Allow(bg, "bob", 2)
			require.NoError(t, err)
			assert.False(t, d.Allowed, "cost 2 does not fit in 1")
			d, err = l.Allow(bg, "bob", 1)
			require.NoError(t, err)
			assert.True(t, d.Allowed, "the denied request took nothing")
			d, err = l.Allow(bg, "carol", 4)
			require.NoError(t, err)
			assert.False(t, d.Allowed, "cost above the quota never fits")
			assert.GreaterOrEqual(t, d.RetryAfter, time.Hour)

			// TTLs and hash tags.
			keys := l.Keys("alice")
			require.Len(t, keys, 1)
			pttl, err := rdb.PTTL(bg, keys[0]).Result()
			require.NoError(t, err)
			assert.Positive(t, pttl, "state keys expire")
			assert.LessOrEqual(t, pttl, 2*time.Hour+time.Second)
		})
	}
}

func TestMultiWindowOneCall(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	rdb := srv.client(t)
	var calls callCounter
	rdb.AddHook(&calls)
	for _, algo := range []Algorithm{GCRA, SlidingWindow} {
		l := New(Config{Client: rdb, Timeout: testTimeout, Algorithm: algo, Prefix: algo.String() + ":", Limits: []ratelimit.Limit{ratelimit.PerHour(5), ratelimit.PerDay(2)}})
		_, err := l.Allow(bg, "warm-up", 1) // EVALSHA, NOSCRIPT, EVAL: loads the script
		require.NoError(t, err)
		before := calls.n.Load()
		ds, err := l.AllowWindows(bg, "k{x}", 1, nil)
		require.NoError(t, err)
		assert.Equal(t, int64(1), calls.n.Load()-before, "%v: all windows in one script call", algo)
		require.Len(t, ds, 2)
		assert.Equal(t, int64(4), ds[0].Remaining)
		assert.Equal(t, int64(1), ds[1].Remaining)
		d, err := l.Allow(bg, "k{x}", 1)
		require.NoError(t, err)
		assert.True(t, d.Allowed)
		assert.Equal(t, 24*time.Hour, d.Window, "%v: the daily window binds", algo)
		ds, err = l.AllowWindows(bg, "k{x}", 1, nil)
		require.NoError(t, err)
		assert.False(t, ds[0].Allowed)
		assert.Equal(t, int64(3), ds[0].Remaining, "%v: hour window untouched by the denial", algo)

		keys := l.Keys("k{x}")
		require.Len(t, keys, 2)
		tag := keys[0][strings.IndexByte(keys[0], '{'):strings.IndexByte(keys[0], '}')]
		assert.True(t, strings.HasPrefix(keys[1], algo.String()+":"+tag+"}"), "%v: windows share the hash tag: %v", algo, keys)
		assert.NotEqual(t, keys[0], keys[1])
	}
	other := New(Config{Client: rdb, Timeout: testTimeout, Limits: []ratelimit.Limit{ratelimit.PerHour(5)}})
	assert.NotEqual(t, other.Keys("a")[0][:20], other.Keys("b")[0][:20], "distinct keys get distinct tags")
}

func TestNoScriptReload(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	rdb := srv.client(t)
	l := New(Config{Client: rdb, Timeout: testTimeout, Limits: []ratelimit.Limit{ratelimit.PerMinute(10)}})
	d, err := l.Allow(bg, "k", 1)
	require.NoError(t, err)
	require.True(t, d.Allowed)
	require.NoError(t, rdb.ScriptFlush(bg).Err())
	d, err = l.Allow(bg, "k", 1)
	require.NoError(t, err, "NOSCRIPT reloads the script")
	assert.Equal(t, int64(8), d.Remaining)
}

func TestTimeoutBoundsBlackholedRedis(t *testing.T) {
	t.Parallel()
	// A server that accepts connections and never answers.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var conns sync.WaitGroup
	stop := make(chan struct{})
	conns.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Go(func() {
				<-stop
				_ = c.Close()
			})
		}
	})
	t.Cleanup(func() { _ = ln.Close(); close(stop); conns.Wait() })
	rdb := redis.NewClient(&redis.Options{Addr: ln.Addr().String(), MaxRetries: -1, DisableIdentity: true, Protocol: 2, ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = rdb.Close() })
	l := New(Config{Client: rdb, Timeout: 20 * time.Millisecond, FailureThreshold: 2, Limits: []ratelimit.Limit{ratelimit.PerMinute(10)}})
	_, err = l.Allow(bg, "k", 1)
	require.Error(t, err)
	assert.ErrorIs(t, err, ratelimit.ErrUnavailable)
	assert.ErrorIs(t, err, ErrRedis)
	var ne net.Error
	assert.True(t, errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()), "the timeout ended the call: %v", err)
	_, err = l.Allow(bg, "k", 1)
	require.ErrorIs(t, err, ErrRedis)
	assert.Equal(t, Open, l.State(), "two failures open the breaker")
	_, err = l.Allow(bg, "k", 1)
	assert.ErrorIs(t, err, ErrOpen, "an open breaker skips Redis")

	ctx, cancel := context.WithCancel(bg)
	cancel()
	l2 := New(Config{Client: rdb, Limits: []ratelimit.Limit{ratelimit.PerMinute(10)}})
	_, err = l2.Allow(ctx, "k", 1)
	assert.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, Closed, l2.State(), "the caller's cancellation is not a Redis failure")
}

func TestNewPanicsOnBadConfig(t *testing.T) {
	t.Parallel()
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = rdb.Close() })
	noCtx := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	t.Cleanup(func() { _ = noCtx.Close() })
	ok := []ratelimit.Limit{ratelimit.PerSecond(1)}
	tests := []struct {
		name string
		cfg  Config
	}{
		{name: "no client", cfg: Config{Limits: ok}},
		{name: "client ignores deadlines", cfg: Config{Client: noCtx, Limits: ok}},
		{name: "no limits", cfg: Config{Client: rdb}},
		{name: "bad limit", cfg: Config{Client: rdb, Limits: []ratelimit.Limit{{Quota: 1}}}},
		{name: "braces in prefix", cfg: Config{Client: rdb, Limits: ok, Prefix: "a{b}"}},
		{name: "negative timeout", cfg: Config{Client: rdb, Limits: ok, Timeout: -1}},
		{name: "unknown algorithm", cfg: Config{Client: rdb, Limits: ok, Algorithm: 5}},
		{name: "sub-ms window", cfg: Config{Client: rdb, Limits: []ratelimit.Limit{{Quota: 1, Window: time.Microsecond}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Panics(t, func() { New(tt.cfg) })
		})
	}
}

func TestFractionalInterval(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	rdb := srv.client(t)
	// 3000/s is one unit per 333.334 µs (rounded up to the ns): kept
	// exact, not rounded to whole microseconds, which would be 0.1% to
	// 0.3% off per unit here and far more at higher rates.
	l := New(Config{Client: rdb, Timeout: testTimeout, Limits: []ratelimit.Limit{{Quota: 3000, Window: time.Second, Burst: 1000}}})
	// Redis's clock moves on between the calls, so the expected values are
	// bounded by the real time spent since the first decision rather than
	// by a fixed tolerance.
	start := time.Now()
	d, err := l.Allow(bg, "k", 1)
	require.NoError(t, err)
	require.True(t, d.Allowed)
	// 7 per minute: 8571428.572 µs per unit; the key lives 8.6 s.
	slow := New(Config{Client: rdb, Timeout: testTimeout, Limits: []ratelimit.Limit{ratelimit.PerMinute(7)}})
	_, err = slow.Allow(bg, "k", 1)
	require.NoError(t, err)
	val, err := rdb.Get(bg, slow.Keys("k")[0]).Result()
	require.NoError(t, err)
	assert.Contains(t, val, ".", "the stored TAT keeps its fraction: %s", val)

	d, err = l.Allow(bg, "k", 999)
	require.NoError(t, err)
	require.True(t, d.Allowed)
	assertWithinElapsed(t, 333334, d.Reset, time.Since(start), "reset covers 1000 intervals of 333.334 µs")
	d, err = l.Allow(bg, "k", 1000)
	require.NoError(t, err)
	require.False(t, d.Allowed)
	assertWithinElapsed(t, 333334, d.RetryAfter, time.Since(start), "retry-after")
}

// assertWithinElapsed checks that got is wantMicros (the value at the first
// decision) less at most the time that has passed since, with 1 ms for
// rounding.
func assertWithinElapsed(t *testing.T, wantMicros int64, got, elapsed time.Duration, msg string) {
	t.Helper()
	us := got.Microseconds()
	assert.LessOrEqual(t, us, wantMicros+1000, msg)
	assert.GreaterOrEqual(t, us, wantMicros-elapsed.Microseconds()-1000, "%s (elapsed %v)", msg, elapsed)
}
