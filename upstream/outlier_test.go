package upstream

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var errRefused = errors.New("connection refused")

func TestOutlierEjection(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var ev healthEvents
		hs := newHealthState(healthConfig{
			outlier: OutlierDetection{Consecutive5xx: 3, BaseEjectionTime: 10 * time.Second, MaxEjectionTime: 25 * time.Second, MaxEjectionPercent: 50},
			onEvent: ev.add,
		})
		hs.setEndpoints(epsOf("a:1", "b:1", "c:1", "d:1"))

		hs.observe("a:1", 500, nil)
		hs.observe("a:1", 503, nil)
		hs.observe("a:1", 200, nil) // a success resets the run
		hs.observe("a:1", 500, nil)
		hs.observe("a:1", 500, nil)
		assert.Equal(t, []string{"a:1", "b:1", "c:1", "d:1"}, addrsOf(hs.snapshot().eps))
		hs.observe("a:1", 0, errRefused)
		assert.Equal(t, []string{"b:1", "c:1", "d:1"}, addrsOf(hs.snapshot().eps), "three in a row eject")
		h := hs.report()
		assert.True(t, h[0].Ejected)
		assert.Equal(t, 1, h[0].TimesEjected)
		assert.Equal(t, time.Now().Add(10*time.Second), h[0].EjectedUntil)

		for range 3 {
			hs.observe("b:1", 502, nil)
		}
		assert.Equal(t, []string{"c:1", "d:1"}, addrsOf(hs.snapshot().eps))
		for range 3 {
			hs.observe("c:1", 502, nil)
		}
		assert.Equal(t, []string{"c:1", "d:1"}, addrsOf(hs.snapshot().eps), "50% cap: two of four")

		time.Sleep(10 * time.Second)
		assert.Equal(t, []string{"a:1", "b:1", "c:1", "d:1"}, addrsOf(hs.snapshot().eps), "back after the base time")

		// Ejected again at once: twice the base time.
		for range 3 {
			hs.observe("a:1", 500, nil)
		}
		h = hs.report()
		assert.Equal(t, 2, h[0].TimesEjected)
		assert.Equal(t, time.Now().Add(20*time.Second), h[0].EjectedUntil)
		time.Sleep(20 * time.Second)
		require.Len(t, hs.snapshot().eps, 4)
		for range 3 {
			hs.observe("a:1", 500, nil)
		}
		assert.Equal(t, time.Now().Add(25*time.Second), hs.report()[0].EjectedUntil, "capped by the max ejection time")
		assert.Equal(t, []string{
			"ejected a:1", "ejected b:1", "returned a:1", "returned b:1", "ejected a:1", "returned a:1", "ejected a:1",
		}, ev.list())
	})
}

func TestOutlierMultiplierDecays(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		hs := newHealthState(healthConfig{outlier: OutlierDetection{ConsecutiveGatewayErrors: 1, BaseEjectionTime: time.Second}})
		hs.setEndpoints(epsOf("a:1", "b:1"))
		hs.observe("a:1", 0, errRefused)
		time.Sleep(time.Second)
		hs.snapshot()
		hs.observe("a:1", 0, errRefused)
		assert.Equal(t, 2, hs.report()[0].TimesEjected)
		time.Sleep(2 * time.Second)
		hs.snapshot()
		time.Sleep(5 * time.Second) // well behaved for five base times
		hs.observe("a:1", 0, errRefused)
		assert.Equal(t, 1, hs.report()[0].TimesEjected)
	})
}

func TestOutlierRules(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		od      OutlierDetection
		status  []int
		ejected bool
	}{
		{"gateway errors rule ignores 500", OutlierDetection{ConsecutiveGatewayErrors: 2}, []int{500, 500, 500}, false},
		{"gateway errors rule counts 504", OutlierDetection{ConsecutiveGatewayErrors: 2}, []int{504, 503}, true},
		{"5xx rule counts 500", OutlierDetection{Consecutive5xx: 2}, []int{500, 501}, true},
		{"4xx are no errors", OutlierDetection{Consecutive5xx: 2}, []int{404, 429, 400}, false},
		{"one endpoint can always be ejected", OutlierDetection{Consecutive5xx: 1, MaxEjectionPercent: 1}, []int{500}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			hs := newHealthState(healthConfig{outlier: tt.od})
			hs.setEndpoints(epsOf("a:1", "b:1"))
			for _, s := range tt.status {
				hs.observe("a:1", s, nil)
			}
			assert.Equal(t, tt.ejected, hs.report()[0].Ejected)
		})
	}
}

func TestOutlierIgnoresClientCancel(t *testing.T) {
	t.Parallel()
	hs := newHealthState(healthConfig{outlier: OutlierDetection{ConsecutiveGatewayErrors: 1}})
	hs.setEndpoints(epsOf("a:1", "b:1"))
	hs.observe("a:1", 0, context.Canceled)
	assert.False(t, hs.report()[0].Ejected)
}

