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
// when those endpoints return. Any other change builds a new table (about a
// millisecond for the default size) while concurrent picks wait.
//
// A Maglev must be created with [NewMaglev]. It is safe for simultaneous use
// by multiple goroutines. Pick does not allocate, except when it builds a
// table; each pick compares eps with the cached set, O(len(eps)).
type Maglev struct {
	key      func(*http.Request) string
	clientIP bool // key is HashByClientIP: hash the resolved IP without text
	size     int
	rr       RoundRobin // for requests without a key
	tab      atomic.Pointer[maglevTable]

	mu sync.Mutex // serialises table builds
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
// round-robin order when the key is empty, or [ErrNoEndpoints] when eps is
// empty.
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
	switch t.match(eps) {
	case setSame:
		return t.eps[t.lookup[h%uint64(len(t.lookup))]], nil
	case setSubset:
		return t.probe(h, eps), nil
	}
	t = m.build(eps)
	return t.eps[t.lookup[h%uint64(len(t.lookup))]], nil
}

// hash returns the XXH64 hash of the request's key, and false when the key
// is empty.
func (m *Maglev) hash(r *http.Request) (uint64, bool) {
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
	if t := m.tab.Load(); t.match(eps) == setSame {
		return t
	}
	t := newMaglevTable(eps, m.size)
	m.tab.Store(t)
	return t
}

// maglevTable is an immutable lookup table for one endpoint set.
type maglevTable struct {
	eps    []Endpoint // distinct addresses, sorted by Addr
	lookup []uint32   // slot -> index in eps
	// The set as it was given, to recognise it cheaply on the next pick.
	order        []string
	orderWeights []int64
}

type setMatch int

const (
	setOther  setMatch = iota // build a new table
	setSame                   // the cached set
	setSubset                 // at least half of the cached set, nothing else
)

// match compares eps with the table's set.
func (t *maglevTable) match(eps []Endpoint) setMatch {
	if t == nil {
		return setOther
	}
	if len(eps) == len(t.order) {
		same := true
		for i := range eps {
			if eps[i].Addr != t.order[i] || weightOf(&eps[i]) != t.orderWeights[i] {
				same = false
				break
			}
		}
		if same {
			return setSame
		}
	}
	// Another order, or a subset: look each endpoint up.
	if len(eps)*2 < len(t.eps) || len(eps) > len(t.eps) {
		return setOther
	}
	for i := range eps {
		k, found := slices.BinarySearchFunc(t.eps, eps[i].Addr, func(e Endpoint, addr string) int {
			return cmp.Compare(e.Addr, addr)
		})
		if !found || weightOf(&eps[i]) != t.weightAt(k) {
			return setOther
		}
	}
	if len(eps) == len(t.eps) {
		return setSame // same distinct addresses, in another order
	}
	return setSubset
}

// weightAt returns the weight the table gave t.eps[k].
func (t *maglevTable) weightAt(k int) int64 { return weightOf(&t.eps[k]) }

// maxProbes bounds the slots probe looks at: with at least half of the
// endpoints present, 64 slots all owned by absent ones is improbable (the
// slots of distinct endpoints interleave), and the fallback stays correct.
const maxProbes = 64

// probe returns the endpoint of eps (a subset of the table's set) owning the
// first slot from the key's slot whose endpoint is present in eps.
func (t *maglevTable) probe(h uint64, eps []Endpoint) Endpoint {
	size := uint64(len(t.lookup))
	s := h % size
	for range maxProbes {
		addr := t.eps[t.lookup[s]].Addr
		for i := range eps {
			if eps[i].Addr == addr {
				return eps[i]
			}
		}
		if s++; s == size {
			s = 0
		}
	}
	return eps[h%uint64(len(eps))]
}

// newMaglevTable builds the lookup table for eps with Maglev's population
// algorithm, weighted as Envoy's MaglevTable does: in round k, an endpoint of
// weight w takes its next preferred free slot only if it has taken fewer
// than k·w/maxWeight + 1 slots so far, so endpoints fill the table in
// proportion to their weights.
func newMaglevTable(eps []Endpoint, size int) *maglevTable {
	t := &maglevTable{
		order:        make([]string, len(eps)),
		orderWeights: make([]int64, len(eps)),
	}
	for i := range eps {
		t.order[i] = eps[i].Addr
		t.orderWeights[i] = weightOf(&eps[i])
	}

	// Distinct addresses in address order, so that the table does not depend
	// on the order discovery lists them in. A repeated address keeps its
	// first entry.
	sorted := slices.Clone(eps)
	slices.SortStableFunc(sorted, func(a, b Endpoint) int { return cmp.Compare(a.Addr, b.Addr) })
	sorted = slices.CompactFunc(sorted, func(a, b Endpoint) bool { return a.Addr == b.Addr })
	t.eps = slices.Clip(sorted)
	n := len(t.eps)
	if n >= size {
		size = nextPrime(100 * n)
	}

	type fill struct {
		pos, skip uint64
		weight    int64
		target    int64
	}
	st := make([]fill, n)
	var maxW int64
	for i := range t.eps {
		addr := t.eps[i].Addr
		st[i] = fill{
			pos:    xxh64(addr, 0) % uint64(size),
			skip:   xxh64(addr, 1)%uint64(size-1) + 1,
			weight: weightOf(&t.eps[i]),
		}
		maxW = max(maxW, st[i].weight)
	}

	const empty = ^uint32(0)
	lookup := make([]uint32, size)
	for i := range lookup {
		lookup[i] = empty
	}
	usize := uint64(size)
	filled := 0
	for round := int64(0); filled < size; round++ {
		for i := range st {
			e := &st[i]
			if round*e.weight < e.target {
				continue
			}
			e.target += maxW
			for lookup[e.pos] != empty {
				if e.pos += e.skip; e.pos >= usize {
					e.pos -= usize
				}
			}
			lookup[e.pos] = uint32(i)
			if e.pos += e.skip; e.pos >= usize {
				e.pos -= usize
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
