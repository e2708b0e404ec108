// Package redisstore is the Redis [cache.Store]: entries shared by every
// gateway instance, in a compact binary encoding, with TTLs, a per-entry
// size cap and a URL and tag index in Redis sets so that a purge from any
// instance reaches every entry.
//
// It works with a single Redis, Sentinel or Cluster through
// [redis.UniversalClient]. No command touches two keys, so nothing needs
// a hash tag: each entry and each index set lives on its own key's slot,
// and go-redis splits pipelines by node.
//
// Layout, with the default prefix "gk:cache:":
//
//	gk:cache:e:<key>  the encoded entry (see cache.Entry.AppendBinary), PX ttl
//	gk:cache:u:<url>  set of the keys stored for a URL
//	gk:cache:t:<tag>  set of the keys tagged tag
//
// Index sets expire with their longest-living member; a purge deletes the
// members and the set.
package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gatewaykit/gateway/cache"
)

// Config configures a [Store].
type Config struct {
	// Client is the Redis connection: a *redis.Client, *redis.ClusterClient,
	// *redis.Ring or a failover client. Required.
	Client redis.UniversalClient
	// Prefix starts every Redis key of the store. Empty means "gk:cache:".
	Prefix string
	// MaxEntryBytes caps one encoded entry; larger ones are refused with
	// [cache.ErrTooLarge]. Zero means 2 MiB.
	MaxEntryBytes int
}

// Store is a [cache.Store] and [cache.Purger] over Redis. It is safe for
// simultaneous use by multiple goroutines. The caller owns Config.Client
// and closes it.
type Store struct {
	rdb    redis.UniversalClient
	prefix string
	max    int
	bufs   sync.Pool
}

var (
	_ cache.Store  = (*Store)(nil)
	_ cache.Purger = (*Store)(nil)
)

// New returns a Store. It panics if cfg.Client is nil (a setup error).
func New(cfg Config) *Store {
	if cfg.Client == nil {
		panic("redisstore: nil Client")
	}
	s := &Store{rdb: cfg.Client, prefix: cfg.Prefix, max: cfg.MaxEntryBytes}
	if s.prefix == "" {
		s.prefix = "gk:cache:"
	}
	if s.max <= 0 {
		s.max = 2 << 20
	}
	s.bufs.New = func() any { b := make([]byte, 0, 4096); return &b }
	return s
}

func (s *Store) entryKey(key string) string { return s.prefix + "e:" + key }
func (s *Store) urlKey(u string) string     { return s.prefix + "u:" + u }
func (s *Store) tagKey(t string) string     { return s.prefix + "t:" + t }

// Get returns the entry at key, [cache.ErrMiss] when there is none, or an
// error wrapping [cache.ErrCorrupt] or the Redis failure.
func (s *Store) Get(ctx context.Context, key string) (*cache.Entry, error) {
	b, err := s.rdb.Get(ctx, s.entryKey(key)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, cache.ErrMiss
	}
	if err != nil {
		return nil, fmt.Errorf("redisstore: get: %w", err)
	}
	e := new(cache.Entry)
	if err := e.UnmarshalBinary(b); err != nil {
		return nil, fmt.Errorf("redisstore: get %q: %w", key, err)
	}
	return e, nil
}

// Set stores e at key for ttl and adds key to the sets of e.URL and
// e.Tags, in one pipeline.
func (s *Store) Set(ctx context.Context, key string, e *cache.Entry, ttl time.Duration) error {
	if ttl <= 0 {
		return s.Delete(ctx, key)
	}
	bp := s.bufs.Get().(*[]byte)
	defer s.bufs.Put(bp)
	b, err := e.AppendBinary((*bp)[:0])
	if err != nil {
		return fmt.Errorf("redisstore: encode: %w", err)
	}
	if cap(b) <= 1<<20 {
		*bp = b // keep the grown buffer unless it is huge
	}
	if len(b) > s.max {
		return cache.ErrTooLarge
	}
	secs := (ttl + time.Second - 1) / time.Second * time.Second
	_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, s.entryKey(key), b, ttl)
		if e.URL != "" {
			s.index(ctx, p, s.urlKey(e.URL), key, secs)
		}
		for _, t := range e.Tags {
			s.index(ctx, p, s.tagKey(t), key, secs)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("redisstore: set: %w", err)
	}
	return nil
}

// index adds member to set, which lives as long as its longest member:
// EXPIRE NX gives a new set its TTL, EXPIRE GT extends an older one.
func (s *Store) index(ctx context.Context, p redis.Pipeliner, set, member string, ttl time.Duration) {
	p.SAdd(ctx, set, member)
	p.ExpireNX(ctx, set, ttl)
	p.ExpireGT(ctx, set, ttl)
}

// Delete removes the entry at key.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := s.rdb.Del(ctx, s.entryKey(key)).Err(); err != nil {
		return fmt.Errorf("redisstore: delete: %w", err)
	}
	return nil
}

// PurgeURL deletes every entry indexed under the normalized URL u and
// returns how many existed.
func (s *Store) PurgeURL(ctx context.Context, u string) (int, error) {
	return s.purgeSet(ctx, s.urlKey(u))
}

// PurgeTag deletes every entry tagged tag.
func (s *Store) PurgeTag(ctx context.Context, tag string) (int, error) {
	return s.purgeSet(ctx, s.tagKey(tag))
}

// PurgePrefix deletes every entry whose normalized URL starts with prefix.
// It scans the URL sets (on every master of a cluster), so it costs more
// than PurgeURL or PurgeTag.
func (s *Store) PurgePrefix(ctx context.Context, prefix string) (int, error) {
	pattern := escapeGlob(s.urlKey(prefix)) + "*"
	var mu sync.Mutex
	var sets []string
	scan := func(ctx context.Context, c redis.UniversalClient) error {
		it := c.Scan(ctx, 0, pattern, 512).Iterator()
		for it.Next(ctx) {
			mu.Lock()
			sets = append(sets, it.Val())
			mu.Unlock()
		}
		return it.Err()
	}
	var err error
	if cc, ok := s.rdb.(*redis.ClusterClient); ok {
		err = cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error { return scan(ctx, c) })
	} else {
		err = scan(ctx, s.rdb)
	}
	if err != nil {
		return 0, fmt.Errorf("redisstore: purge prefix scan: %w", err)
	}
	n := 0
	var errs []error
	for _, set := range sets {
		m, err := s.purgeSet(ctx, set)
		n += m
		if err != nil {
			errs = append(errs, err)
		}
	}
	return n, errors.Join(errs...)
}

// purgeSet deletes the entries listed in set, then set.
func (s *Store) purgeSet(ctx context.Context, set string) (int, error) {
	members, err := s.rdb.SMembers(ctx, set).Result()
	if err != nil {
		return 0, fmt.Errorf("redisstore: purge: %w", err)
	}
	dels := make([]*redis.IntCmd, 0, len(members))
	_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, m := range members {
			dels = append(dels, p.Del(ctx, s.entryKey(m)))
		}
		p.Del(ctx, set)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("redisstore: purge: %w", err)
	}
	n := 0
	for _, d := range dels {
		n += int(d.Val())
	}
	return n, nil
}

// escapeGlob escapes the SCAN MATCH metacharacters of s.
func escapeGlob(s string) string {
	if !strings.ContainsAny(s, `*?[]\`) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
