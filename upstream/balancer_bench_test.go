package upstream

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"
)

var lbBenchSizes = []int{3, 10, 100}

// benchBalancer measures Pick (plus Begin and End when b implements
// Observer) on sets of each size, serially and in parallel.
func benchBalancer(b *testing.B, newBalancer func() Balancer, r *http.Request) {
	for _, n := range lbBenchSizes {
		weights := make([]int, n)
		for i := range weights {
			weights[i] = 1 + i%3
		}
		eps := lbEndpoints(n, weights...)
		run := func(bal Balancer, next func() bool) {
			obs, _ := bal.(Observer)
			for next() {
				ep, err := bal.Pick(r, eps)
				if err != nil {
					panic(err)
				}
				if obs != nil {
					obs.Begin(ep)
					obs.End(ep, time.Millisecond, nil)
				}
			}
		}
		warm := func(bal Balancer) {
			// First sight of a set or address builds state; measure the
			// steady state.
			i := 0
			run(bal, func() bool { i++; return i <= 20*n })
		}
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			bal := newBalancer()
			warm(bal)
			b.ReportAllocs()
			run(bal, b.Loop)
		})
		b.Run(fmt.Sprintf("n=%d/parallel", n), func(b *testing.B) {
			bal := newBalancer()
			warm(bal)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) { run(bal, pb.Next) })
		})
	}
}

func BenchmarkRoundRobin(b *testing.B) {
	benchBalancer(b, func() Balancer { return new(RoundRobin) }, nil)
}

func BenchmarkWeightedRoundRobin(b *testing.B) {
	benchBalancer(b, func() Balancer { return new(WeightedRoundRobin) }, nil)
}

func BenchmarkRandom(b *testing.B) {
	benchBalancer(b, func() Balancer { return Random{} }, nil)
}

func BenchmarkLeastRequest(b *testing.B) {
	benchBalancer(b, func() Balancer { return new(LeastRequest) }, nil)
}

func BenchmarkPeakEWMA(b *testing.B) {
	benchBalancer(b, func() Balancer { return new(PeakEWMA) }, nil)
}

func BenchmarkMaglev(b *testing.B) {
	b.Run("header", func(b *testing.B) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("X-User", "user-4711")
		benchBalancer(b, func() Balancer { return NewMaglev(MaglevConfig{Key: HashByHeader("X-User")}) }, r)
	})
	b.Run("clientip", func(b *testing.B) {
		r := withClientIP(httptest.NewRequest(http.MethodGet, "/", nil), "2001:db8:1234::17")
		benchBalancer(b, func() Balancer { return NewMaglev(MaglevConfig{Key: HashByClientIP}) }, r)
	})
	b.Run("cookie", func(b *testing.B) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("Cookie", "theme=dark; session=0123456789abcdef; lang=en")
		benchBalancer(b, func() Balancer { return NewMaglev(MaglevConfig{Key: HashByCookie("session")}) }, r)
	})
	b.Run("retry-subset", func(b *testing.B) {
		// A retry without one endpoint is served from the cached table.
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("X-User", "user-4711")
		for _, n := range lbBenchSizes {
			eps := lbEndpoints(n)
			m := NewMaglev(MaglevConfig{Key: HashByHeader("X-User")})
			if _, err := m.Pick(r, eps); err != nil {
				b.Fatal(err)
			}
			retry := eps[1:]
			b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := m.Pick(r, retry); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	})
}

// BenchmarkMaglevReordered measures picks from the cached set given in
// another order: rotated (DNS round robin) or shuffled.
func BenchmarkMaglevReordered(b *testing.B) {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("X-User", "user-4711")
	for _, n := range lbBenchSizes {
		eps := lbEndpoints(n)
		m := NewMaglev(MaglevConfig{Key: HashByHeader("X-User")})
		if _, err := m.Pick(r, eps); err != nil {
			b.Fatal(err)
		}
		rotated := append(slices.Clone(eps[1:]), eps[0])
		reversed := slices.Clone(eps)
		slices.Reverse(reversed)
		for name, set := range map[string][]Endpoint{"rotated": rotated, "reversed": reversed} {
			b.Run(fmt.Sprintf("%s/n=%d", name, n), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := m.Pick(r, set); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkMaglevBuild measures building the lookup table (on set changes).
func BenchmarkMaglevBuild(b *testing.B) {
	for _, n := range lbBenchSizes {
		eps := lbEndpoints(n)
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				newMaglevTable(eps, DefaultMaglevTableSize)
			}
		})
	}
}

func BenchmarkXXH64(b *testing.B) {
	for _, s := range []string{"203.0.113.9", "user-4711-0123456789abcdef", "/api/v1/users/4711/orders/0123456789"} {
		b.Run(fmt.Sprint(len(s)), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(s)))
			for b.Loop() {
				xxh64(s, 0)
			}
		})
	}
}
