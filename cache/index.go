package cache

import (
	"strings"
	"sync"
	"time"
)

// index (nil when the store keeps its own, see [Purger]) maps stored keys to their URL and tags so that purges by URL,
// prefix and tag find every key, including the variants of a URL and the
// keys that differ by keyed headers or consumer. It is bounded: when full
// (after dropping expired records) the Cache does not store new entries,
// because an entry the index does not know could not be purged. Records
// leave on store eviction, deletion and expiry.
type index struct {
	mu sync.Mutex
	// protects the maps below
	keys  map[string]ixrec
	byURL map[string]map[string]struct{}
	byTag map[string]map[string]struct{}
	max   int
	// nextSweep rate-limits sweeps of a full index
	nextSweep time.Time
}

type ixrec struct {
	url     string
	tags    []string
	expires time.Time
}

func newIndex(max int) *index {
	return &index{
		keys:  make(map[string]ixrec),
		byURL: make(map[string]map[string]struct{}),
		byTag: make(map[string]map[string]struct{}),
		max:   max,
	}
}

// add records key; it returns false when the index is full.
func (ix *index) add(key, url string, tags []string, expires, now time.Time) bool {
	if ix == nil {
		return true
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if _, ok := ix.keys[key]; ok {
		ix.removeLocked(key)
	} else if len(ix.keys) >= ix.max {
		// A sweep is O(n): at most one a second while the index is full.
		if !now.Before(ix.nextSweep) {
			ix.sweepLocked(now)
			ix.nextSweep = now.Add(time.Second)
		}
		if len(ix.keys) >= ix.max {
			return false
		}
	}
	ix.keys[key] = ixrec{url: url, tags: tags, expires: expires}
	addTo(ix.byURL, url, key)
	for _, t := range tags {
		addTo(ix.byTag, t, key)
	}
	return true
}

func addTo(m map[string]map[string]struct{}, k, key string) {
	s := m[k]
	if s == nil {
		s = make(map[string]struct{}, 1)
		m[k] = s
	}
	s[key] = struct{}{}
}

func removeFrom(m map[string]map[string]struct{}, k, key string) {
	if s := m[k]; s != nil {
		delete(s, key)
		if len(s) == 0 {
			delete(m, k)
		}
	}
}

func (ix *index) remove(key string) {
	if ix == nil {
		return
	}
	ix.mu.Lock()
	ix.removeLocked(key)
	ix.mu.Unlock()
}

func (ix *index) removeLocked(key string) {
	rec, ok := ix.keys[key]
	if !ok {
		return
	}
	delete(ix.keys, key)
	removeFrom(ix.byURL, rec.url, key)
	for _, t := range rec.tags {
		removeFrom(ix.byTag, t, key)
	}
}

// sweep drops records whose entries have expired from the store.
func (ix *index) sweep(now time.Time) {
	if ix == nil {
		return
	}
	ix.mu.Lock()
	ix.sweepLocked(now)
	ix.mu.Unlock()
}

func (ix *index) sweepLocked(now time.Time) {
	for k, rec := range ix.keys {
		if !now.Before(rec.expires) {
			ix.removeLocked(k)
		}
	}
}

func (ix *index) len() int {
	if ix == nil {
		return 0
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	return len(ix.keys)
}

func (ix *index) keysForURL(url string) []string {
	if ix == nil {
		return nil
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	return setKeys(ix.byURL[url])
}

func (ix *index) keysForTag(tag string) []string {
	if ix == nil {
		return nil
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	return setKeys(ix.byTag[tag])
}

func (ix *index) keysForPrefix(prefix string) []string {
	if ix == nil {
		return nil
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	var out []string
	for u, s := range ix.byURL {
		if strings.HasPrefix(u, prefix) {
			for k := range s {
				out = append(out, k)
			}
		}
	}
	return out
}

func setKeys(s map[string]struct{}) []string {
	out := make([]string, 0, len(s))
	for k := range s {
		out = append(out, k)
	}
	return out
}
