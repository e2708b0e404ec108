package upstream

import (
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWeightedRoundRobinSequence(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		weights []int
		want    string // one letter per pick: a = eps[0], b = eps[1]...
	}{
		{"nginx 5 1 1", []int{5, 1, 1}, "aabacaa" + "aabacaa"},
		{"equal", []int{1, 1, 1}, "abcabc"},
		{"zero and negative are one", []int{0, -3}, "abab"},
		{"2 1", []int{2, 1}, "aba" + "aba"},
		{"3 2", []int{3, 2}, "ababa"},
		{"single", []int{4}, "aaa"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var w WeightedRoundRobin
			eps := lbEndpoints(len(tt.weights), tt.weights...)
			var got strings.Builder
			for range len(tt.want) {
				ep, err := w.Pick(nil, eps)
				require.NoError(t, err)
				for i := range eps {
					if eps[i].Addr == ep.Addr {
						got.WriteByte(byte('a' + i))
					}
				}
			}
			assert.Equal(t, tt.want, got.String())
		})
	}
}

func TestWeightedRoundRobinDistribution(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		weights []int
	}{
		{"1 2 3 4", []int{1, 2, 3, 4}},
		{"100 1", []int{100, 1}},
		{"ten equal", []int{1, 1, 1, 1, 1, 1, 1, 1, 1, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var w WeightedRoundRobin
			eps := lbEndpoints(len(tt.weights), tt.weights...)
			total := 0
			for _, x := range tt.weights {
				total += x
			}
			// Whole cycles give exact shares.
			counts := lbCount(t, &w, nil, eps, 7*total)
			for i, ep := range eps {
				assert.Equal(t, 7*tt.weights[i], counts[ep.Addr], ep.Addr)
			}
		})
	}
}

func TestWeightedRoundRobinSetChange(t *testing.T) {
	t.Parallel()
	var w WeightedRoundRobin
	full := lbEndpoints(3, 4, 2, 2)
	_, err := w.Pick(nil, nil)
	require.ErrorIs(t, err, ErrNoEndpoints)

	// Interleave retries that leave one endpoint out: the retry never gets
	// the excluded endpoint, and the shares of all picks (the retries
	// included) stay within 10% of the weights, since the retained state
	// carries every endpoint's credit across the set changes (the sequence
	// is deterministic; the constraint on retries makes exact shares
	// impossible).
	counts := make(map[string]int)
	for i := range 8000 {
		ep, err := w.Pick(nil, full)
		require.NoError(t, err)
		counts[ep.Addr]++
		if i%10 == 0 {
			retry := append([]Endpoint(nil), full[:0]...)
			for _, e := range full {
				if e.Addr != ep.Addr {
					retry = append(retry, e)
				}
			}
			got, err := w.Pick(nil, retry)
			require.NoError(t, err)
			assert.NotEqual(t, ep.Addr, got.Addr, "retry picked the excluded endpoint")
			counts[got.Addr]++
		}
	}
	assert.InEpsilon(t, 4400, counts[full[0].Addr], 0.1)
	assert.InEpsilon(t, 2200, counts[full[1].Addr], 0.1)
	assert.InEpsilon(t, 2200, counts[full[2].Addr], 0.1)

	// Discovery replaces the set: new endpoints and new weights take effect.
	next := []Endpoint{{Addr: "10.1.0.1:80", Weight: 1}, full[0], {Addr: "10.1.0.2:80", Weight: 3}}
	counts = lbCount(t, &w, nil, next, 800)
	assert.Equal(t, 100, counts["10.1.0.1:80"])
	assert.Equal(t, 400, counts[full[0].Addr])
	assert.Equal(t, 300, counts["10.1.0.2:80"])

	// A weight change alone is a set change too.
	next[0].Weight = 4
	counts = lbCount(t, &w, nil, next, 1100)
	assert.Equal(t, 400, counts["10.1.0.1:80"])
}

func TestWeightedRoundRobinConservesCredit(t *testing.T) {
	t.Parallel()
	var w WeightedRoundRobin
	full := lbEndpoints(5, 5, 3, 1, 1, 2)
	sum := func() int64 {
		var s int64
		for _, c := range w.st.current {
			s += c
		}
		return s
	}
	for i := range 500 {
		ep, err := w.Pick(nil, full)
		require.NoError(t, err)
		require.Zero(t, sum(), "round %d: credit lost or created", i)
		// A retry set without the picked endpoint, in another order.
		var retry []Endpoint
		for _, e := range full {
			if e.Addr != ep.Addr {
				retry = append([]Endpoint{e}, retry...)
			}
		}
		got, err := w.Pick(nil, retry)
		require.NoError(t, err)
		require.NotEqual(t, ep.Addr, got.Addr)
	}
	// The same set in another order keeps the state by address: counts over
	// whole cycles stay within one pick of the weights.
	var w2 WeightedRoundRobin
	reversed := slices.Clone(full)
	slices.Reverse(reversed)
	counts := make(map[string]int)
	for i := range 12 * 10 {
		set := full
		if i%2 == 1 {
			set = reversed
		}
		ep, err := w2.Pick(nil, set)
		require.NoError(t, err)
		counts[ep.Addr]++
	}
	for _, ep := range full {
		assert.InDelta(t, 10*ep.Weight, counts[ep.Addr], 1, ep.Addr)
	}
}

func TestWeightedRoundRobinConcurrent(t *testing.T) {
	t.Parallel()
	var w WeightedRoundRobin
	eps := lbEndpoints(3, 5, 1, 1)
	const goroutines, picks = 8, 700 // 8*700 = 800 whole cycles of 7
	var mu sync.Mutex
	total := make(map[string]int)
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			counts := lbCount(t, &w, nil, eps, picks)
			mu.Lock()
			defer mu.Unlock()
			for k, v := range counts {
				total[k] += v
			}
		})
	}
	wg.Wait()
	assert.Equal(t, 4000, total[eps[0].Addr])
	assert.Equal(t, 800, total[eps[1].Addr])
	assert.Equal(t, 800, total[eps[2].Addr])
}
