package upstream

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestP2CPairDistinctAndUniform(t *testing.T) {
	t.Parallel()
	for _, n := range []int{2, 3, 10, 100} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			t.Parallel()
			var tab p2cTable
			seen := make([]int, n)
			const draws = 50_000
			for range draws {
				i, j := tab.pair(n)
				require.NotEqual(t, i, j)
				require.True(t, i >= 0 && i < n && j >= 0 && j < n, "pair (%d, %d) out of range", i, j)
				seen[i]++
				seen[j]++
			}
			for k, c := range seen {
				assert.InEpsilon(t, 2.0*draws/float64(n), float64(c), 0.15, "index %d", k)
			}
		})
	}
}

func TestLeastRequestPrefersLessLoaded(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		weights  []int
		inflight []int
		want     int // index of the endpoint every pick must return
	}{
		{"idle beats busy", []int{1, 1}, []int{3, 0}, 1},
		{"fewer wins", []int{1, 1}, []int{2, 5}, 0},
		{"heavy idle beats light idle", []int{1, 3}, []int{0, 0}, 1},
		// (1+1)/3 < (0+1)/1: weight 3 takes more concurrency.
		{"weighted", []int{3, 1}, []int{1, 0}, 0},
		// (3+1)/3 > (0+1)/1.
		{"weighted saturated", []int{3, 1}, []int{3, 0}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var lr LeastRequest
			eps := lbEndpoints(len(tt.weights), tt.weights...)
			for i, n := range tt.inflight {
				for range n {
					lr.Begin(eps[i])
				}
			}
			// With two endpoints both are always the candidates.
			counts := lbCount(t, &lr, nil, eps, 200)
			assert.Equal(t, 200, counts[eps[tt.want].Addr])
		})
	}
}

func TestLeastRequestSpreadsUnderLoad(t *testing.T) {
	t.Parallel()
	var lr LeastRequest
	eps := lbEndpoints(10)
	// Requests that never end: P2C keeps the in-flight counts level.
	for range 1000 {
		ep, err := lr.Pick(nil, eps)
		require.NoError(t, err)
		lr.Begin(ep)
	}
	for _, ep := range eps {
		n := lr.t.get(ep.Addr).load()
		assert.InDelta(t, 100, n, 6, ep.Addr)
	}
}

func TestLeastRequestObserverAccounting(t *testing.T) {
	t.Parallel()
	var lr LeastRequest
	ep := Endpoint{Addr: "10.9.9.9:80"}
	lr.End(ep, time.Millisecond, nil) // End without Begin: ignored
	assert.Equal(t, int64(0), lr.t.get(ep.Addr).load())
	lr.Begin(ep)
	lr.Begin(ep)
	assert.Equal(t, int64(2), lr.t.get(ep.Addr).load())
	lr.End(ep, time.Millisecond, errors.New("boom"))
	assert.Equal(t, int64(1), lr.t.get(ep.Addr).load())
	lr.End(ep, time.Millisecond, nil)
	lr.End(ep, time.Millisecond, nil) // one End too many: stays at zero
	assert.Equal(t, int64(0), lr.t.get(ep.Addr).load())
	_, err := lr.Pick(nil, nil)
	require.ErrorIs(t, err, ErrNoEndpoints)
}

func TestLeastRequestConcurrent(t *testing.T) {
	t.Parallel()
	var lr LeastRequest
	eps := lbEndpoints(5, 1, 2, 1, 1, 3)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 2000 {
				set := eps
				if i%7 == 0 {
					set = eps[g%2:] // a retry-like subset
				}
				ep, err := lr.Pick(nil, set)
				if !assert.NoError(t, err) {
					return
				}
				lr.Begin(ep)
				lr.End(ep, time.Millisecond, nil)
			}
		})
	}
	wg.Wait()
	for _, ep := range eps {
		assert.Equal(t, int64(0), lr.t.get(ep.Addr).load(), "in flight after all ended: %s", ep.Addr)
	}
}

func TestLeastRequestChurnIsBounded(t *testing.T) {
	t.Parallel()
	var lr LeastRequest
	// Discovery replaces the whole set every 500 picks, 200 times: 2000
	// addresses in all, 10 live at a time.
	for gen := range 200 {
		eps := make([]Endpoint, 10)
		for i := range eps {
			eps[i].Addr = fmt.Sprintf("10.%d.%d.1:80", gen, i)
		}
		for range 500 {
			ep, err := lr.Pick(nil, eps)
			require.NoError(t, err)
			lr.Begin(ep)
			lr.End(ep, 0, nil)
		}
	}
	// Pruning runs about every 4096+16·10 picks and drops entries unseen
	// for two epochs (epoch lengths are random), so only the last few dozen
	// generations remain of the 200.
	assert.Less(t, lr.t.size(), 800, "state for departed endpoints was not pruned")
	// Once the churn stops, only the live set remains.
	eps := lbEndpoints(10)
	for range 40_000 {
		_, err := lr.Pick(nil, eps)
		require.NoError(t, err)
	}
	assert.Equal(t, 0, lr.t.size(), "Pick alone creates no entries; departed ones are gone")
	for _, ep := range eps {
		lr.Begin(ep)
		lr.End(ep, 0, nil)
	}
	assert.Equal(t, 10, lr.t.size())
}

func TestP2CPruneKeepsBusyAndRecent(t *testing.T) {
	t.Parallel()
	var tab p2cTable
	busy := tab.getOrCreate("busy:1")
	busy.inflight.Add(1)
	tab.getOrCreate("idle:1")
	tab.prune()
	tab.prune()
	assert.Equal(t, 2, tab.size(), "entries seen in the last two epochs are kept")
	tab.prune()
	assert.Equal(t, 1, tab.size(), "the stale idle entry is dropped")
	assert.Same(t, busy, tab.get("busy:1"), "an entry with requests in flight is kept")
	busy.done()
	tab.get("busy:1") // seen again in this epoch
	tab.prune()
	tab.prune()
	assert.Equal(t, 1, tab.size())
	tab.prune()
	assert.Equal(t, 0, tab.size())
}

// size returns the number of entries.
func (t *p2cTable) size() int {
	if m := t.m.Load(); m != nil {
		return len(*m)
	}
	return 0
}
