package upstream

import (
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRandomDistribution(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		weights []int
		share   []float64
	}{
		{"uniform", []int{0, 0, 0, 0}, []float64{0.25, 0.25, 0.25, 0.25}},
		{"equal explicit", []int{3, 3}, []float64{0.5, 0.5}},
		{"weighted", []int{1, 2, 3}, []float64{1.0 / 6, 2.0 / 6, 3.0 / 6}},
		{"negative is one", []int{-5, 1, 2}, []float64{0.25, 0.25, 0.5}},
		{"huge capped", []int{1 << 30, 1 << 24}, []float64{0.5, 0.5}},
	}
	const picks = 100_000
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			eps := lbEndpoints(len(tt.weights), tt.weights...)
			counts := lbCount(t, Random{}, nil, eps, picks)
			for i, ep := range eps {
				// ±5% relative is more than 5 standard deviations here.
				assert.InEpsilon(t, tt.share[i]*picks, float64(counts[ep.Addr]), 0.05, ep.Addr)
			}
		})
	}
}

func TestRandomDeterministicCases(t *testing.T) {
	t.Parallel()
	var r Random
	_, err := r.Pick(nil, nil)
	require.ErrorIs(t, err, ErrNoEndpoints)
	eps := lbEndpoints(1, 7)
	for range 10 {
		ep, err := r.Pick(nil, eps)
		require.NoError(t, err)
		assert.Equal(t, eps[0], ep)
	}
}

func TestRandomConcurrent(t *testing.T) {
	t.Parallel()
	eps := lbEndpoints(3, 1, 1, 2)
	var wg sync.WaitGroup
	var mu sync.Mutex
	total := 0
	for range 8 {
		wg.Go(func() {
			counts := lbCount(t, Random{}, nil, eps, 1000)
			mu.Lock()
			defer mu.Unlock()
			for _, v := range counts {
				total += v
			}
		})
	}
	wg.Wait()
	assert.Equal(t, 8000, total)
}
