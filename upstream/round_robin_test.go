package upstream

import (
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRoundRobinSequence(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		n    int
	}{
		{"one", 1},
		{"two", 2},
		{"three", 3},
		{"ten", 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var rr RoundRobin
			eps := lbEndpoints(tt.n)
			for i := range 3 * tt.n {
				ep, err := rr.Pick(nil, eps)
				require.NoError(t, err)
				assert.Equal(t, eps[i%tt.n].Addr, ep.Addr, "pick %d", i)
			}
		})
	}
}

func TestRoundRobinIgnoresWeights(t *testing.T) {
	t.Parallel()
	var rr RoundRobin
	eps := lbEndpoints(3, 5, 1, 0)
	counts := lbCount(t, &rr, nil, eps, 300)
	for _, ep := range eps {
		assert.Equal(t, 100, counts[ep.Addr], ep.Addr)
	}
}

func TestRoundRobinEmpty(t *testing.T) {
	t.Parallel()
	var rr RoundRobin
	_, err := rr.Pick(nil, nil)
	require.ErrorIs(t, err, ErrNoEndpoints)
}

func TestRoundRobinSetChange(t *testing.T) {
	t.Parallel()
	var rr RoundRobin
	full := lbEndpoints(4)
	lbCount(t, &rr, nil, full, 7)
	// Retry without one endpoint, then discovery shrinks the set: every pick
	// is a member of the set it was given, and the rotation stays even.
	counts := lbCount(t, &rr, nil, full[1:], 300)
	require.Len(t, counts, 3)
	for _, ep := range full[1:] {
		assert.Equal(t, 100, counts[ep.Addr], ep.Addr)
	}
}

func TestRoundRobinConcurrent(t *testing.T) {
	t.Parallel()
	var rr RoundRobin
	eps := lbEndpoints(5)
	const goroutines, picks = 8, 500
	var mu sync.Mutex
	total := make(map[string]int)
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			counts := lbCount(t, &rr, nil, eps, picks)
			mu.Lock()
			defer mu.Unlock()
			for k, v := range counts {
				total[k] += v
			}
		})
	}
	wg.Wait()
	// The shared counter hands out each position exactly once.
	for _, ep := range eps {
		assert.Equal(t, goroutines*picks/len(eps), total[ep.Addr], ep.Addr)
	}
}
