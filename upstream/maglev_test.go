package upstream

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// lbKeyRequest returns a request whose X-Key header is key.
func lbKeyRequest(key string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	if key != "" {
		r.Header.Set("X-Key", key)
	}
	return r
}

// lbAssign maps keys 0..n-1 to endpoint addresses.
func lbAssign(t testing.TB, m *Maglev, eps []Endpoint, n int) []string {
	t.Helper()
	out := make([]string, n)
	r := lbKeyRequest("x")
	for i := range n {
		r.Header["X-Key"][0] = fmt.Sprintf("key-%d", i)
		ep, err := m.Pick(r, eps)
		require.NoError(t, err)
		out[i] = ep.Addr
	}
	return out
}

func newKeyMaglev(size int) *Maglev {
	return NewMaglev(MaglevConfig{Key: HashByHeader("X-Key"), TableSize: size})
}

func TestMaglevSpread(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		weights []int
		size    int
		keys    int // enough that ±10% is more than 5 standard deviations
	}{
		{"ten equal", make([]int, 10), 0, 100_000},
		{"three equal", []int{1, 1, 1}, 0, 20_000},
		{"weighted 1 2 3", []int{1, 2, 3}, 0, 20_000},
		{"weighted 10 1", []int{10, 1}, 0, 30_000},
		{"small prime table", make([]int, 10), 5003, 30_000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			eps := lbEndpoints(len(tt.weights), tt.weights...)
			m := newKeyMaglev(tt.size)
			counts := make(map[string]int)
			keys := tt.keys
			for _, a := range lbAssign(t, m, eps, keys) {
				counts[a]++
			}
			total := 0
			for i := range eps {
				total += int(weightOf(&eps[i]))
			}
			for i, ep := range eps {
				want := float64(keys) * float64(weightOf(&eps[i])) / float64(total)
				assert.InEpsilon(t, want, float64(counts[ep.Addr]), 0.10, ep.Addr)
			}
			// The table itself is within 1% of the weights.
			tab := m.tab.Load()
			slots := make([]int, len(eps))
			for _, o := range tab.lookup {
				slots[o]++
			}
			for i := range eps {
				want := float64(len(tab.lookup)) * float64(weightOf(&eps[i])) / float64(total)
				assert.InEpsilon(t, want, float64(slots[i]), 0.01, eps[i].Addr)
			}
		})
	}
}

func TestMaglevDeterministic(t *testing.T) {
	t.Parallel()
	eps := lbEndpoints(10, 1, 2, 1, 1, 3)
	a := lbAssign(t, newKeyMaglev(0), eps, 2000)
	// Another instance, endpoints listed in another order: same mapping.
	shuffled := slices.Clone(eps)
	rand.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	other := newKeyMaglev(0)
	assert.Equal(t, a, lbAssign(t, other, shuffled, 2000))
	// The same instance given the set in another order keeps its table.
	before := other.tab.Load()
	assert.Equal(t, a, lbAssign(t, other, eps, 2000))
	assert.Same(t, before, other.tab.Load(), "a reordered set must not rebuild the table")
	// Pinned: a change to the hash or the table build would move keys
	// between gateway versions.
	assert.Equal(t, []string{"10.0.0.5:8080", "10.0.0.7:8080", "10.0.0.2:8080"}, a[:3])
}

func TestMaglevMinimalDisruption(t *testing.T) {
	t.Parallel()
	const keys = 20_000
	eps := lbEndpoints(10)
	before := lbAssign(t, newKeyMaglev(0), eps, keys)
	moved := func(after []string) float64 {
		n := 0
		for i := range before {
			if before[i] != after[i] {
				n++
			}
		}
		return float64(n) / keys
	}

	t.Run("rebuilt without one", func(t *testing.T) {
		t.Parallel()
		// A fresh instance that only knows nine endpoints (rebuilt table).
		nine := slices.Delete(slices.Clone(eps), 3, 4)
		frac := moved(lbAssign(t, newKeyMaglev(0), nine, keys))
		assert.Greater(t, frac, 0.09, "at least the removed endpoint's keys move")
		assert.LessOrEqual(t, frac, 0.15)
	})
	t.Run("rebuilt with one more", func(t *testing.T) {
		t.Parallel()
		eleven := append(slices.Clone(eps), Endpoint{Addr: "10.0.1.1:8080"})
		frac := moved(lbAssign(t, newKeyMaglev(0), eleven, keys))
		assert.InDelta(t, 1.0/11, frac, 0.05)
	})
	t.Run("subset served from cached table", func(t *testing.T) {
		t.Parallel()
		m := newKeyMaglev(0)
		lbAssign(t, m, eps, 10)
		tab := m.tab.Load()
		nine := slices.Delete(slices.Clone(eps), 3, 4)
		after := lbAssign(t, m, nine, keys)
		assert.Same(t, tab, m.tab.Load(), "a subset must not rebuild")
		for i := range before {
			if before[i] != eps[3].Addr {
				require.Equal(t, before[i], after[i], "key %d of a present endpoint moved", i)
			}
			require.NotEqual(t, eps[3].Addr, after[i])
		}
		assert.InDelta(t, 0.1, moved(after), 0.02)
		// Back to the full set: every key returns.
		assert.Equal(t, before, lbAssign(t, m, eps, keys))
	})
}

