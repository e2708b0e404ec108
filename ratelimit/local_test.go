package ratelimit

import (
	"context"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func fixedClock(t time.Time) func() time.Time { return func() time.Time { return t } }

var algorithms = []Algorithm{GCRA, TokenBucket}

func TestLocalBurstAndRefill(t *testing.T) {
	t.Parallel()
	for _, algo := range algorithms {
		t.Run(algo.String(), func(t *testing.T) {
			t.Parallel()
			l := NewLocal(LocalConfig{Algorithm: algo, Limits: []Limit{{Quota: 10, Window: 10 * time.Second, Burst: 3}}, Now: fixedClock(t0)})
			for i := range 3 {
				d := l.AllowAt("k", 1, t0)
				require.True(t, d.Allowed, "request %d within burst", i)
				assert.Equal(t, int64(2-i), d.Remaining, "remaining after request %d", i)
				assert.Equal(t, int64(10), d.Limit)
				assert.Equal(t, 10*time.Second, d.Window)
				assert.Zero(t, d.RetryAfter)
			}
			d := l.AllowAt("k", 1, t0)
			assert.False(t, d.Allowed, "fourth request exceeds the burst")
			assert.Equal(t, int64(0), d.Remaining)
			assert.InDelta(t, float64(time.Second), float64(d.RetryAfter), float64(time.Millisecond), "one unit per second")
			assert.InDelta(t, float64(3*time.Second), float64(d.Reset), float64(time.Millisecond), "full in 3 s")

			assert.False(t, l.AllowAt("k", 1, t0.Add(999*time.Millisecond)).Allowed, "not yet refilled")
			d = l.AllowAt("k", 1, t0.Add(time.Second))
			assert.True(t, d.Allowed, "one unit back after one interval")
			assert.Equal(t, int64(0), d.Remaining)

			assert.True(t, l.AllowAt("other", 1, t0).Allowed, "keys are independent")

			d = l.AllowAt("k", 3, t0.Add(time.Hour))
			assert.True(t, d.Allowed, "a long pause refills to the burst, no more")
			assert.False(t, l.AllowAt("k", 1, t0.Add(time.Hour)).Allowed)
		})
	}
}

func TestLocalMultiWindowAllOrNothing(t *testing.T) {
	t.Parallel()
	for _, algo := range algorithms {
		t.Run(algo.String(), func(t *testing.T) {
			t.Parallel()
			l := NewLocal(LocalConfig{Algorithm: algo, Limits: []Limit{PerSecond(2), PerMinute(3)}, Now: fixedClock(t0)})
			var ds []Decision
			ds, err := l.AllowWindows(context.Background(), "k", 1, ds)
			require.NoError(t, err)
			require.Len(t, ds, 2, "one decision per window")
			assert.Equal(t, int64(1), ds[0].Remaining, "per-second remaining")
			assert.Equal(t, int64(2), ds[1].Remaining, "per-minute remaining")

			assert.True(t, l.AllowAt("k", 1, t0).Allowed)
			d := l.AllowAt("k", 1, t0)
			assert.False(t, d.Allowed, "per-second window is spent")
			assert.Equal(t, time.Second, d.Window, "the per-second window binds")

			// The denial above must not have taken a unit from the minute.
			d = l.AllowAt("k", 1, t0.Add(time.Second))
			assert.True(t, d.Allowed, "third unit of the minute")
			assert.Equal(t, time.Minute, d.Window, "now the minute binds")
			assert.Equal(t, int64(0), d.Remaining)

			d = l.AllowAt("k", 1, t0.Add(2*time.Second))
			assert.False(t, d.Allowed, "minute quota spent")
			assert.Equal(t, time.Minute, d.Window)
			assert.InDelta(t, float64(18*time.Second), float64(d.RetryAfter), float64(10*time.Millisecond), "one minute unit = 20 s, 2 s elapsed")

			d = l.AllowAt("k", 0, t0.Add(2*time.Second))
			assert.True(t, d.Allowed, "cost 0 only reports")
			assert.Equal(t, int64(0), d.Remaining)
		})
	}
}

func TestLocalCost(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		costs   []int
		allowed []bool
	}{
		{name: "weights add up", costs: []int{4, 4, 4}, allowed: []bool{true, true, false}},
		{name: "small fits after big denial", costs: []int{8, 4, 2}, allowed: []bool{true, false, true}},
		{name: "over burst never", costs: []int{11, 1}, allowed: []bool{false, true}},
		{name: "negative is zero", costs: []int{-5, 10}, allowed: []bool{true, true}},
	}
	for _, algo := range algorithms {
		for _, tt := range tests {
			t.Run(algo.String()+"/"+tt.name, func(t *testing.T) {
				t.Parallel()
				l := NewLocal(LocalConfig{Algorithm: algo, Limits: []Limit{PerMinute(10)}, Now: fixedClock(t0)})
				for i, c := range tt.costs {
					d, err := l.Allow(context.Background(), "k", c)
					require.NoError(t, err)
					assert.Equal(t, tt.allowed[i], d.Allowed, "cost %d (#%d)", c, i)
					if !d.Allowed {
						assert.Positive(t, d.RetryAfter, "a denial says when to retry")
					}
				}
			})
		}
	}
}

