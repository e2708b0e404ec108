package upstream

import (
	"net/http"
	"sync"
	"unsafe"
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

// sameAddr reports whether a == b. Sets from one discovery snapshot share
// their address strings, so the pointer test settles most comparisons
// without a call into the runtime; balancers compare whole sets per pick.
func sameAddr(a, b string) bool {
	return len(a) == len(b) && (unsafe.StringData(a) == unsafe.StringData(b) || a == b)
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
	st    wrrState // the last set picked from
	prev  wrrState // the set before, to restore credit after a retry
	spare wrrState // arrays for the next rebuild, so that alternating between two sets does not allocate
}

// wrrState is the smooth weighted round robin state of one endpoint set.
type wrrState struct {
	addrs   []string // the endpoint set, in the caller's order
	weights []int64  // effective weights, aligned with addrs
	current []int64  // current weights, aligned with addrs
	total   int64
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
	if !w.st.same(eps) {
		w.rebuild(eps)
	}
	best := 0
	cur, weights := w.st.current, w.st.weights
	for i := range cur {
		cur[i] += weights[i]
		if cur[i] > cur[best] {
			best = i
		}
	}
	cur[best] -= w.st.total
	w.mu.Unlock()
	return eps[best], nil
}

// same reports whether eps is the set s was built for.
func (s *wrrState) same(eps []Endpoint) bool {
	if len(eps) != len(s.addrs) {
		return false
	}
	for i := range eps {
		if !sameAddr(eps[i].Addr, s.addrs[i]) || weightOf(&eps[i]) != s.weights[i] {
			return false
		}
	}
	return true
}

// rebuild makes eps the state's set. An endpoint keeps the current weight
// it had in the last set or, failing that, in the set before (so that a
// retry without one endpoint and the return to the full set conserve every
// endpoint's credit); new endpoints start at zero. The algorithm keeps the
// sum of current weights constant, zero for a fresh set; endpoints that leave
// for good take their share with them, so the weights are recentred when
// the sum has drifted far from zero.
func (w *WeightedRoundRobin) rebuild(eps []Endpoint) {
	n := len(eps)
	next := wrrState{
		addrs:   growSlice(w.spare.addrs, n),
		weights: growSlice(w.spare.weights, n),
		current: growSlice(w.spare.current, n),
	}
	var sum int64
	j, pj := 0, 0 // where to resume looking: sets usually keep their order
	for i := range eps {
		addr := eps[i].Addr
		c, ok := int64(0), false
		if c, j, ok = w.st.lookup(addr, j); !ok {
			c, pj, _ = w.prev.lookup(addr, pj)
		}
		next.addrs[i] = addr
		next.weights[i] = weightOf(&eps[i])
		next.total += next.weights[i]
		next.current[i] = c
		sum += c
	}
	if sum > 4*next.total || sum < -4*next.total {
		mean := sum / int64(n)
		for i := range next.current {
			next.current[i] -= mean
		}
	}
	w.spare, w.prev, w.st = w.prev, w.st, next
	clear(w.spare.addrs) // drop references to addresses that may be gone
}

// lookup finds addr in s, starting at from and wrapping around, and returns
// its current weight and the index after it.
func (s *wrrState) lookup(addr string, from int) (int64, int, bool) {
	for k := range s.addrs {
		o := (from + k) % len(s.addrs)
		if s.addrs[o] == addr {
			return s.current[o], o + 1, true
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
