package cache

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ErrRunning is returned by [Cache.Run] when the Cache is already running.
var ErrRunning = errors.New("cache: already running")

// Config configures a [Cache]. The zero value is a working shared cache
// over a 64 MiB [Memory] store that follows RFC 9111 strictly: responses
// without explicit freshness are stored only to be revalidated.
type Config struct {
	// Store holds the entries. Nil means NewMemory(64 << 20).
	Store Store
	// TTL is the heuristic freshness lifetime (RFC 9111 §4.2.2) given to
	// storable responses that carry no explicit expiration (no s-maxage,
	// max-age or Expires) and whose status is heuristically cacheable or
	// that are marked public. Explicit freshness always wins, and with a
	// Last-Modified the lifetime is at most 10% of the time since it (as
	// §4.2.2 encourages). Zero means no
	// heuristic freshness: such responses are stored only when they have a
	// validator, and revalidated on every use.
	TTL time.Duration
	// KeepStale is how long past its freshness lifetime a response stays
	// stored for revalidation (§4.3), stale-if-error and max-stale; a
	// response's own stale-while-revalidate or stale-if-error windows
	// extend it. Zero means 10 minutes.
	KeepStale time.Duration
	// MaxObjectBytes caps the body of one stored response. A response
	// beyond it is still streamed to the client, but storing it is
	// abandoned. Zero means 1 MiB.
	MaxObjectBytes int64

	// QueryKeys, when non-nil, lists the query parameters that are part of
	// the cache key; the others are removed from the request sent
	// upstream (so they cannot change a stored response). Nil means every
	// parameter is keyed. Parameters are sorted by name in the key.
	QueryKeys []string
	// IgnoreQuery drops the whole query from the key and from the request
	// sent upstream. The zero value keys on the query.
	IgnoreQuery bool
	// KeyHeaders lists request header fields whose values are part of
	// every key (in addition to the fields an upstream's Vary names). Nil
	// means none.
	KeyHeaders []string
	// Consumer, when set, returns a string identifying the consumer
	// (for example the authenticated subject); it becomes part of every
	// key, so consumers never share entries. Nil means responses are
	// shared by all consumers, subject to RFC 9111 §3.5.
	Consumer func(r *http.Request) string
	// TagHeader names the response header field carrying purge tags,
	// separated by spaces or commas; the Cache removes it from responses.
	// Empty means "Surrogate-Key".
	TagHeader string

	// CollapseTimeout bounds how long a request waits for a concurrent
	// request for the same key to fetch the response, before going
	// upstream itself. Zero means 10 seconds.
	CollapseTimeout time.Duration
	// RefreshWorkers is the number of goroutines [Cache.Run] starts for
	// stale-while-revalidate refreshes. Zero means 4.
	RefreshWorkers int
	// RefreshQueue bounds the pending refreshes; when it is full, a
	// request revalidates synchronously. Zero means 256.
	RefreshQueue int
	// RefreshTimeout bounds one background refresh. Zero means 30 seconds.
	RefreshTimeout time.Duration
	// MaxIndexKeys bounds the purge index (one record per stored key).
	// When it is full, new responses are not stored. Zero means 1<<20.
	MaxIndexKeys int

	// Name is the cache's identifier in Cache-Status (RFC 9211). Empty
	// means "gatewaykit".
	Name string
	// Now returns the current time. Nil means time.Now.
	Now func() time.Time
	// OnEvent, when set, is called for each [Event], on the goroutine that
	// caused it (for evictions, the one whose write evicted). It must be
	// fast and safe for concurrent use. Nil means no calls.
	OnEvent func(Event)
	// Logger logs store failures. Nil means slog.Default().
	Logger *slog.Logger
}

