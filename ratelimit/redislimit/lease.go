package redislimit

import (
	"hash/maphash"
	"strings"
	"sync"
	"time"

	"github.com/gatewaykit/gateway/ratelimit"
)

// leaseTable holds the units this instance has taken from Redis ahead of
// use, per key (high-rate mode). It is bounded: a full shard drops leases,
// which only loses their units (under-admission, never over-admission).
type leaseTable struct {
	seed     maphash.Seed
	perShard int
	shards   [16]leaseShard
}

type leaseShard struct {
	mu sync.Mutex
	// protects m and the entries in it
	m map[string]*leaseEntry
	_ [40]byte
}

type leaseEntry struct {
	units   int64 // leased units not yet spent
	expires int64 // ns on the Limiter's clock
	fetched int64 // when ds was read from Redis
	denied  int64 // Redis denied this key until then (ns); 0 when not
	k       int
	ds      [ratelimit.MaxWindows]ratelimit.Decision // Redis's view right after the lease
}

func newLeaseTable(maxKeys int) *leaseTable {
	t := &leaseTable{seed: maphash.MakeSeed(), perShard: max(maxKeys/16, 1)}
	for i := range t.shards {
		t.shards[i].m = make(map[string]*leaseEntry)
	}
	return t
}

func (t *leaseTable) shard(key string) *leaseShard {
	return &t.shards[maphash.String(t.seed, key)&15]
}

// spend takes n units from key's lease when it holds enough, appending the
// decision per window (Remaining is Redis's remaining plus the units still
// leased here; Reset is aged since the lease). It reports false when the
// lease is missing, expired or too small.
func (t *leaseTable) spend(key string, n, now int64, dst []ratelimit.Decision) ([]ratelimit.Decision, bool) {
	s := t.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.m[key]
	if e == nil {
		return dst, false
	}
	age := time.Duration(now - e.fetched)
	if now < e.denied && e.units < n {
		// Redis said no until then; asking again cannot say yes.
		for _, d := range e.ds[:e.k] {
			d.Remaining = e.units
			d.Reset = max(d.Reset-age, 0)
			d.RetryAfter = max(d.RetryAfter-age, 0)
			dst = append(dst, d)
		}
		return dst, true
	}
	if now >= e.expires || e.units < n {
		return dst, false
	}
	e.units -= n
	for _, d := range e.ds[:e.k] {
		d.Allowed = true
		d.RetryAfter = 0
		d.Remaining += e.units
		d.Reset = max(d.Reset-age, 0)
		dst = append(dst, d)
	}
	return dst, true
}

// store adds units to key's lease at now (dropping what an expired lease
// still held), renews its expiry to expires and records ds, the per-window
// decisions Redis returned with the units.
func (t *leaseTable) store(key string, units, now, expires int64, ds []ratelimit.Decision) {
	s := t.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.m[key]
	if e == nil {
		if len(s.m) >= t.perShard {
			// Drop a few leases: expired ones cost nothing, live ones
			// lose their units. Map iteration order is random, which
			// spreads the loss.
			dropped := 0
			for k := range s.m {
				delete(s.m, k)
				if dropped++; dropped == 8 {
					break
				}
			}
		}
		e = new(leaseEntry)
		s.m[strings.Clone(key)] = e
	}
	if now >= e.expires {
		e.units = 0
	}
	e.units += units
	e.expires = expires
	e.denied = 0
	e.fetched = now
	e.k = copy(e.ds[:], ds)
}

// deny records that Redis denied key at now until the longest RetryAfter
// of ds: until then this instance denies the key without a round trip.
// The denial was computed for the request's cost; a cheaper request may
// have fitted earlier, so this errs towards under-admission only.
func (t *leaseTable) deny(key string, now int64, ds []ratelimit.Decision) {
	var wait time.Duration
	for _, d := range ds {
		wait = max(wait, d.RetryAfter)
	}
	if wait <= 0 {
		return
	}
	s := t.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.m[key]
	if e == nil {
		if len(s.m) >= t.perShard {
			return // not worth evicting a lease for
		}
		e = new(leaseEntry)
		s.m[strings.Clone(key)] = e
	}
	if now >= e.expires {
		e.units = 0
	}
	e.denied = now + int64(wait)
	e.fetched = now
	e.k = copy(e.ds[:], ds)
}

// len returns the number of keys holding a lease.
func (t *leaseTable) len() int {
	n := 0
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		n += len(s.m)
		s.mu.Unlock()
	}
	return n
}
