package auth

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
)

const cacheShards = 16

// identityCache maps verified credentials (whole tokens, or digests of
// secrets) to the Identity they authenticated, bounded by entries and bytes,
// with per-entry expiry. A hit compares the full key, so a 64-bit hash
// collision can never hand out another credential's Identity.
//
// Eviction is CLOCK-like: an entry read since the last sweep survives one
// sweep. It is safe for simultaneous use by multiple goroutines.
type identityCache struct {
	seed       maphash.Seed
	maxEntries int   // per shard
	maxBytes   int64 // per shard
	shards     [cacheShards]cacheShard
}

type cacheShard struct {
	mu sync.RWMutex
	// protects m and bytes
	m     map[uint64]*cacheEntry
	bytes int64
	_     [32]byte // keep shards' locks on separate cache lines
}

type cacheEntry struct {
	key     string
	id      *Identity
	expires int64 // unix nanoseconds; the entry is dead from this instant
	size    int64
	ref     atomic.Bool
}

// entryOverhead approximates the memory of an entry beyond its key and
// claims: map slot, entry struct, Identity struct and slices.
const entryOverhead = 320

func newIdentityCache(maxEntries int, maxBytes int64) *identityCache {
	c := &identityCache{
		seed:       maphash.MakeSeed(),
		maxEntries: max(1, (maxEntries+cacheShards-1)/cacheShards),
		maxBytes:   max(1, (maxBytes+cacheShards-1)/cacheShards),
	}
	for i := range c.shards {
		c.shards[i].m = make(map[uint64]*cacheEntry)
	}
	return c
}

// get returns the live Identity cached under key at now (unix ns).
func (c *identityCache) get(key string, now int64) *Identity {
	h := maphash.String(c.seed, key)
	s := &c.shards[h%cacheShards]
	s.mu.RLock()
	e := s.m[h]
	s.mu.RUnlock()
	if e == nil || e.key != key || now >= e.expires {
		return nil
	}
	if !e.ref.Load() {
		e.ref.Store(true)
	}
	return e.id
}

// put caches id under key until expires (unix ns). size is the approximate
// number of bytes the Identity holds beyond the key (claims).
func (c *identityCache) put(key string, id *Identity, expires, now int64, size int) {
	if expires <= now {
		return
	}
	e := &cacheEntry{key: key, id: id, expires: expires, size: int64(len(key)+size) + entryOverhead}
	if e.size > c.maxBytes {
		return
	}
	h := maphash.String(c.seed, key)
	s := &c.shards[h%cacheShards]
	s.mu.Lock()
	defer s.mu.Unlock()
	if old := s.m[h]; old != nil {
		s.bytes -= old.size
		delete(s.m, h)
	}
	for len(s.m) >= c.maxEntries || s.bytes+e.size > c.maxBytes {
		if !s.evictOne(now) {
			break
		}
	}
	s.m[h] = e
	s.bytes += e.size
}

// evictOne removes one expired or unreferenced entry, giving referenced
// entries a second chance. Go's randomised map iteration order spreads the
// sweep over the shard.
func (s *cacheShard) evictOne(now int64) bool {
	for pass := 0; pass < 2; pass++ {
		for h, e := range s.m {
			if now >= e.expires || !e.ref.Swap(false) {
				delete(s.m, h)
				s.bytes -= e.size
				return true
			}
		}
	}
	return false
}

// len returns the number of entries, for tests and stats.
func (c *identityCache) len() (n int, bytes int64) {
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.RLock()
		n += len(s.m)
		bytes += s.bytes
		s.mu.RUnlock()
	}
	return n, bytes
}
