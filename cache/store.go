package cache

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"time"
)

// Errors returned by stores and by the Cache.
var (
	// ErrMiss is returned by [Store.Get] when the key holds no entry (or
	// the entry expired). The Cache treats it as a miss, never as a failure.
	ErrMiss = errors.New("cache: miss")
	// ErrTooLarge is returned by [Store.Set] when the entry is larger than
	// the store accepts for one object. The Cache then serves the response
	// without storing it.
	ErrTooLarge = errors.New("cache: entry too large")
	// ErrCorrupt is returned by [Entry.UnmarshalBinary] (and so by remote
	// stores' Get) when stored bytes are not a valid encoded entry.
	ErrCorrupt = errors.New("cache: corrupt entry")
)

// Store holds cache entries under string keys. The Cache calls it from
// the request path, so implementations must be safe for simultaneous use by
// multiple goroutines and should honour ctx.
//
// Get returns [ErrMiss] when the key holds nothing. The returned *Entry is
// shared: callers must treat it as read-only, and Get must not retain key
// after it returns (the Cache may pass a key backed by a reused buffer).
// Set takes ownership of e (the caller does not modify it afterwards) and
// keeps it for at most ttl, which is always positive; it may drop it
// earlier (eviction) and returns [ErrTooLarge] for entries above its
// per-object limit. Delete removes the key and is not an error when the key
// holds nothing.
type Store interface {
	Get(ctx context.Context, key string) (*Entry, error)
	Set(ctx context.Context, key string, e *Entry, ttl time.Duration) error
	Delete(ctx context.Context, key string) error
}

// Purger is an optional capability of a [Store] that keeps its own index of
// entries by URL and tag, shared by every gateway instance using it (such
// as the Redis store). The Cache's purge methods call it in addition to
// purging the entries its local index knows. Counts are of deleted keys.
type Purger interface {
	PurgeURL(ctx context.Context, url string) (int, error)
	PurgePrefix(ctx context.Context, prefix string) (int, error)
	PurgeTag(ctx context.Context, tag string) (int, error)
}

// Entry is one stored response (RFC 9111 §3), or, when Status is 0, a
// Vary record: the response at that key varies on the request header
// fields listed in Header["Vary"], and each variant is stored under its own
// secondary key.
//
// An Entry handed to a [Store] or returned by one is immutable, and so
// safe to share between goroutines; the Cache builds a new Entry to update
// one (RFC 9111 §4.3.4). Stores other than the memory store round-trip
// entries with [Entry.AppendBinary] and [Entry.UnmarshalBinary].
type Entry struct {
	// Status is the response status code; 0 marks a Vary record.
	Status int
	// Header holds the stored header fields, without hop-by-hop fields
	// and Age.
	Header http.Header
	// Body is the complete response content.
	Body []byte
	// RequestTime is when the request that produced the response was
	// sent and ResponseTime when the response was received (RFC 9111
	// §4.2.3 request_time and response_time).
	RequestTime  time.Time
	ResponseTime time.Time
	// URL is the effective request URI (scheme://host/path?query), used
	// for purging and invalidation.
	URL string
	// Tags are the purge tags (Surrogate-Key values) of the response.
	Tags []string

	// meta is derived from the fields above on first use.
	meta atomic.Pointer[entryMeta]
}

// size returns the approximate memory the entry takes, for store weights.
func (e *Entry) size() int64 {
	n := int64(len(e.Body)) + int64(len(e.URL)) + 256
	for k, vs := range e.Header {
		n += int64(len(k)) + 16
		for _, v := range vs {
			n += int64(len(v)) + 16
		}
	}
	for _, t := range e.Tags {
		n += int64(len(t)) + 16
	}
	return n
}