// Cache is an RFC 9111 shared HTTP cache used as middleware through
// [Cache.Handler]. Background refreshes (stale-while-revalidate) run only
// while [Cache.Run] runs; without it, stale responses are revalidated
// synchronously.
//
// Cache is safe for simultaneous use by multiple goroutines.
type Cache struct {
	cfg        Config
	store      Store
	name       string
	tagHeader  string
	keyHeaders []string
	queryKeys  []string
	maxObject  int64
	keepStale  time.Duration
	collapseTO time.Duration
	refreshTO  time.Duration
	workers    int
	logger     *slog.Logger
	purger     Purger
	mem        *Memory // Store, when it is the memory store
	ix         *index

	jobs    chan refreshJob
	running atomic.Bool

	mu sync.Mutex
	// protects the maps below
	flights    map[string]*flight
	refreshing map[string]struct{}
	pass       map[string]time.Time

	stats [numEvents]atomic.Int64
}

// New returns a Cache configured by cfg. It starts no goroutines.
func New(cfg Config) *Cache {
	c := &Cache{
		cfg:        cfg,
		store:      cfg.Store,
		name:       orDefault(cfg.Name, "gatewaykit"),
		tagHeader:  http.CanonicalHeaderKey(orDefault(cfg.TagHeader, "Surrogate-Key")),
		maxObject:  orDefaultN(cfg.MaxObjectBytes, 1<<20),
		keepStale:  orDefaultN(cfg.KeepStale, 10*time.Minute),
		collapseTO: orDefaultN(cfg.CollapseTimeout, 10*time.Second),
		refreshTO:  orDefaultN(cfg.RefreshTimeout, 30*time.Second),
		workers:    orDefaultN(cfg.RefreshWorkers, 4),
		logger:     cfg.Logger,
		ix:         newIndex(orDefaultN(cfg.MaxIndexKeys, 1<<20)),
		jobs:       make(chan refreshJob, orDefaultN(cfg.RefreshQueue, 256)),
		flights:    make(map[string]*flight),
		refreshing: make(map[string]struct{}),
		pass:       make(map[string]time.Time),
	}
	if c.store == nil {
		c.store = NewMemory(64 << 20)
	}
	if c.logger == nil {
		c.logger = slog.Default()
	}
	for _, h := range cfg.KeyHeaders {
		c.keyHeaders = append(c.keyHeaders, http.CanonicalHeaderKey(h))
	}
	if cfg.QueryKeys != nil {
		c.queryKeys = append([]string{}, cfg.QueryKeys...)
	}
	c.purger, _ = c.store.(Purger)
	if c.purger != nil {
		// The store keeps the shared index; a local one would only
		// duplicate it (and, bounded, could refuse to store).
		c.ix = nil
	}
	if m, ok := c.store.(*Memory); ok {
		c.mem = m
		m.subscribe(c)
	}
	return c
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func orDefaultN[T int | int64 | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

func (c *Cache) now() time.Time {
	if c.cfg.Now != nil {
		return c.cfg.Now()
	}
	return time.Now()
}

// Handler returns next wrapped by the cache. Use the method value as a
// middleware: gw.Handle("GET /catalog/", catalog, pages.Handler). It panics
// if next is nil (a setup error).
func (c *Cache) Handler(next http.Handler) http.Handler {
	if next == nil {
		panic("cache: nil next handler")
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.serve(w, r, next)
	})
}

// Run runs the background refreshes of stale-while-revalidate and sweeps
// expired records from the purge index, until ctx ends. It returns nil
// then, or [ErrRunning] if the Cache already runs.
func (c *Cache) Run(ctx context.Context) error {
	if !c.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	var wg sync.WaitGroup
	for range c.workers {
		wg.Go(func() { c.worker(ctx) })
	}
	t := time.NewTicker(time.Minute)
	defer t.Stop()
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-t.C:
			c.ix.sweep(c.now())
			c.sweepPass(c.now())
		}
	}
	c.mu.Lock()
	c.running.Store(false)
	c.mu.Unlock()
	wg.Wait()
	// Drop refreshes queued after the workers stopped.
	for {
		select {
		case j := <-c.jobs:
			c.doneRefresh(j.key)
		default:
			return nil
		}
	}
}

