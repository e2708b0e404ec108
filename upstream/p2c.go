package upstream

import (
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// LeastRequest is a [Balancer] and [Observer] that sends each request to the
// less loaded of two distinct endpoints drawn at random ("power of two
// choices", Envoy's LEAST_REQUEST): load is the endpoint's number of
// requests in flight, counted through Begin and End, divided by its weight
// (Weight zero or less counts as 1), so an endpoint of weight 2 is given
// twice the concurrency of one of weight 1. Two random choices avoid the herd
// that a global "least loaded" pick sends to one endpoint, and cost O(1).
//
// The zero LeastRequest is ready to use. In-flight counts are kept per
// endpoint address, so they survive the set changing between calls; entries
// for addresses that have been idle and out of every recent set are dropped
// now and then, so endpoint churn does not grow the state without bound.
// LeastRequest is safe for simultaneous use by multiple goroutines and must
// not be copied after first use. Pick, Begin and End do not allocate, except
// Begin the first time it sees an address.
type LeastRequest struct {
	t p2cTable
}

// Pick returns the less loaded of two random endpoints of eps, or
// [ErrNoEndpoints] when eps is empty.
func (lr *LeastRequest) Pick(_ *http.Request, eps []Endpoint) (Endpoint, error) {
	n := len(eps)
	switch n {
	case 0:
		return Endpoint{}, ErrNoEndpoints
	case 1:
		return eps[0], nil
	}
	i, j := lr.t.pair(n)
	a, b := &eps[i], &eps[j]
	la := lr.t.get(a.Addr).load()
	lb := lr.t.get(b.Addr).load()
	// (lb+1)/wb < (la+1)/wa, without division. The +1 makes an idle heavy
	// endpoint beat an idle light one.
	if (lb+1)*weightOf(a) < (la+1)*weightOf(b) {
		return *b, nil
	}
	return *a, nil
}

// Begin counts a request in flight to ep.
func (lr *LeastRequest) Begin(ep Endpoint) {
	lr.t.getOrCreate(ep.Addr).inflight.Add(1)
}

// End counts the request begun on ep as done; the latency and error are not
// used.
func (lr *LeastRequest) End(ep Endpoint, _ time.Duration, _ error) {
	if e := lr.t.get(ep.Addr); e != nil {
		e.done()
	}
}

var (
	_ Balancer = (*LeastRequest)(nil)
	_ Observer = (*LeastRequest)(nil)
)

// p2cEntry is the state of one endpoint address for the power-of-two-choices
// balancers.
type p2cEntry struct {
	inflight atomic.Int64
	seen     atomic.Uint64 // the table epoch in which the entry was last used

	mu sync.Mutex
	// protects the fields below (PeakEWMA only)
	ewma    float64 // latency estimate in nanoseconds, as of stamp
	stamp   int64   // monotonic nanoseconds of the last sample
	sampled bool    // whether ewma holds a sample yet
}

// load returns the entry's requests in flight; a nil entry has none.
func (e *p2cEntry) load() int64 {
	if e == nil {
		return 0
	}
	return max(e.inflight.Load(), 0)
}

// done decrements the in-flight count, never below zero: an End whose Begin
// counted on an entry that was pruned meanwhile must not make a fresh entry
// look less than idle.
func (e *p2cEntry) done() {
	for {
		n := e.inflight.Load()
		if n <= 0 || e.inflight.CompareAndSwap(n, n-1) {
			return
		}
	}
}

// p2cTable maps endpoint addresses to their state. Readers load an
// immutable map through an atomic pointer; writers (a new address, pruning)
// copy it under mu, which happens only when the endpoint set changes.
//
// Pruning: every entry records the epoch in which it was last looked up.
// About every pruneEvery+16·len(eps) picks a pick advances the epoch and
// drops the entries that are idle (nothing in flight) and were not looked up
// during the two previous epochs. Each pick looks up two random endpoints of
// the current set, so a live endpoint goes unseen for that long with
// probability below e^-64, and even then only its idle state is dropped.
// The table thus holds the live set plus the addresses seen in the last
// two or three epochs, whatever the churn.
type p2cTable struct {
	mu    sync.Mutex // serialises writers of m
	m     atomic.Pointer[map[string]*p2cEntry]
	epoch atomic.Uint64
}

// pruneEvery is the base number of picks per epoch.
const pruneEvery = 4096

// pair returns two distinct random indexes below n (n >= 2), and now and then
// prunes the table.
func (t *p2cTable) pair(n int) (int, int) {
	x := rand.Uint64()
	i := int((x >> 32) * uint64(n) >> 32)
	j := int((x & 0xffffffff) * uint64(n-1) >> 32)
	if j >= i {
		j++
	}
	// The epoch scales with the live set, not the table: a table swollen
	// by churn must not slow its own pruning down.
	if rand.Uint64N(uint64(pruneEvery+16*n)) == 0 {
		t.prune()
	}
	return i, j
}

// get returns the entry for addr, or nil.
func (t *p2cTable) get(addr string) *p2cEntry {
	m := t.m.Load()
	if m == nil {
		return nil
	}
	e := (*m)[addr]
	if e != nil {
		if ep := t.epoch.Load(); e.seen.Load() != ep {
			e.seen.Store(ep)
		}
	}
	return e
}

// getOrCreate returns the entry for addr, adding one if needed.
func (t *p2cTable) getOrCreate(addr string) *p2cEntry {
	if e := t.get(addr); e != nil {
		return e
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	old := t.m.Load()
	var m map[string]*p2cEntry
	if old != nil {
		if e := (*old)[addr]; e != nil {
			return e
		}
		m = make(map[string]*p2cEntry, len(*old)+1)
		for k, v := range *old {
			m[k] = v
		}
	} else {
		m = make(map[string]*p2cEntry, 1)
	}
	e := new(p2cEntry)
	e.seen.Store(t.epoch.Load())
	m[addr] = e
	t.m.Store(&m)
	return e
}

// prune advances the epoch and drops stale idle entries (see p2cTable).
func (t *p2cTable) prune() {
	if !t.mu.TryLock() {
		return // another goroutine is writing; prune next time
	}
	defer t.mu.Unlock()
	epoch := t.epoch.Add(1)
	old := t.m.Load()
	if old == nil {
		return
	}
	stale := func(e *p2cEntry) bool { return e.inflight.Load() <= 0 && e.seen.Load()+2 < epoch }
	drop := 0
	for _, e := range *old {
		if stale(e) {
			drop++
		}
	}
	if drop == 0 {
		return
	}
	m := make(map[string]*p2cEntry, len(*old)-drop)
	for k, e := range *old {
		if !stale(e) {
			m[k] = e
		}
	}
	t.m.Store(&m)
}
