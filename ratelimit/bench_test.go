package ratelimit

import (
	"context"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// BenchmarkLocalAllow measures one decision for a known key (the steady
// state): the target is <= 100 ns/op and 0 allocs/op.
func BenchmarkLocalAllow(b *testing.B) {
	for _, algo := range algorithms {
		for _, windows := range []int{1, 3} {
			b.Run(algo.String()+"/windows="+strconv.Itoa(windows), func(b *testing.B) {
				limits := []Limit{PerSecond(1e6), PerHour(1e9), PerDay(1e10)}[:windows]
				l := NewLocal(LocalConfig{Algorithm: algo, Limits: limits})
				ctx := context.Background()
				keys := make([]string, 1024)
				for i := range keys {
					keys[i] = "198.51.100." + strconv.Itoa(i)
					_, _ = l.Allow(ctx, keys[i], 1)
				}
				b.ReportAllocs()
				cpu := startCPU()
				i := 0
				for b.Loop() {
					_, _ = l.Allow(ctx, keys[i&1023], 1)
					i++
				}
				cpu.report(b)
			})
		}
	}
}

// BenchmarkLocalAllowParallel runs decisions from several goroutines on
// distinct keys; run with -cpu 1,2 to compare one and two goroutines (no
// global lock: the target is at most 4x slower per op at 2).
func BenchmarkLocalAllowParallel(b *testing.B) {
	for _, algo := range algorithms {
		b.Run(algo.String(), func(b *testing.B) {
			l := NewLocal(LocalConfig{Algorithm: algo, Limits: []Limit{PerSecond(1e6)}})
			ctx := context.Background()
			var gid atomic.Int64
			b.ReportAllocs()
			cpu := startCPU()
			defer cpu.report(b)
			b.RunParallel(func(pb *testing.PB) {
				g := gid.Add(1)
				keys := make([]string, 256)
				for i := range keys {
					keys[i] = strconv.FormatInt(g, 10) + "/" + strconv.Itoa(i)
				}
				i := 0
				for pb.Next() {
					_, _ = l.Allow(ctx, keys[i&255], 1)
					i++
				}
			})
		})
	}
}

// BenchmarkLocalMemory inserts distinct keys and reports the heap bytes
// held per key (B/key) next to the limiter's own estimate (est-B/key).
func BenchmarkLocalMemory(b *testing.B) {
	for _, algo := range algorithms {
		b.Run(algo.String(), func(b *testing.B) {
			const n = 200_000
			var perKey, est float64
			for b.Loop() {
				runtime.GC()
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				l := NewLocal(LocalConfig{Algorithm: algo, Limits: []Limit{PerMinute(100)}, MaxKeys: n})
				now := time.Now()
				for i := range n {
					l.AllowAt("203.0.113."+strconv.Itoa(i), 1, now)
				}
				runtime.GC()
				runtime.ReadMemStats(&after)
				perKey = float64(after.HeapAlloc-before.HeapAlloc) / n
				est = float64(l.Stats().Bytes) / n
				runtime.KeepAlive(l)
			}
			b.ReportMetric(perKey, "B/key")
			b.ReportMetric(est, "est-B/key")
		})
	}
}

// BenchmarkPolicyHandler measures the whole middleware for an allowed
// request: key function, decision and IETF headers.
func BenchmarkPolicyHandler(b *testing.B) {
	for _, style := range []struct {
		name string
		h    HeaderStyle
	}{{"ietf", HeadersIETF}, {"none", HeadersNone}} {
		b.Run(style.name, func(b *testing.B) {
			p := New(Config{Name: "bench", Headers: style.h, Limiters: []Limiter{
				NewLocal(LocalConfig{Limits: []Limit{PerSecond(1e7)}}),
			}})
			h := p.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
			r := httptest.NewRequest("GET", "/users/1", nil)
			r.Pattern = "GET /users/{id}"
			w := &discardWriter{h: make(http.Header)}
			b.ReportAllocs()
			cpu := startCPU()
			for b.Loop() {
				clear(w.h)
				h.ServeHTTP(w, r)
			}
			cpu.report(b)
		})
	}
}

type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(int)             {}

// cpuClock measures the process's CPU time (user+system) over a benchmark
// run and reports it per op as cpu-ns/op: on a shared, oversubscribed
// machine wall-clock ns/op includes time spent descheduled, CPU time does
// not. For RunParallel benchmarks it is the CPU spent per op across all
// goroutines, so lock contention shows up as a rise over the 1-goroutine
// figure.
type cpuClock struct{ start int64 }

func cpuNow() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

func startCPU() cpuClock { return cpuClock{start: cpuNow()} }

func (c cpuClock) report(b *testing.B) {
	if b.N > 0 {
		b.ReportMetric(float64(cpuNow()-c.start)/float64(b.N), "cpu-ns/op")
	}
}
