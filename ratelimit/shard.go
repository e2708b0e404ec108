package ratelimit

import (
	"math"
	"strings"
	"sync"
	"unsafe"

	"golang.org/x/time/rate"
)

// shard is one lock's worth of a Local limiter's keys: a map from key to a
// slot in parallel slices, an intrusive doubly linked list over the slots in
// insertion order with second-chance (CLOCK) eviction, a free list, and
// int32 indices throughout (no pointers for the GC to chase).
//
// Second chance approximates LRU without moving a slot on every hit: a hit
// only sets the slot's ref bit (on the cache line it writes anyway); when
// room is needed, a referenced tail slot is moved to the front with its bit
// cleared, and the first unreferenced one is evicted.
type shard struct {
	mu sync.Mutex
	// protects every field below
	index   map[string]int32
	ents    []entry
	state   []int64         // GCRA: k theoretical arrival times per slot
	buckets []*rate.Limiter // TokenBucket: k limiters per slot
	free    int32           // head of the free-slot list (linked by next), -1 when empty
	head    int32           // most recently used slot, -1 when empty
	tail    int32           // next eviction candidate, -1 when empty
	n       int             // slots in use
	peak    int             // largest n since the last compaction
	bytes   int64           // estimated bytes held
	evicted uint64
	expired uint64

	maxKeys  int
	maxBytes int64
	k        int
	tb       bool
	_        [64]byte // keep neighbouring shards' locks off this cache line
}

type entry struct {
	key        string
	prev, next int32
	last       int64 // last use, ns since the limiter's epoch
	ref        bool  // used since it was last at the tail
}

// Estimated per-key costs used for MaxBytes accounting. They are upper
// bounds of what the runtime holds: the slot (entry), its share of a Swiss
// map group (16-byte string header, 4-byte value, control byte, load factor
// 7/8), the cloned key rounded to the allocator's 8-byte classes, and the
// per-window state; slices and the map grow by doubling, so up to half of
// their backing arrays can be empty, which the factor 3/2 covers.
var (
	slotBytes   = int64(unsafe.Sizeof(entry{}))
	mapBytes    = int64(32)
	bucketBytes = int64(unsafe.Sizeof(rate.Limiter{})) + 8
)

func (s *shard) entryBytes(keyLen int) int64 {
	b := slotBytes + mapBytes
	if s.tb {
		b += int64(s.k) * bucketBytes
	} else {
		b += int64(s.k) * 8
	}
	return b*3/2 + int64((keyLen+7)&^7)
}

func (s *shard) init(maxKeys int, maxBytes int64, k int, tb bool) {
	s.maxKeys, s.maxBytes, s.k, s.tb = maxKeys, maxBytes, k, tb
	s.index = make(map[string]int32)
	s.free, s.head, s.tail = -1, -1, -1
}

// lookup returns key's slot, creating it (and evicting idle or least
// recently used keys to make room) when key is new, and marks it used at
// now. The caller holds s.mu.
func (s *shard) lookup(key string, now, idle int64, l *Local) int32 {
	if i, ok := s.index[key]; ok {
		e := &s.ents[i]
		e.last = now
		e.ref = true
		return i
	}
	// A new key: reclaim up to two idle keys at the tail first so that
	// steady churn frees memory without a sweeper, then respect the caps.
	for range 2 {
		if s.tail < 0 || now-s.ents[s.tail].last <= idle {
			break
		}
		s.remove(s.tail)
		s.expired++
	}
	eb := s.entryBytes(len(key))
	for s.tail >= 0 && (s.n >= s.maxKeys || s.bytes+eb > s.maxBytes) {
		// Each pass clears a ref bit or evicts, so this ends within
		// n+1 passes, O(1) amortized.
		if t := s.tail; s.ents[t].ref && s.n > 1 {
			s.ents[t].ref = false
			s.moveToFront(t)
			continue
		}
		s.remove(s.tail)
		s.evicted++
	}
	i := s.alloc()
	// Clone so that the map does not pin a larger buffer the key was cut
	// from (a header block, a token).
	key = strings.Clone(key)
	s.ents[i] = entry{key: key, prev: -1, next: -1, last: now}
	s.index[key] = i
	if s.tb {
		for j := range s.k {
			lim := l.limits[j]
			s.buckets[int(i)*s.k+j] = rate.NewLimiter(l.rates[j], int(lim.BurstOrQuota()))
		}
	} else {
		st := s.state[int(i)*s.k : int(i)*s.k+s.k]
		for j := range st {
			st[j] = math.MinInt64
		}
	}
	s.pushFront(i)
	s.n++
	s.peak = max(s.peak, s.n)
	s.bytes += eb
	return i
}

