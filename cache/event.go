package cache

// Event is a cache outcome reported to [Config.OnEvent] and counted in
// [Stats], for metrics.
type Event uint8

// The events. A request produces one of Hit, Miss, Stale, Revalidated or
// Collapsed (or none when it bypasses the cache: unsafe methods, upgrades,
// uncached ranges); Stored and Evicted come with storage.
const (
	// EventHit: a fresh stored response answered the request.
	EventHit Event = iota
	// EventMiss: the request went upstream (no usable stored response).
	EventMiss
	// EventStale: a stale response answered the request (max-stale,
	// stale-while-revalidate or stale-if-error).
	EventStale
	// EventRevalidated: a stored response was validated upstream with a
	// 304 and served.
	EventRevalidated
	// EventCollapsed: the request waited for a concurrent request for the
	// same key and was answered with its response.
	EventCollapsed
	// EventStored: a response was written to the store.
	EventStored
	// EventEvicted: the memory store evicted an entry to free space
	// (Redis evicts without telling).
	EventEvicted

	numEvents
)

var eventNames = [numEvents]string{"hit", "miss", "stale", "revalidated", "collapsed", "stored", "evicted"}

// String returns the event's lower-case name, such as "hit".
func (e Event) String() string {
	if e < numEvents {
		return eventNames[e]
	}
	return "unknown"
}

// Stats counts the events of a Cache since it was built.
type Stats struct {
	Hits, Misses, Stale, Revalidated, Collapsed, Stored, Evicted int64
}

// Stats returns the event counts. It is safe to call concurrently.
func (c *Cache) Stats() Stats {
	return Stats{
		Hits:        c.stats[EventHit].Load(),
		Misses:      c.stats[EventMiss].Load(),
		Stale:       c.stats[EventStale].Load(),
		Revalidated: c.stats[EventRevalidated].Load(),
		Collapsed:   c.stats[EventCollapsed].Load(),
		Stored:      c.stats[EventStored].Load(),
		Evicted:     c.stats[EventEvicted].Load(),
	}
}

func (c *Cache) event(e Event) {
	c.stats[e].Add(1)
	if c.cfg.OnEvent != nil {
		c.cfg.OnEvent(e)
	}
}
