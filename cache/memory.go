package cache

import (
	"context"
	"sync"
	"time"
	"weak"

	"github.com/maypok86/otter/v2"
)

// Memory is the embedded [Store]: entries in this process, bounded by their
// total size in bytes, evicted by W-TinyLFU (otter), which keeps the
// frequently requested responses when a flood of one-off URLs would flush
// an LRU. Entries expire after their TTL (checked on Get; expired entries
// also give way first when space is needed, since nothing reads them).
//
// Memory is safe for simultaneous use by multiple goroutines. It starts no
// goroutines: otter's maintenance runs on the calling goroutines.
type Memory struct {
	c        *otter.Cache[string, *memItem]
	maxEntry int64

	mu sync.Mutex
	// protects subs: the Caches using this store, held weakly so that a
	// Cache rebuilt on every config reload over one long-lived store
	// does not stay reachable through it
	subs []weak.Pointer[Cache]
}

type memItem struct {
	e       *Entry
	weight  uint32
	expires int64 // unix nanoseconds
}

var _ Store = (*Memory)(nil)

// NewMemory returns a Memory store holding at most maxBytes of entries
// (approximately: keys, header fields and bodies, plus a fixed overhead per
// entry). One entry may take at most maxBytes/8; larger ones are refused
// with [ErrTooLarge] (and no entry is larger than 2 GiB). maxBytes below 1 MiB is raised to 1 MiB.
func NewMemory(maxBytes int64) *Memory {
	if maxBytes < 1<<20 {
		maxBytes = 1 << 20
	}
	m := &Memory{maxEntry: min(maxBytes/8, 1<<31)}
	m.c = otter.Must(&otter.Options[string, *memItem]{
		MaximumWeight: uint64(maxBytes),
		Weigher:       func(_ string, it *memItem) uint32 { return it.weight },
		// Run maintenance and deletion events on the calling goroutine:
		// a Store must not start goroutines nobody owns.
		Executor:   func(fn func()) { fn() },
		OnDeletion: m.onDeletion,
	})
	return m
}

// MaxEntryBytes returns the largest entry size Memory accepts.
func (m *Memory) MaxEntryBytes() int64 { return m.maxEntry }

// Get returns the entry stored at key, or [ErrMiss].
func (m *Memory) Get(_ context.Context, key string) (*Entry, error) {
	return m.getAt(key, time.Now().UnixNano())
}

// getAt is Get at the given time (unix nanoseconds).
func (m *Memory) getAt(key string, now int64) (*Entry, error) {
	it, ok := m.c.GetIfPresent(key)
	if !ok {
		return nil, ErrMiss
	}
	if now >= it.expires {
		// Remove it unless a newer entry replaced it meanwhile. The key
		// may alias a caller's buffer; otter keeps only the stored key.
		m.c.ComputeIfPresent(key, func(old *memItem) (*memItem, otter.ComputeOp) {
			if old == it {
				return nil, otter.InvalidateOp
			}
			return old, otter.CancelOp
		})
		return nil, ErrMiss
	}
	return it.e, nil
}

// Set stores e at key for ttl. It returns [ErrTooLarge] when e is larger
// than [Memory.MaxEntryBytes].
func (m *Memory) Set(_ context.Context, key string, e *Entry, ttl time.Duration) error {
	return m.setAt(key, e, ttl, time.Now())
}

// setAt is Set at the given time.
func (m *Memory) setAt(key string, e *Entry, ttl time.Duration, now time.Time) error {
	size := e.size() + int64(len(key))
	if size > m.maxEntry {
		return ErrTooLarge
	}
	if ttl <= 0 {
		return m.Delete(context.Background(), key)
	}
	prepare(e)
	m.c.Set(key, &memItem{e: e, weight: uint32(size), expires: now.Add(ttl).UnixNano()})
	return nil
}

// Delete removes key.
func (m *Memory) Delete(_ context.Context, key string) error {
	m.c.Invalidate(key)
	return nil
}

// Len returns the number of stored entries (an estimate while eviction is
// in progress).
func (m *Memory) Len() int { return m.c.EstimatedSize() }

// Bytes returns the total weight of the stored entries.
func (m *Memory) Bytes() int64 { return int64(m.c.WeightedSize()) }

// subscribe registers c to be told (onStoreDeletion) of every entry removed
// other than by replacement.
func (m *Memory) subscribe(c *Cache) {
	m.mu.Lock()
	defer m.mu.Unlock()
	// A new slice each time: onDeletion iterates the old one unlocked.
	subs := make([]weak.Pointer[Cache], 0, len(m.subs)+1)
	for _, p := range m.subs {
		if p.Value() != nil {
			subs = append(subs, p)
		}
	}
	m.subs = append(subs, weak.Make(c))
}

func (m *Memory) onDeletion(ev otter.DeletionEvent[string, *memItem]) {
	if ev.Cause == otter.CauseReplacement {
		return
	}
	m.mu.Lock()
	subs := m.subs
	m.mu.Unlock()
	for _, p := range subs {
		if c := p.Value(); c != nil {
			c.onStoreDeletion(ev.Key, ev.Cause == otter.CauseOverflow)
		}
	}
}