func TestLocalConcurrentExact(t *testing.T) {
	t.Parallel()
	for _, algo := range algorithms {
		t.Run(algo.String(), func(t *testing.T) {
			t.Parallel()
			l := NewLocal(LocalConfig{Algorithm: algo, Limits: []Limit{PerHour(500)}, Now: fixedClock(t0)})
			var admitted atomic.Int64
			var wg sync.WaitGroup
			for range 16 {
				wg.Go(func() {
					for range 100 {
						if d, _ := l.Allow(context.Background(), "shared", 1); d.Allowed {
							admitted.Add(1)
						}
					}
				})
			}
			wg.Wait()
			assert.Equal(t, int64(500), admitted.Load(), "exactly the quota admitted under contention")
		})
	}
}

func TestLocalKeyCapHolds(t *testing.T) {
	// Not parallel: it measures the heap, which other tests would inflate
	// (parallel tests only start once the sequential ones are done).
	const maxKeys = 10_000
	const flood = floodKeys
	l := NewLocal(LocalConfig{Limits: []Limit{PerMinute(60)}, MaxKeys: maxKeys, Now: fixedClock(t0)})
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	var b []byte
	for i := range flood {
		b = strconv.AppendInt(append(b[:0], "203.0."...), int64(i), 10)
		l.AllowAt(string(b), 1, t0.Add(time.Duration(i)))
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	st := l.Stats()
	assert.LessOrEqual(t, st.Keys, maxKeys, "key cap")
	assert.Greater(t, st.Keys, maxKeys*9/10, "the cap is used, not undershot")
	assert.Equal(t, uint64(flood-st.Keys), st.Evicted+st.Expired, "every other key was evicted")
	grown := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	assert.Less(t, grown, int64(4<<20), "heap grew by %d bytes for %d keys tracked out of %d", grown, st.Keys, flood)
	assert.LessOrEqual(t, grown, st.Bytes, "the byte estimate is an upper bound of the real heap")
	runtime.KeepAlive(l)
}

func TestLocalByteCapHolds(t *testing.T) {
	t.Parallel()
	const maxBytes = 1 << 20
	l := NewLocal(LocalConfig{Algorithm: TokenBucket, Limits: []Limit{PerSecond(5), PerDay(100)}, MaxBytes: maxBytes, Now: fixedClock(t0)})
	for i := range floodKeys / 5 {
		l.AllowAt("consumer-with-a-long-identifier-"+strconv.Itoa(i), 1, t0)
	}
	st := l.Stats()
	assert.LessOrEqual(t, st.Bytes, int64(maxBytes), "byte cap")
	assert.Greater(t, st.Keys, 1000, "the cap still holds many keys")
	assert.Positive(t, st.Evicted)
}

func TestLocalLRUKeepsActiveKeys(t *testing.T) {
	t.Parallel()
	// 16 keys per shard at most: a small single-shard limiter.
	l := NewLocal(LocalConfig{Limits: []Limit{{Quota: 1, Window: time.Hour}}, MaxKeys: 16, Now: fixedClock(t0)})
	require.True(t, l.AllowAt("hot", 1, t0).Allowed)
	for i := range 100 {
		l.AllowAt("cold-"+strconv.Itoa(i), 1, t0)
		assert.False(t, l.AllowAt("hot", 1, t0).Allowed, "hot key keeps its spent state (round %d)", i)
	}
	assert.Equal(t, 16, l.Stats().Keys)
}

func TestLocalIdleEvictionAndCompaction(t *testing.T) {
	t.Parallel()
	l := NewLocal(LocalConfig{Limits: []Limit{PerMinute(10)}, Now: fixedClock(t0)})
	for i := range 50_000 {
		l.AllowAt("k"+strconv.Itoa(i), 1, t0)
	}
	require.Equal(t, 50_000, l.Stats().Keys)
	l.Sweep(t0.Add(59 * time.Second))
	assert.Equal(t, 50_000, l.Stats().Keys, "not idle for a full refill yet")
	l.AllowAt("k7", 10, t0.Add(61*time.Second)) // k7 is used again
	l.Sweep(t0.Add(61 * time.Second))
	st := l.Stats()
	assert.Equal(t, 1, st.Keys, "only the recently used key survives")
	assert.Equal(t, uint64(49_999), st.Expired)
	assert.False(t, l.AllowAt("k7", 1, t0.Add(61*time.Second)).Allowed, "survivor kept its state through compaction")
	assert.True(t, l.AllowAt("k8", 10, t0.Add(61*time.Second)).Allowed, "an expired key starts full, as it would have been anyway")

	// New keys reclaim idle ones without a sweeper.
	l2 := NewLocal(LocalConfig{Limits: []Limit{PerSecond(1)}, Now: fixedClock(t0)})
	for i := range 100 {
		l2.AllowAt("a"+strconv.Itoa(i), 1, t0)
	}
	for i := range 100 {
		l2.AllowAt("b"+strconv.Itoa(i), 1, t0.Add(time.Minute))
	}
	assert.Less(t, l2.Stats().Keys, 200, "arrivals reclaimed idle keys")
}

func TestLocalRunSweepsWithSynctest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := NewLocal(LocalConfig{Limits: []Limit{PerSecond(5)}, IdleTimeout: 10 * time.Second})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- l.Run(ctx) }()
		for i := range 100 {
			_, _ = l.Allow(ctx, strconv.Itoa(i), 1)
		}
		d, _ := l.Allow(ctx, "x", 5)
		require.True(t, d.Allowed)
		d, _ = l.Allow(ctx, "x", 1)
		require.False(t, d.Allowed)
		time.Sleep(time.Second) // fake time inside the bubble
		d, _ = l.Allow(ctx, "x", 5)
		assert.True(t, d.Allowed, "refilled after one second of (fake) time")
		assert.Equal(t, 101, l.Stats().Keys)
		time.Sleep(30 * time.Second)
		synctest.Wait()
		assert.Equal(t, 0, l.Stats().Keys, "Run swept the idle keys")
		cancel()
		assert.NoError(t, <-done)
	})
}

func TestNewLocalPanicsOnBadConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  LocalConfig
	}{
		{name: "no limits", cfg: LocalConfig{}},
		{name: "zero quota", cfg: LocalConfig{Limits: []Limit{{Window: time.Second}}}},
		{name: "zero window", cfg: LocalConfig{Limits: []Limit{{Quota: 1}}}},
		{name: "negative burst", cfg: LocalConfig{Limits: []Limit{{Quota: 1, Window: time.Second, Burst: -1}}}},
		{name: "too many windows", cfg: LocalConfig{Limits: make([]Limit, MaxWindows+1)}},
		{name: "negative cap", cfg: LocalConfig{Limits: []Limit{PerSecond(1)}, MaxKeys: -1}},
		{name: "unknown algorithm", cfg: LocalConfig{Limits: []Limit{PerSecond(1)}, Algorithm: 7}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Panics(t, func() { NewLocal(tt.cfg) })
		})
	}
}

func TestFromRate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		r     float64
		burst int
		want  Limit
	}{
		{name: "fast", r: 100, burst: 20, want: Limit{Quota: 100, Window: time.Second, Burst: 20}},
		{name: "slow", r: 1.0 / 3, burst: 1, want: Limit{Quota: 1, Window: 3 * time.Second, Burst: 1}},
		{name: "zero burst", r: 5, burst: 0, want: Limit{Quota: 5, Window: time.Second, Burst: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.want, FromRate(rateLimit(tt.r), tt.burst))
		})
	}
	assert.Panics(t, func() { FromRate(0, 1) })
}

func TestStrictest(t *testing.T) {
	t.Parallel()
	a := Decision{Allowed: true, Remaining: 5, Reset: time.Second}
	b := Decision{Allowed: true, Remaining: 2, Reset: time.Minute}
	c := Decision{Allowed: false, RetryAfter: time.Second}
	d := Decision{Allowed: false, RetryAfter: time.Hour}
	tests := []struct {
		name string
		in   []Decision
		want Decision
	}{
		{name: "empty", in: nil, want: Decision{}},
		{name: "fewest remaining", in: []Decision{a, b}, want: b},
		{name: "denial wins", in: []Decision{a, c, b}, want: c},
		{name: "longest retry", in: []Decision{c, d}, want: d},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.want, Strictest(tt.in))
		})
	}
}