func TestMaglevReorderedSets(t *testing.T) {
	t.Parallel()
	eps := lbEndpoints(9, 1, 2, 3)
	m := newKeyMaglev(0)
	want := lbAssign(t, m, eps, 3000)
	tab := m.tab.Load()
	tests := []struct {
		name    string
		eps     []Endpoint
		rotated bool
	}{
		{"rotated", append(slices.Clone(eps[4:]), eps[:4]...), true},
		{"rotated by one", append(slices.Clone(eps[8:]), eps[:8]...), true},
		{"reversed", func() []Endpoint { r := slices.Clone(eps); slices.Reverse(r); return r }(), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var v setView
			require.Equal(t, setSame, tab.match(tt.eps, &v))
			assert.Equal(t, tt.rotated, v.rotated)
			assert.Equal(t, !tt.rotated, v.scan)
			assert.Equal(t, want, lbAssign(t, m, tt.eps, 3000))
			assert.Same(t, tab, m.tab.Load(), "a reordered set must not rebuild")
		})
	}
	// A reordered set with another weight is a new set.
	changed := append(slices.Clone(eps[4:]), eps[:4]...)
	changed[0].Weight = 7
	var v setView
	assert.Equal(t, setOther, tab.match(changed, &v))
}

func TestMaglevSubsetPaths(t *testing.T) {
	t.Parallel()
	eps := lbEndpoints(12)
	tests := []struct {
		name string
		drop []int
	}{
		{"one gap", []int{5}},
		{"first and last", []int{0, 11}},
		{"four gaps", []int{1, 3, 5, 7}},
		{"six gaps, more than tracked", []int{0, 2, 4, 6, 8, 10}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := newKeyMaglev(0)
			full := lbAssign(t, m, eps, 3000)
			var subset []Endpoint
			for i, ep := range eps {
				if !slices.Contains(tt.drop, i) {
					subset = append(subset, ep)
				}
			}
			inOrder := lbAssign(t, m, subset, 3000)
			shuffled := slices.Clone(subset)
			rand.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
			assert.Equal(t, inOrder, lbAssign(t, m, shuffled, 3000), "order of the subset must not matter")
			for i := range full {
				dropped := slices.ContainsFunc(tt.drop, func(d int) bool { return eps[d].Addr == full[i] })
				if !dropped {
					require.Equal(t, full[i], inOrder[i], "key %d of a present endpoint moved", i)
				}
				require.True(t, slices.ContainsFunc(subset, func(e Endpoint) bool { return e.Addr == inOrder[i] }))
			}
		})
	}
}

func TestMaglevSetChanges(t *testing.T) {
	t.Parallel()
	m := newKeyMaglev(0)
	eps := lbEndpoints(6)
	r := lbKeyRequest("user-1")

	_, err := m.Pick(r, nil)
	require.ErrorIs(t, err, ErrNoEndpoints)
	one, err := m.Pick(r, eps[:1])
	require.NoError(t, err)
	assert.Equal(t, eps[0], one)

	first, err := m.Pick(r, eps)
	require.NoError(t, err)
	tab := m.tab.Load()

	// Less than half the set: rebuilt for the small set.
	_, err = m.Pick(r, eps[:2])
	require.NoError(t, err)
	assert.NotSame(t, tab, m.tab.Load())

	// A new endpoint or a weight change rebuilds too.
	_, err = m.Pick(r, eps)
	require.NoError(t, err)
	tab = m.tab.Load()
	heavier := slices.Clone(eps)
	heavier[0].Weight = 5
	_, err = m.Pick(r, heavier)
	require.NoError(t, err)
	assert.NotSame(t, tab, m.tab.Load(), "weight change")

	again, err := m.Pick(r, eps)
	require.NoError(t, err)
	assert.Equal(t, first, again)

	// Duplicated addresses collapse into one endpoint and do not thrash.
	dup := append(slices.Clone(eps), eps[2])
	_, err = m.Pick(r, dup)
	require.NoError(t, err)
	tab = m.tab.Load()
	owners := make(map[uint32]bool)
	for _, o := range tab.lookup {
		owners[o] = true
	}
	assert.Len(t, owners, 6, "a repeated address owns slots once")
	assert.False(t, owners[6], "slots go to the first entry of a repeated address")
	_, err = m.Pick(r, dup)
	require.NoError(t, err)
	assert.Same(t, tab, m.tab.Load())
}

