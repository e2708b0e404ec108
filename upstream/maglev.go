package upstream

import (
	"cmp"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/gatewaykit/gateway/internal/reqinfo"
)

// MaglevConfig configures a [Maglev] balancer.
type MaglevConfig struct {
	// Key returns the request's hash key: requests with the same key go to
	// the same endpoint while the set is unchanged. Use [HashByHeader],
	// [HashByCookie], [HashByClientIP], [HashByPath] or a function of your
	// own. Requests whose key is "" are spread round robin. Required:
	// NewMaglev panics when Key is nil.
	Key func(r *http.Request) string
	// TableSize is the size M of the lookup table, a prime number larger
	// than the number of endpoints (Maglev suggests M > 100 × endpoints).
	// Larger tables balance more evenly and move fewer keys when the set
	// changes, but take longer to build and 4 bytes per entry. A set with
	// more endpoints than TableSize gets a table of the first prime above
	// 100 × endpoints. Zero means 65537. NewMaglev panics when TableSize is
	// negative or not prime.
	TableSize int
}

// DefaultMaglevTableSize is the lookup table size used when
// [MaglevConfig.TableSize] is zero.
const DefaultMaglevTableSize = 65537

// Maglev is a [Balancer] that sends requests with the same key to the same
// endpoint, using the consistent hashing of Google's Maglev load balancer
// (Eisenbud et al., NSDI 2016): each endpoint fills the slots of a lookup
// table of prime size M in the order of its own permutation of the slots
// (offset and skip from two hashes of its address), in turns proportional to
// its weight (Weight zero or less counts as 1). A key's hash indexes the
// table. Each endpoint owns a share of the table within a fraction of a
// percent of its weight's share, and when an endpoint leaves, mostly only
// its own keys move.
//
// The table depends only on the set of addresses and weights, not on their
// order or on the process, and keys are hashed with XXH64, so every gateway
// instance that sees the same set sends a key to the same endpoint.
//
// The table is built when Pick first sees a set and kept until Pick is
// given a different one. A set that is the cached one minus some endpoints,
// but at least half of it (a retry without the endpoint that just failed, or
// endpoints filtered out as unhealthy), is served from the cached table: a
// key owned by a missing endpoint takes the next table slot whose endpoint
// is present, so only the missing endpoints' keys move, and they move back
// when those endpoints return. Any other change builds a new table (a few
// milliseconds for the default size) while concurrent picks wait.
//
// Instances agree on the endpoint of every key as long as they were given
// the same full set: an instance that only ever saw a subset (it started
// while an endpoint was out) built its table without that endpoint, and
// until the endpoint returns it maps a few percent of the other keys
// differently, as any rebuilt Maglev table does.
//
// A Maglev must be created with [NewMaglev] (the zero Maglev has no key and
// spreads every request round robin). It is safe for simultaneous use by
// multiple goroutines. Pick does not allocate, except when it builds a
// table; each pick compares eps with the cached set in O(len(eps)), or
// O(len(eps)·log len(eps)) when eps lists it in another order that is not
// a rotation.
type Maglev struct {
	key      func(*http.Request) string
	clientIP bool // key is HashByClientIP: hash the resolved IP without text
	size     int
	rr       RoundRobin // for requests without a key

	mu  sync.Mutex // serialises table builds (stores to tab)
	tab atomic.Pointer[maglevTable]
}

// NewMaglev returns a Maglev configured by cfg. It panics when cfg.Key is nil
// or cfg.TableSize is negative or not prime.
func NewMaglev(cfg MaglevConfig) *Maglev {
	if cfg.Key == nil {
		panic("upstream: MaglevConfig.Key is nil")
	}
	size := cfg.TableSize
	if size == 0 {
		size = DefaultMaglevTableSize
	}
	if size < 2 || !isPrime(size) {
		panic(fmt.Sprintf("upstream: MaglevConfig.TableSize %d is not a prime", cfg.TableSize))
	}
	return &Maglev{
		key: cfg.Key,
		// HashByClientIP has to build a string for an address resolved
		// through proxies; recognising it lets Pick hash the same text from
		// a stack buffer instead. A func value's code pointer identifies a
		// top-level function.
		clientIP: reflect.ValueOf(cfg.Key).Pointer() == reflect.ValueOf(HashByClientIP).Pointer(),
		size:     size,
	}
}

// Pick returns the endpoint of eps that owns the request's key, or one in
// round-robin order when the key is empty (or r is nil), or
// [ErrNoEndpoints] when eps is empty.
func (m *Maglev) Pick(r *http.Request, eps []Endpoint) (Endpoint, error) {
	switch len(eps) {
	case 0:
		return Endpoint{}, ErrNoEndpoints
	case 1:
		return eps[0], nil
	}
	h, ok := m.hash(r)
	if !ok {
		return m.rr.Pick(r, eps)
	}
	t := m.tab.Load()
	var v setView
	switch t.match(eps, &v) {
	case setSame:
		return t.pick(h, eps, &v), nil
	case setSubset:
		return t.probe(h, eps, &v), nil
	}
	t = m.build(eps)
	v = setView{}
	t.match(eps, &v) // setSame, maybe in another order if built concurrently
	return t.pick(h, eps, &v), nil
}

