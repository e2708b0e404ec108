package router

import "slices"

// table is an immutable open-addressing hash table from strings to nodes,
// used for the literal children of wide trie nodes and for hosts. It hashes
// only the length and up to eight bytes at the ends of a key, which is far
// cheaper than a Go map's full hash for the short keys of paths and hosts
// ("resource1234", "tenant7.example.com"). Keys that collide on those bytes
// would make probing long, so [newTable] measures the longest probe and
// gives up (the caller keeps a Go map) when it exceeds maxProbe.
type table struct {
	keys  []string
	vals  []*node
	shift uint
}

// maxProbe bounds the slots a lookup may visit.
const maxProbe = 8

// newTable builds a table holding m, or returns nil when the keys cluster
// too much for the cheap hash.
func newTable(m map[string]*node) *table {
	// Insert in sorted order so that the same routes always build the same
	// table (probe lengths depend on insertion order), and retry at a lower
	// load factor before giving up: a route set should not fall back to the
	// slower map on one build and not on the next.
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	bits := uint(1)
	for 1<<bits < 2*len(m) {
		bits++
	}
	for extra := uint(0); extra < 3; extra++ {
		if t := buildTable(keys, m, bits+extra); t != nil {
			return t
		}
	}
	return nil
}

// buildTable lays keys out in a table of 1<<bits slots, or returns nil when
// a key lands more than maxProbe slots from its home.
func buildTable(keys []string, m map[string]*node, bits uint) *table {
	t := &table{
		keys:  make([]string, 1<<bits),
		vals:  make([]*node, 1<<bits),
		shift: 64 - bits,
	}
	mask := uint64(1)<<bits - 1
	for _, k := range keys {
		i := t.slot(k)
		for probe := 0; t.vals[i] != nil; probe++ {
			if probe >= maxProbe {
				return nil
			}
			i = (i + 1) & mask
		}
		t.keys[i], t.vals[i] = k, m[k]
	}
	return t
}

// slot returns the home slot of key.
func (t *table) slot(key string) uint64 { return slotOf(key, t.shift) }

func slotOf[K string | []byte](key K, shift uint) uint64 {
	n := len(key)
	h := uint64(n) * 0x9E3779B97F4A7C15
	switch {
	case n >= 8:
		h ^= uint64(key[0]) | uint64(key[1])<<8 | uint64(key[2])<<16 | uint64(key[3])<<24 |
			uint64(key[n-4])<<32 | uint64(key[n-3])<<40 | uint64(key[n-2])<<48 | uint64(key[n-1])<<56
	default:
		for i := 0; i < n; i++ {
			h ^= uint64(key[i]) << (8 * i)
		}
	}
	h *= 0xff51afd7ed558ccd
	h ^= h >> 29
	h *= 0xc4ceb9fe1a85ec53
	return h >> shift
}

// get returns the node for key, or nil.
func (t *table) get(key string) *node { return getFrom(t, key) }

// getBytes is get for a key in a buffer, without converting it to a string.
func (t *table) getBytes(key []byte) *node { return getFrom(t, key) }

func getFrom[K string | []byte](t *table, key K) *node {
	mask := uint64(len(t.vals) - 1)
	i := slotOf(key, t.shift)
	for range maxProbe + 1 {
		v := t.vals[i]
		if v == nil {
			return nil
		}
		if t.keys[i] == string(key) {
			return v
		}
		i = (i + 1) & mask
	}
	return nil
}