func TestPanicMode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		mode      PanicMode
		threshold float64
		unhealthy []string
		want      []string
		fail      bool
	}{
		{"some unhealthy: no panic", PanicRouteAll, 0, []string{"a:1"}, []string{"b:1", "c:1", "d:1"}, false},
		{"all unhealthy: route to all", PanicRouteAll, 0, []string{"a:1", "b:1", "c:1", "d:1"}, []string{"a:1", "b:1", "c:1", "d:1"}, false},
		{"all unhealthy: fail", PanicFail, 0, []string{"a:1", "b:1", "c:1", "d:1"}, nil, true},
		{"under the threshold", PanicRouteAll, 0.5, []string{"a:1", "b:1", "c:1"}, []string{"a:1", "b:1", "c:1", "d:1"}, false},
		{"at the threshold", PanicRouteAll, 0.5, []string{"a:1", "b:1"}, []string{"c:1", "d:1"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var ev healthEvents
			hs := newHealthState(healthConfig{
				check: HealthCheck{Type: "tcp", UnhealthyThreshold: 1}, threshold: tt.threshold, mode: tt.mode, onEvent: ev.add,
			})
			hs.setEndpoints(epsOf("a:1", "b:1", "c:1", "d:1"))
			for _, a := range tt.unhealthy {
				hs.checkResult(a, errRefused)
			}
			set := hs.snapshot()
			assert.Equal(t, tt.want, nilIfEmpty(addrsOf(set.eps)))
			assert.Equal(t, tt.fail, set.fail)
			inPanic := len(tt.want) == 4 || tt.fail
			assert.Equal(t, inPanic, set.panic)
			if inPanic {
				assert.Contains(t, ev.list(), "panic")
				hs.checkResult("a:1", nil)
				hs.checkResult("a:1", nil)
				if tt.threshold == 0 {
					assert.Equal(t, "panic-ended", ev.list()[len(ev.list())-1])
					assert.Equal(t, []string{"a:1"}, addrsOf(hs.snapshot().eps))
				}
			}
		})
	}
	assert.ErrorIs(t, ErrNoHealthyEndpoints, ErrNoEndpoints)
}

func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}

func TestSlowStart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		hs := newHealthState(healthConfig{
			outlier: OutlierDetection{Consecutive5xx: 1, BaseEjectionTime: time.Second},
			slow:    SlowStart{Window: 10 * time.Second, MinWeightPercent: 10},
		})
		hs.setEndpoints([]Endpoint{{Addr: "a:1", Weight: 2}, {Addr: "b:1", Weight: 1}})
		weights := func() []int {
			var w []int
			for _, ep := range hs.snapshot().eps {
				w = append(w, ep.Weight)
			}
			return w
		}
		assert.Equal(t, []int{2, 1}, weights(), "the first set starts at full weight")

		hs.observe("a:1", 500, nil)
		time.Sleep(time.Second)
		assert.Equal(t, []int{20, 100}, weights(), "back from ejection at the minimum weight (scaled ×100)")
		time.Sleep(5 * time.Second)
		assert.Equal(t, []int{100, 100}, weights(), "half way: half its weight")
		time.Sleep(5 * time.Second)
		assert.Equal(t, []int{2, 1}, weights(), "ramp over")

		// A new endpoint added later ramps too.
		hs.setEndpoints([]Endpoint{{Addr: "a:1", Weight: 2}, {Addr: "b:1", Weight: 1}, {Addr: "c:1", Weight: 1}})
		assert.Equal(t, []int{200, 100, 10}, weights())
	})
	s := SlowStart{Window: 10 * time.Second, Aggression: 2}.withDefaults()
	now := time.Now()
	assert.Equal(t, 50, s.weight(1, now.Add(-2500*time.Millisecond), now), "aggression 2: sqrt(0.25)")
}

// Without traffic, runTimers ends ejections on time.
func TestHealthRunTimers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var ev healthEvents
		hs := newHealthState(healthConfig{outlier: OutlierDetection{Consecutive5xx: 1, BaseEjectionTime: 5 * time.Second}, onEvent: ev.add})
		hs.setEndpoints(epsOf("a:1", "b:1"))
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { hs.runTimers(ctx); close(done) }()
		hs.observe("a:1", 500, nil)
		time.Sleep(5 * time.Second)
		synctest.Wait()
		assert.Equal(t, []string{"ejected a:1", "returned a:1"}, ev.list())
		assert.Zero(t, hs.pub.Load().wake)
		cancel()
		<-done
	})
}

func TestHealthHotPathAllocs(t *testing.T) {
	hs := newHealthState(healthConfig{outlier: OutlierDetection{Consecutive5xx: 5}})
	hs.setEndpoints(epsOf("a:1", "b:1"))
	allocs := testing.AllocsPerRun(1000, func() {
		set := hs.snapshot()
		hs.observe(set.eps[0].Addr, 200, nil)
		hs.observe(set.eps[1].Addr, 502, nil) // a failure under the threshold
		hs.observe(set.eps[1].Addr, 200, nil)
	})
	assert.Zero(t, allocs)
}

func BenchmarkHealthSnapshotObserve(b *testing.B) {
	hs := newHealthState(healthConfig{outlier: OutlierDetection{Consecutive5xx: 5}})
	hs.setEndpoints(epsOf("10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80"))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			set := hs.snapshot()
			hs.observe(set.eps[1].Addr, 200, nil)
		}
	})
}