// hash returns the XXH64 hash of the request's key, and false when the key
// is empty.
func (m *Maglev) hash(r *http.Request) (uint64, bool) {
	if r == nil || m.key == nil {
		return 0, false
	}
	if m.clientIP {
		if info := reqinfo.From(r.Context()); info != nil && info.ClientIP.IsValid() {
			var buf [64]byte
			b := info.ClientIP.AppendTo(buf[:0])
			// The string is only read by xxh64, never kept.
			return xxh64(unsafe.String(unsafe.SliceData(b), len(b)), 0), true
		}
	}
	k := m.key(r)
	if k == "" {
		return 0, false
	}
	return xxh64(k, 0), true
}

// build returns the table for eps, building it unless a concurrent pick
// just did.
func (m *Maglev) build(eps []Endpoint) *maglevTable {
	m.mu.Lock()
	defer m.mu.Unlock()
	var v setView
	if t := m.tab.Load(); t.match(eps, &v) == setSame {
		return t
	}
	size := m.size
	if size == 0 {
		size = DefaultMaglevTableSize // the zero Maglev never gets here
	}
	t := newMaglevTable(eps, size)
	m.tab.Store(t)
	return t
}

// maglevTable is an immutable lookup table for one endpoint set.
type maglevTable struct {
	// The set as it was given when the table was built.
	order        []string
	orderWeights []int // raw Weight fields
	// byAddr holds the indexes of order sorted by address, to look
	// endpoints up when a set comes in another order.
	byAddr []int32
	// lookup maps a slot to the index in order of the endpoint owning it
	// (the first one, for a repeated address), so that a pick from the same
	// set in the same order costs one index.
	lookup []uint32
}

type setMatch int

const (
	setOther  setMatch = iota // build a new table
	setSame                   // the table's set
	setSubset                 // at least half of the table's set, nothing else
)

// setView describes how eps lines up with the table's order, so that pick
// and probe find the index in eps of an order index:
//   - in order, with the order indexes in gaps left out (none for the same
//     set; a retry leaves one out): O(1);
//   - rotated by rot (DNS servers rotate their answers): O(1);
//   - otherwise (another order, or more gaps than fit): a scan of eps.
type setView struct {
	gaps    [4]int
	n       int
	rot     int
	rotated bool
	scan    bool
}

func (v *setView) addGap(o int) {
	if v.n == len(v.gaps) {
		v.scan = true
		return
	}
	v.gaps[v.n] = o
	v.n++
}

// epsIndex returns the index in eps of order index o, or -1 when o is not
// in eps.
func (t *maglevTable) epsIndex(o int, eps []Endpoint, v *setView) int {
	switch {
	case v.scan:
		return indexAddr(eps, t.order[o])
	case v.rotated:
		return (o - v.rot + len(eps)) % len(eps)
	}
	below := 0
	for _, x := range v.gaps[:v.n] {
		if x == o {
			return -1
		}
		if x < o {
			below++
		}
	}
	return o - below
}

// match compares eps with the table's set and records in v how they line
// up.
func (t *maglevTable) match(eps []Endpoint, v *setView) setMatch {
	if t == nil {
		return setOther
	}
	// The common cases in one O(n) walk: the same set in the same order, or
	// the set in order with some endpoints left out.
	i := 0
	for j := range t.order {
		if i < len(eps) && sameAddr(eps[i].Addr, t.order[j]) {
			if !t.sameWeight(j, &eps[i]) {
				return setOther
			}
			i++
			continue
		}
		v.addGap(j)
	}
	if i == len(eps) {
		switch {
		case len(eps) == len(t.order):
			return setSame
		case len(eps)*2 >= len(t.order):
			return setSubset
		}
		return setOther
	}
	*v = setView{}
	if len(eps) > len(t.order) || len(eps)*2 < len(t.order) {
		return setOther
	}
	if len(eps) == len(t.order) && t.rotatedBy(eps, v) {
		return setSame
	}
	// Another order: look each endpoint up, O(n log n).
	v.scan = true
	for i := range eps {
		o := t.find(eps[i].Addr)
		if o < 0 || !t.sameWeight(o, &eps[i]) {
			return setOther
		}
	}
	if len(eps) == len(t.order) {
		return setSame // assumes no address is repeated in eps
	}
	return setSubset
}

// rotatedBy reports whether eps is the table's order rotated, and records
// the rotation in v.
func (t *maglevTable) rotatedBy(eps []Endpoint, v *setView) bool {
	n := len(t.order)
	rot := slices.Index(t.order, eps[0].Addr)
	if rot < 0 {
		return false
	}
	for i := range eps {
		o := rot + i
		if o >= n {
			o -= n
		}
		if eps[i].Addr != t.order[o] || !t.sameWeight(o, &eps[i]) {
			return false
		}
	}
	v.rotated, v.rot = true, rot
	return true
}