// alloc returns a free slot, growing the slices when none is free.
func (s *shard) alloc() int32 {
	if s.free >= 0 {
		i := s.free
		s.free = s.ents[i].next
		return i
	}
	if len(s.ents) == cap(s.ents) {
		// Grow by doubling but never past the key cap, so a full shard
		// holds no more than it may use.
		c := min(max(2*cap(s.ents), 8), max(s.maxKeys, 1))
		if c <= len(s.ents) {
			c = len(s.ents) + 1
		}
		ents := make([]entry, len(s.ents), c)
		copy(ents, s.ents)
		s.ents = ents
		if s.tb {
			b := make([]*rate.Limiter, len(s.buckets), c*s.k)
			copy(b, s.buckets)
			s.buckets = b
		} else {
			st := make([]int64, len(s.state), c*s.k)
			copy(st, s.state)
			s.state = st
		}
	}
	s.ents = s.ents[:len(s.ents)+1]
	if s.tb {
		s.buckets = s.buckets[:len(s.buckets)+s.k]
	} else {
		s.state = s.state[:len(s.state)+s.k]
	}
	return int32(len(s.ents) - 1)
}

// remove forgets slot i. The caller holds s.mu.
func (s *shard) remove(i int32) {
	e := &s.ents[i]
	delete(s.index, e.key)
	s.bytes -= s.entryBytes(len(e.key))
	s.unlink(i)
	e.key = ""
	if s.tb {
		clear(s.buckets[int(i)*s.k : int(i)*s.k+s.k])
	}
	e.next = s.free
	s.free = i
	s.n--
}

func (s *shard) unlink(i int32) {
	e := &s.ents[i]
	if e.prev >= 0 {
		s.ents[e.prev].next = e.next
	} else {
		s.head = e.next
	}
	if e.next >= 0 {
		s.ents[e.next].prev = e.prev
	} else {
		s.tail = e.prev
	}
	e.prev, e.next = -1, -1
}

func (s *shard) pushFront(i int32) {
	e := &s.ents[i]
	e.prev, e.next = -1, s.head
	if s.head >= 0 {
		s.ents[s.head].prev = i
	}
	s.head = i
	if s.tail < 0 {
		s.tail = i
	}
}

func (s *shard) moveToFront(i int32) {
	if s.head == i {
		return
	}
	s.unlink(i)
	s.pushFront(i)
}

// maybeCompact rebuilds the shard when it holds under a quarter of its
// peak: Go maps and slices never shrink, so after a flood of keys has been
// swept the memory would otherwise stay reserved at the peak.
func (s *shard) maybeCompact() {
	if s.peak < 1024 || s.n >= s.peak/4 {
		return
	}
	oldEnts, oldState, oldBuckets, oldTail := s.ents, s.state, s.buckets, s.tail
	s.index = make(map[string]int32, s.n)
	s.ents = make([]entry, 0, s.n)
	s.state, s.buckets = nil, nil
	if s.tb {
		s.buckets = make([]*rate.Limiter, 0, s.n*s.k)
	} else {
		s.state = make([]int64, 0, s.n*s.k)
	}
	s.free, s.head, s.tail = -1, -1, -1
	// Walk from least to most recently used so that pushFront rebuilds
	// the same order.
	for i := oldTail; i >= 0; i = oldEnts[i].prev {
		e := oldEnts[i]
		j := int32(len(s.ents))
		s.ents = append(s.ents, entry{key: e.key, prev: -1, next: -1, last: e.last, ref: e.ref})
		if s.tb {
			s.buckets = append(s.buckets, oldBuckets[int(i)*s.k:int(i)*s.k+s.k]...)
		} else {
			s.state = append(s.state, oldState[int(i)*s.k:int(i)*s.k+s.k]...)
		}
		s.index[e.key] = j
		s.pushFront(j)
	}
	s.peak = s.n
}

// sweep forgets every slot idle for longer than idle at now. The list is
// in insertion order, not use order, so it scans every slot; it runs from
// Local.Sweep, not on the request path.
func (s *shard) sweep(now, idle int64) {
	for i := s.tail; i >= 0; {
		prev := s.ents[i].prev
		if now-s.ents[i].last > idle {
			s.remove(i)
			s.expired++
		}
		i = prev
	}
}