// PurgeURL deletes every stored response for rawURL (all variants,
// keyed headers and consumers) and returns how many keys it deleted.
// rawURL is normalized like keys are (host case, default port, query
// parameter selection and order). With a store that implements [Purger]
// (the Redis store), the store's shared index is used, so the purge
// reaches entries stored by every instance.
func (c *Cache) PurgeURL(ctx context.Context, rawURL string) (int, error) {
	u, err := c.normalizeURL(rawURL)
	if err != nil {
		return 0, err
	}
	return c.purgeNormalized(ctx, u)
}

// purgeNormalized purges an already normalized URL.
func (c *Cache) purgeNormalized(ctx context.Context, u string) (int, error) {
	return c.purge(ctx, c.ix.keysForURL(u), func() (int, error) { return c.purger.PurgeURL(ctx, u) })
}

// PurgePrefix deletes every stored response whose normalized URL
// (scheme://host/path?query) starts with prefix, such as
// "https://example.com/catalog/".
func (c *Cache) PurgePrefix(ctx context.Context, prefix string) (int, error) {
	return c.purge(ctx, c.ix.keysForPrefix(prefix), func() (int, error) { return c.purger.PurgePrefix(ctx, prefix) })
}

// PurgeTag deletes every stored response tagged tag by its TagHeader
// (Surrogate-Key).
func (c *Cache) PurgeTag(ctx context.Context, tag string) (int, error) {
	return c.purge(ctx, c.ix.keysForTag(tag), func() (int, error) { return c.purger.PurgeTag(ctx, tag) })
}

func (c *Cache) purge(ctx context.Context, keys []string, viaStore func() (int, error)) (int, error) {
	if c.purger != nil {
		return viaStore()
	}
	return c.deleteKeys(ctx, keys)
}

func (c *Cache) deleteKeys(ctx context.Context, keys []string) (int, error) {
	var errs []error
	n := 0
	for _, k := range keys {
		if err := c.store.Delete(ctx, k); err != nil {
			errs = append(errs, err)
			continue
		}
		c.ix.remove(k)
		n++
	}
	return n, errors.Join(errs...)
}

// normalizeURL returns rawURL in the form keys use.
func (c *Cache) normalizeURL(rawURL string) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return "", fmt.Errorf("cache: purge url %q: want an absolute http(s) URL", rawURL)
	}
	r := &http.Request{Host: u.Host, URL: u}
	if u.Scheme == "https" {
		r.TLS = &tls.ConnectionState{}
	}
	return string(c.appendURL(nil, r)), nil
}

func (c *Cache) onStoreDeletion(key string, evicted bool) {
	c.ix.remove(key)
	if evicted {
		c.event(EventEvicted)
	}
}

// passing reports whether key recently produced an uncacheable response,
// in which case requests for it are not collapsed (they would only queue
// behind each other).
func (c *Cache) passing(key string, now time.Time) bool {
	c.mu.Lock()
	until, ok := c.pass[key]
	c.mu.Unlock()
	return ok && now.Before(until)
}

// passTTL is how long a key that produced an uncacheable response skips
// collapsing; maxPass bounds the memo.
const (
	passTTL = 30 * time.Second
	maxPass = 1 << 14
)

func (c *Cache) markPass(key string, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.pass) >= maxPass {
		for k, until := range c.pass {
			if !now.Before(until) {
				delete(c.pass, k)
			}
		}
		if len(c.pass) >= maxPass {
			clear(c.pass)
		}
	}
	c.pass[strings.Clone(key)] = now.Add(passTTL)
}

func (c *Cache) unmarkPass(key string) {
	c.mu.Lock()
	delete(c.pass, key)
	c.mu.Unlock()
}

func (c *Cache) sweepPass(now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, until := range c.pass {
		if !now.Before(until) {
			delete(c.pass, k)
		}
	}
}
