package upstream

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// lbClock is a manual monotonic clock for PeakEWMA.
type lbClock struct{ ns atomic.Int64 }

func (c *lbClock) now() int64              { return c.ns.Load() }
func (c *lbClock) advance(d time.Duration) { c.ns.Add(int64(d)) }

func newTestEWMA(cfg PeakEWMAConfig) (*PeakEWMA, *lbClock) {
	p := NewPeakEWMA(cfg)
	c := new(lbClock)
	c.ns.Store(int64(time.Hour)) // not zero, to catch stamp mix-ups
	p.now = c.now
	return p, c
}

func (p *PeakEWMA) testCost(addr string, now int64) float64 {
	return p.cost(p.t.get(addr), now)
}

func TestPeakEWMAEstimate(t *testing.T) {
	t.Parallel()
	const ms = float64(time.Millisecond)
	tests := []struct {
		name  string
		steps func(p *PeakEWMA, c *lbClock, ep Endpoint)
		want  float64 // cost in ns, with nothing in flight
	}{
		{"no sample", func(p *PeakEWMA, c *lbClock, ep Endpoint) {}, 0},
		{"first sample", func(p *PeakEWMA, c *lbClock, ep Endpoint) {
			p.Begin(ep)
			p.End(ep, 10*time.Millisecond, nil)
		}, 10 * ms},
		{"peak replaces at once", func(p *PeakEWMA, c *lbClock, ep Endpoint) {
			p.End(ep, 10*time.Millisecond, nil)
			p.End(ep, 50*time.Millisecond, nil)
		}, 50 * ms},
		{"lower sample averages in over time", func(p *PeakEWMA, c *lbClock, ep Endpoint) {
			p.End(ep, 50*time.Millisecond, nil)
			c.advance(10 * time.Second) // one tau: weight 1-1/e for the new sample
			p.End(ep, 10*time.Millisecond, nil)
		}, 10*ms + 40*ms/2.718281828459045},
		{"lower sample at once barely moves it", func(p *PeakEWMA, c *lbClock, ep Endpoint) {
			p.End(ep, 50*time.Millisecond, nil)
			p.End(ep, 10*time.Millisecond, nil)
		}, 50 * ms},
		{"decays while idle", func(p *PeakEWMA, c *lbClock, ep Endpoint) {
			p.End(ep, 80*time.Millisecond, nil)
			c.advance(20 * time.Second)
		}, 80 * ms / (2.718281828459045 * 2.718281828459045)},
		{"error is a penalty", func(p *PeakEWMA, c *lbClock, ep Endpoint) {
			p.End(ep, 10*time.Millisecond, nil)
			p.End(ep, 2*time.Millisecond, errors.New("connection reset"))
		}, float64(time.Second)},
		{"slow error keeps its latency", func(p *PeakEWMA, c *lbClock, ep Endpoint) {
			p.End(ep, 3*time.Second, errors.New("timeout"))
		}, float64(3 * time.Second)},
		{"client cancel records nothing", func(p *PeakEWMA, c *lbClock, ep Endpoint) {
			p.End(ep, 10*time.Millisecond, nil)
			p.End(ep, 2*time.Millisecond, fmt.Errorf("proxy: %w", context.Canceled))
		}, 10 * ms},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, c := newTestEWMA(PeakEWMAConfig{})
			ep := Endpoint{Addr: "10.0.0.1:80"}
			tt.steps(p, c, ep)
			assert.InEpsilon(t, tt.want+1, p.testCost(ep.Addr, c.now())+1, 1e-9)
		})
	}
}

func TestPeakEWMAInflightAndPenalty(t *testing.T) {
	t.Parallel()
	p, c := newTestEWMA(PeakEWMAConfig{ErrorPenalty: 200 * time.Millisecond, Decay: time.Second})
	ep := Endpoint{Addr: "10.0.0.1:80"}
	p.Begin(ep)
	assert.Equal(t, unsampledPenalty+1, p.testCost(ep.Addr, c.now()), "a probe in flight without a sample is penalised")
	p.End(ep, time.Millisecond, errors.New("refused"))
	assert.InEpsilon(t, float64(200*time.Millisecond), p.testCost(ep.Addr, c.now()), 1e-9, "configured error penalty")
	p.Begin(ep)
	p.Begin(ep)
	assert.InEpsilon(t, float64(600*time.Millisecond), p.testCost(ep.Addr, c.now()), 1e-9, "cost × (in flight + 1)")
	c.advance(time.Second) // configured Decay
	assert.InEpsilon(t, float64(600*time.Millisecond)/2.718281828459045, p.testCost(ep.Addr, c.now()), 1e-9)
}