func TestMaglevEmptyKeyRoundRobin(t *testing.T) {
	t.Parallel()
	m := newKeyMaglev(0)
	eps := lbEndpoints(4)
	counts := lbCount(t, m, lbKeyRequest(""), eps, 400)
	for _, ep := range eps {
		assert.Equal(t, 100, counts[ep.Addr], ep.Addr)
	}
	assert.Nil(t, m.tab.Load(), "keyless requests need no table")

	counts = lbCount(t, m, nil, eps, 400)
	for _, ep := range eps {
		assert.Equal(t, 100, counts[ep.Addr], "nil request: %s", ep.Addr)
	}

	var zero Maglev
	counts = lbCount(t, &zero, lbKeyRequest("k"), eps, 400)
	for _, ep := range eps {
		assert.Equal(t, 100, counts[ep.Addr], "zero Maglev: %s", ep.Addr)
	}
}

func TestMaglevClientIPFastPath(t *testing.T) {
	t.Parallel()
	eps := lbEndpoints(10)
	fast := NewMaglev(MaglevConfig{Key: HashByClientIP})
	require.True(t, fast.clientIP)
	// The same function behind a closure takes the generic path.
	slow := NewMaglev(MaglevConfig{Key: func(r *http.Request) string { return HashByClientIP(r) }})
	require.False(t, slow.clientIP)
	for i := range 500 {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		if i%2 == 0 {
			r = withClientIP(r, fmt.Sprintf("2001:db8::%x", i))
		} else {
			r = withClientIP(r, fmt.Sprintf("198.51.100.%d", i%250))
		}
		a, err := fast.Pick(r, eps)
		require.NoError(t, err)
		b, err := slow.Pick(r, eps)
		require.NoError(t, err)
		require.Equal(t, b, a, "request %d", i)
	}
	// Without a resolved address, the peer's address is the key.
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	a, _ := fast.Pick(r, eps)
	b, _ := slow.Pick(r, eps)
	assert.Equal(t, b, a)
}

func TestMaglevConfigPanics(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  MaglevConfig
	}{
		{"nil key", MaglevConfig{}},
		{"not prime", MaglevConfig{Key: HashByPath, TableSize: 65536}},
		{"negative", MaglevConfig{Key: HashByPath, TableSize: -7}},
		{"one", MaglevConfig{Key: HashByPath, TableSize: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Panics(t, func() { NewMaglev(tt.cfg) })
		})
	}
	assert.NotPanics(t, func() { NewMaglev(MaglevConfig{Key: HashByPath, TableSize: 7}) })
}

func TestMaglevMoreEndpointsThanSlots(t *testing.T) {
	t.Parallel()
	m := newKeyMaglev(7)
	eps := lbEndpoints(20)
	counts := make(map[string]int)
	for _, a := range lbAssign(t, m, eps, 20_000) {
		counts[a]++
	}
	assert.Len(t, counts, 20, "every endpoint owns slots")
	assert.Equal(t, 2003, len(m.tab.Load().lookup), "first prime ≥ 100 × 20")
}

func TestMaglevConcurrent(t *testing.T) {
	t.Parallel()
	m := newKeyMaglev(1009)
	sets := [][]Endpoint{lbEndpoints(8), lbEndpoints(8)[1:], lbEndpoints(12), lbEndpoints(3)}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			r := lbKeyRequest("k")
			for i := range 1000 {
				set := sets[(g+i/100)%len(sets)]
				r.Header["X-Key"][0] = fmt.Sprint(i)
				ep, err := m.Pick(r, set)
				if !assert.NoError(t, err) {
					return
				}
				assert.True(t, slices.ContainsFunc(set, func(e Endpoint) bool { return e.Addr == ep.Addr }),
					"picked %s outside the set", ep.Addr)
			}
		})
	}
	wg.Wait()
}