// find returns the order index of addr, or -1.
func (t *maglevTable) find(addr string) int {
	k, found := slices.BinarySearchFunc(t.byAddr, addr, func(o int32, addr string) int {
		return cmp.Compare(t.order[o], addr)
	})
	if !found {
		return -1
	}
	return int(t.byAddr[k])
}

func (t *maglevTable) sameWeight(o int, ep *Endpoint) bool {
	w := t.orderWeights[o]
	return ep.Weight == w || weightOf(ep) == weightOf(&Endpoint{Weight: w})
}

// pick returns the endpoint owning the key's slot; eps holds every endpoint
// of the table's set.
func (t *maglevTable) pick(h uint64, eps []Endpoint, v *setView) Endpoint {
	o := int(t.lookup[h%uint64(len(t.lookup))])
	if k := t.epsIndex(o, eps, v); k >= 0 {
		return eps[k]
	}
	return eps[h%uint64(len(eps))] // unreachable: eps has the whole set
}

// maxProbes bounds the slots probe looks at: with at least half of the
// endpoints present, 64 slots in a row owned by absent ones is improbable
// (the slots of distinct endpoints interleave), and the fallback stays
// correct.
const maxProbes = 64

// probe returns the endpoint of eps (a subset of the table's set) owning the
// first slot from the key's slot whose endpoint is present in eps.
func (t *maglevTable) probe(h uint64, eps []Endpoint, v *setView) Endpoint {
	size := uint64(len(t.lookup))
	s := h % size
	for range maxProbes {
		if k := t.epsIndex(int(t.lookup[s]), eps, v); k >= 0 {
			return eps[k]
		}
		if s++; s == size {
			s = 0
		}
	}
	return eps[h%uint64(len(eps))]
}

func indexAddr(eps []Endpoint, addr string) int {
	for k := range eps {
		if eps[k].Addr == addr {
			return k
		}
	}
	return -1
}

// newMaglevTable builds the lookup table for eps with Maglev's population
// algorithm, weighted as Envoy's MaglevTable does: in round k, an endpoint of
// weight w takes its next preferred free slot only if it has taken fewer
// than k·w/maxWeight + 1 slots so far, so endpoints fill the table in
// proportion to their weights.
func newMaglevTable(eps []Endpoint, size int) *maglevTable {
	t := &maglevTable{
		order:        make([]string, len(eps)),
		orderWeights: make([]int, len(eps)),
	}
	for i := range eps {
		t.order[i] = eps[i].Addr
		t.orderWeights[i] = eps[i].Weight
	}
	t.byAddr = make([]int32, len(eps))
	for i := range t.byAddr {
		t.byAddr[i] = int32(i)
	}
	slices.SortStableFunc(t.byAddr, func(a, b int32) int { return cmp.Compare(t.order[a], t.order[b]) })

	// Fill in address order, so that the table does not depend on the order
	// discovery lists the endpoints in. A repeated address counts once, with
	// its first entry's weight.
	type filler struct {
		o         int // index in order
		weight    int64
		pos, skip uint64
		target    int64
	}
	fill := make([]filler, len(eps))
	for i := range eps {
		fill[i] = filler{o: i, weight: weightOf(&eps[i])}
	}
	slices.SortStableFunc(fill, func(a, b filler) int { return cmp.Compare(eps[a.o].Addr, eps[b.o].Addr) })
	fill = slices.CompactFunc(fill, func(a, b filler) bool { return eps[a.o].Addr == eps[b.o].Addr })
	n := len(fill)
	if n >= size {
		size = nextPrime(100 * n)
	}
	usize := uint64(size)
	var maxW int64
	for i := range fill {
		addr := eps[fill[i].o].Addr
		fill[i].pos = xxh64(addr, 0) % usize
		fill[i].skip = xxh64(addr, 1)%(usize-1) + 1
		maxW = max(maxW, fill[i].weight)
	}

	const empty = ^uint32(0)
	lookup := make([]uint32, size)
	for i := range lookup {
		lookup[i] = empty
	}
	filled := 0
	for round := int64(0); filled < size; round++ {
		for i := range fill {
			f := &fill[i]
			if round*f.weight < f.target {
				continue
			}
			f.target += maxW
			for lookup[f.pos] != empty {
				if f.pos += f.skip; f.pos >= usize {
					f.pos -= usize
				}
			}
			lookup[f.pos] = uint32(f.o)
			if f.pos += f.skip; f.pos >= usize {
				f.pos -= usize
			}
			if filled++; filled == size {
				break
			}
		}
	}
	t.lookup = lookup
	return t
}

func isPrime(n int) bool {
	if n < 2 {
		return false
	}
	for d := 2; d*d <= n; d++ {
		if n%d == 0 {
			return false
		}
	}
	return true
}

func nextPrime(n int) int {
	for !isPrime(n) {
		n++
	}
	return n
}

var _ Balancer = (*Maglev)(nil)