func TestPeakEWMAAvoidsSlowAndRecovers(t *testing.T) {
	t.Parallel()
	p, c := newTestEWMA(PeakEWMAConfig{})
	eps := lbEndpoints(3)
	slow := eps[0].Addr
	latency := func(addr string) time.Duration {
		if addr == slow {
			return 200 * time.Millisecond
		}
		return 5 * time.Millisecond
	}
	// Serve 3000 requests one after another, 1ms apart.
	serve := func(n int) map[string]int {
		counts := make(map[string]int)
		for range n {
			ep, err := p.Pick(nil, eps)
			require.NoError(t, err)
			counts[ep.Addr]++
			p.Begin(ep)
			c.advance(time.Millisecond)
			p.End(ep, latency(ep.Addr), nil)
		}
		return counts
	}
	counts := serve(3000)
	// P2C draws the slow endpoint in 2/3 of the picks, but it wins only
	// when its estimate has decayed below the other candidate's cost: after
	// its peak of 200ms, that takes about tau·ln(40) ≈ 37s of idleness, far
	// longer than the 3s simulated here.
	assert.Less(t, counts[slow], 10, "slow endpoint got %d of 3000", counts[slow])
	assert.Greater(t, counts[eps[1].Addr], 1200)
	assert.Greater(t, counts[eps[2].Addr], 1200)

	// The endpoint gets fast again; once its estimate decays it is probed,
	// measured fast, and takes its share again.
	slow = ""
	c.advance(time.Minute)
	counts = serve(3000)
	assert.InEpsilon(t, 1000, counts[eps[0].Addr], 0.25, "recovered endpoint share")
}

func TestPeakEWMAProbesNewEndpointOnce(t *testing.T) {
	t.Parallel()
	p, _ := newTestEWMA(PeakEWMAConfig{})
	eps := lbEndpoints(2)
	// eps[0] is known and fast; eps[1] is new. The new endpoint is idle and
	// unsampled (cost 0), so it gets one probe, and nothing more while the
	// probe is in flight.
	p.Begin(eps[0])
	p.End(eps[0], time.Millisecond, nil)
	first, err := p.Pick(nil, eps)
	require.NoError(t, err)
	require.Equal(t, eps[1].Addr, first.Addr)
	p.Begin(first)
	counts := lbCount(t, p, nil, eps, 100)
	assert.Equal(t, 100, counts[eps[0].Addr])
}

func TestPeakEWMAZeroValue(t *testing.T) {
	t.Parallel()
	var p PeakEWMA
	_, err := p.Pick(nil, nil)
	require.ErrorIs(t, err, ErrNoEndpoints)
	eps := lbEndpoints(2)
	p.Begin(eps[0])
	p.End(eps[0], 20*time.Millisecond, nil)
	assert.Positive(t, p.testCost(eps[0].Addr, monoNow()))
	assert.Equal(t, float64(defaultEWMADecay), p.tau())
}

func TestPeakEWMAConcurrent(t *testing.T) {
	t.Parallel()
	p, c := newTestEWMA(PeakEWMAConfig{})
	eps := lbEndpoints(6)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 2000 {
				set := eps
				if i%5 == 0 {
					set = eps[1+g%3:]
				}
				ep, err := p.Pick(nil, set)
				if !assert.NoError(t, err) {
					return
				}
				p.Begin(ep)
				c.advance(time.Microsecond)
				var err2 error
				if i%97 == 0 {
					err2 = errors.New("boom")
				}
				p.End(ep, time.Duration(i%10)*time.Millisecond, err2)
			}
		})
	}
	wg.Wait()
	for _, ep := range eps {
		assert.Equal(t, int64(0), p.t.get(ep.Addr).load(), ep.Addr)
	}
}

func TestPeakEWMADecay(t *testing.T) {
	t.Parallel()
	tau := float64(10 * time.Second)
	for _, elapsed := range []int64{-5, 0, 1, 1000, int64(time.Millisecond), int64(9999 * time.Microsecond), int64(10 * time.Millisecond), int64(time.Second), int64(time.Minute)} {
		want := 1.0
		if elapsed > 0 {
			want = math.Exp(-float64(elapsed) / tau)
		}
		assert.InEpsilon(t, want, decay(elapsed, tau), 1e-12, "elapsed %d", elapsed)
	}
}
