package upstream

import (
	"net/http"
	"sync"
)

// maxWeight bounds the weight a balancer honours, so that sums over large
// sets cannot overflow.
const maxWeight = 1 << 24

// weightOf returns ep's effective weight: Weight, where zero or less means 1,
// capped at maxWeight.
func weightOf(ep *Endpoint) int64 {
	switch w := ep.Weight; {
	case w <= 0:
		return 1
	case w > maxWeight:
		return maxWeight
	default:
		return int64(w)
	}
}

// WeightedRoundRobin is a [Balancer] that spreads requests in proportion to
// the endpoints' weights with nginx's smooth weighted round robin: on every
// pick each endpoint's current weight grows by its weight, the endpoint with
// the highest current weight wins (the first one on ties), and the winner's
// current weight drops by the total. Weights 5, 1, 1 give the sequence
// a a b a c a a, interleaving the light endpoints instead of sending bursts.
// Weight zero or less counts as 1; weights above 1<<24 count as 1<<24.
//
// The zero WeightedRoundRobin is ready to use. It keeps the current weights
// for the last endpoint set it saw, compared on every pick by address and
// weight (O(len(eps)), as the pick itself is); when the set changes the state
// is rebuilt, carrying the current weight of each endpoint that remains, so a
// retry that leaves out one endpoint does not restart the sequence.
//
// WeightedRoundRobin is safe for simultaneous use by multiple goroutines
// (picks are serialised by a mutex) and must not be copied after first use.
// Pick does not allocate once the state has grown to the set's size.
type WeightedRoundRobin struct {
	mu sync.Mutex
	// protects the fields below
	addrs   []string // the endpoint set, in the caller's order
	weights []int64  // effective weights, aligned with addrs
	current []int64  // current weights, aligned with addrs
	total   int64
	// spare buffers the next rebuild fills, so rebuilds between two sets
	// (a retry and back) do not allocate.
	spareAddrs             []string
	spareWeights, spareCur []int64
}

// Pick returns the next endpoint of eps in the smooth weighted sequence, or
// [ErrNoEndpoints] when eps is empty.
func (w *WeightedRoundRobin) Pick(_ *http.Request, eps []Endpoint) (Endpoint, error) {
	switch len(eps) {
	case 0:
		return Endpoint{}, ErrNoEndpoints
	case 1:
		return eps[0], nil
	}
	w.mu.Lock()
	if !w.same(eps) {
		w.rebuild(eps)
	}
	best := 0
	cur := w.current
	for i := range cur {
		cur[i] += w.weights[i]
		if cur[i] > cur[best] {
			best = i
		}
	}
	cur[best] -= w.total
	w.mu.Unlock()
	return eps[best], nil
}

// same reports whether eps is the set the state was built for.
func (w *WeightedRoundRobin) same(eps []Endpoint) bool {
	if len(eps) != len(w.addrs) {
		return false
	}
	for i := range eps {
		if eps[i].Addr != w.addrs[i] || weightOf(&eps[i]) != w.weights[i] {
			return false
		}
	}
	return true
}

// rebuild makes eps the state's set. An endpoint keeps the current weight
// it had in the previous set or, failing that, in the set before (so that a
// retry without one endpoint and the return to the full set conserve every
// endpoint's credit); new endpoints start at zero. The algorithm keeps the
// sum of current weights constant, zero for a fresh set; endpoints that leave
// for good take their share with them, so the weights are recentred when
// the sum has drifted far from zero.
func (w *WeightedRoundRobin) rebuild(eps []Endpoint) {
	n := len(eps)
	addrs := growSlice(w.spareAddrs, n)
	weights := growSlice(w.spareWeights, n)
	cur := growSlice(w.spareCur, n)
	// Read the set before from copies of the headers: addrs and cur reuse
	// its arrays and overwrite them below.
	prevAddrs, prevCur := w.spareAddrs, w.spareCur
	var total, sum int64
	j, pj := 0, 0 // where to resume looking: sets usually keep their order
	for i := range eps {
		addr := eps[i].Addr
		c, ok := int64(0), false
		if c, j, ok = lookupCurrent(w.addrs, w.current, addr, j); !ok {
			c, pj, _ = lookupCurrent(prevAddrs, prevCur, addr, pj)
		}
		addrs[i] = addr
		weights[i] = weightOf(&eps[i])
		total += weights[i]
		cur[i] = c
		sum += c
	}
	if sum > 4*total || sum < -4*total {
		mean := sum / int64(n)
		for i := range cur {
			cur[i] -= mean
		}
	}
	w.spareAddrs, w.spareWeights, w.spareCur = w.addrs, w.weights, w.current
	w.addrs, w.weights, w.current, w.total = addrs, weights, cur, total
}

// lookupCurrent finds addr in addrs, starting at from and wrapping around,
// and returns its current weight and the index after it.
func lookupCurrent(addrs []string, cur []int64, addr string, from int) (int64, int, bool) {
	for k := range addrs {
		o := (from + k) % len(addrs)
		if addrs[o] == addr {
			return cur[o], o + 1, true
		}
	}
	return 0, from, false
}

// growSlice returns s resized to n, reusing its array when large enough.
func growSlice[T any](s []T, n int) []T {
	if cap(s) >= n {
		return s[:n]
	}
	return make([]T, n)
}

var _ Balancer = (*WeightedRoundRobin)(nil)
