package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// maxJWKSBytes caps a JWKS or discovery document.
const maxJWKSBytes = 1 << 20

// errSourceFailed marks a failed key fetch; wrapped in ErrUnavailable when
// it decides a request.
var errSourceFailed = errors.New("auth: key source failed")

// keySnapshot is one immutable, verified key set.
type keySnapshot struct {
	byKid     map[string]*boundKey
	all       []*boundKey
	fetched   time.Time
	expires   time.Time // Cache-Control lifetime, clamped
	refreshAt time.Time // when Run refreshes it (before expires)
}

func newSnapshot(keys []*boundKey) *keySnapshot {
	s := &keySnapshot{byKid: make(map[string]*boundKey, len(keys)), all: keys}
	for _, k := range keys {
		if k.id != "" {
			if _, dup := s.byKid[k.id]; !dup {
				s.byKid[k.id] = k
			}
		}
	}
	return s
}

// find returns the keys a token with kid and alg may be checked with, and
// whether the kid itself is known (with another algorithm: no match).
func (s *keySnapshot) find(kid, alg string) (keys []*boundKey, kidKnown bool) {
	if s == nil {
		return nil, false
	}
	if kid != "" {
		k := s.byKid[kid]
		if k == nil {
			return nil, false
		}
		if k.alg != alg {
			return nil, true
		}
		return []*boundKey{k}, true
	}
	for _, k := range s.all {
		if k.alg == alg {
			keys = append(keys, k)
		}
	}
	return keys, len(keys) > 0
}

// keySet is one issuer's keys: static, or fetched from a JWKS URL (directly
// or found by OIDC discovery) and refreshed.
type keySet struct {
	issuer       string
	jwksURL      string // configured JWKS URL; "" when discovered
	discoveryURL string // "" unless discovery is used
	allowed      []string
	client       *http.Client
	now          func() time.Time
	logger       *slog.Logger
	opts         JWKSConfig
	remote       bool

	snap    atomic.Pointer[keySnapshot]
	fetches atomic.Int64 // completed fetch attempts, for tests and stats

	mu sync.Mutex
	// protects the fields below
	flight      *flight
	lastAttempt time.Time
	lastErr     error
	resolvedURL string
	failures    int
}

func newStaticKeySet(keys []*boundKey) *keySet {
	ks := &keySet{}
	ks.snap.Store(newSnapshot(keys))
	return ks
}

// lookup returns the keys to check a token with kid and alg against,
// refreshing the set when the kid is unknown (at most once per
// UnknownKeyInterval) and joining any refresh already in flight.
func (ks *keySet) lookup(ctx context.Context, kid, alg string) ([]*boundKey, error) {
	snap := ks.snap.Load()
	keys, known := snap.find(kid, alg)
	if len(keys) > 0 {
		if ks.remote && !ks.now().Before(snap.expires) {
			// Stale but usable: refresh without making this request wait
			// (rate-limited like unknown kids). Run normally refreshes
			// before this point.
			ks.refresh(ctx, false)
		}
		return keys, nil
	}
	if known {
		return nil, fmt.Errorf("%w: kid bound to another algorithm", ErrInvalidToken)
	}
	if !ks.remote {
		return nil, ErrUnknownKey
	}
	if f := ks.refresh(ctx, false); f != nil {
		select {
		case <-f.done:
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: issuer %q: %w", ErrUnavailable, ks.issuer, ctx.Err())
		}
	}
	// Whatever happened, a refresh that ended has stored its result.
	snap = ks.snap.Load()
	if keys, known = snap.find(kid, alg); len(keys) > 0 {
		return keys, nil
	}
	if known {
		return nil, fmt.Errorf("%w: kid bound to another algorithm", ErrInvalidToken)
	}
	ks.mu.Lock()
	lastErr := ks.lastErr
	ks.mu.Unlock()
	if lastErr != nil || snap == nil {
		// The kid may well be valid: the identity provider is the one at fault.
		return nil, fmt.Errorf("%w: issuer %q: %w", ErrUnavailable, ks.issuer, errSourceFailed)
	}
	return nil, ErrUnknownKey
}

// flight is one key-set fetch that concurrent callers share.
type flight struct {
	done chan struct{} // closed after snap/err are set and the set is stored
	snap *keySnapshot
	err  error
}

// refresh joins the fetch in flight, or starts one when force is set or
// the last attempt is older than UnknownKeyInterval (5s after a failure, if
// shorter); otherwise it returns nil. All refreshes of one issuer collapse
// into one fetch. The fetch is bounded by FetchTimeout; it ends with ctx
// only for Run (force).
func (ks *keySet) refresh(ctx context.Context, force bool) *flight {
	now := ks.now()
	ks.mu.Lock()
	if f := ks.flight; f != nil {
		ks.mu.Unlock()
		return f
	}
	interval := ks.opts.UnknownKeyInterval
	if ks.lastErr != nil {
		interval = min(interval, 5*time.Second)
	}
	if !force && !ks.lastAttempt.IsZero() && now.Sub(ks.lastAttempt) < interval {
		ks.mu.Unlock()
		return nil
	}
	ks.lastAttempt = now
	f := &flight{done: make(chan struct{})}
	ks.flight = f
	ks.mu.Unlock()

	base := ctx
	if !force {
		// A request's cancellation must not fail a fetch other requests
		// share; Run's (force) does end it.
		base = context.WithoutCancel(ctx)
	}
	fctx, cancel := context.WithTimeout(base, ks.opts.FetchTimeout)
	go func() { // ends with the fetch, bounded by FetchTimeout
		defer cancel()
		func() {
			defer func() {
				if p := recover(); p != nil {
					f.err = fmt.Errorf("%w: panic: %v", errSourceFailed, p)
					ks.logger.Error("auth: jwks refresh panicked", "issuer", ks.issuer, "panic", p, "stack", string(debug.Stack()))
				}
			}()
			f.snap, f.err = ks.fetch(fctx)
		}()
		ks.mu.Lock()
		ks.flight = nil
		ks.mu.Unlock()
		close(f.done)
	}()
	return f
}

// fetch downloads and installs the key set; on failure the previous set
// stays in use.
func (ks *keySet) fetch(ctx context.Context) (_ *keySnapshot, err error) {
	defer ks.fetches.Add(1)
	defer func() {
		ks.mu.Lock()
		ks.lastErr = err
		if err != nil {
			ks.failures++
		} else {
			ks.failures = 0
		}
		ks.mu.Unlock()
		if err != nil {
			ks.logger.LogAttrs(ctx, slog.LevelWarn, "auth: jwks refresh failed",
				slog.String("issuer", ks.issuer), slog.String("error", err.Error()))
		}
	}()
	u, err := ks.jwksLocation(ctx)
	if err != nil {
		return nil, err
	}
	body, hdr, err := ks.get(ctx, u)
	if err != nil {
		return nil, err
	}
	keys, skipped, err := parseJWKS(body, ks.allowed)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errSourceFailed, err)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: jwks %s has no usable keys (%d skipped)", errSourceFailed, u, skipped)
	}
	now := ks.now()
	ttl := cacheLifetime(hdr, now, ks.opts.MinRefresh, ks.opts.MaxRefresh)
	snap := newSnapshot(keys)
	snap.fetched, snap.expires = now, now.Add(ttl)
	snap.refreshAt = now.Add(ttl * 4 / 5)
	ks.snap.Store(snap)
	return snap, nil
}

// jwksLocation returns the JWKS URL, resolving it by OIDC discovery once.
func (ks *keySet) jwksLocation(ctx context.Context) (string, error) {
	if ks.jwksURL != "" {
		return ks.jwksURL, nil
	}
	ks.mu.Lock()
	u := ks.resolvedURL
	ks.mu.Unlock()
	if u != "" {
		return u, nil
	}
	body, _, err := ks.get(ctx, ks.discoveryURL)
	if err != nil {
		return "", err
	}
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return "", fmt.Errorf("%w: discovery document: %w", errSourceFailed, err)
	}
	// OpenID Connect Discovery 1.0 §4.3: the issuer must match exactly.
	if doc.Issuer != ks.issuer {
		return "", fmt.Errorf("%w: discovery issuer %q does not match %q", errSourceFailed, doc.Issuer, ks.issuer)
	}
	pu, err := url.Parse(doc.JWKSURI)
	if err != nil || (pu.Scheme != "https" && pu.Scheme != "http") || pu.Host == "" {
		return "", fmt.Errorf("%w: discovery jwks_uri %q is not an http(s) URL", errSourceFailed, doc.JWKSURI)
	}
	ks.mu.Lock()
	ks.resolvedURL = doc.JWKSURI
	ks.mu.Unlock()
	return doc.JWKSURI, nil
}

func (ks *keySet) get(ctx context.Context, u string) ([]byte, http.Header, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", errSourceFailed, err)
	}
	req.Header.Set("Accept", "application/json, application/jwk-set+json")
	resp, err := ks.client.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", errSourceFailed, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		return nil, nil, fmt.Errorf("%w: GET %s: status %d", errSourceFailed, u, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return nil, nil, fmt.Errorf("%w: GET %s: %w", errSourceFailed, u, err)
	}
	if len(body) > maxJWKSBytes {
		return nil, nil, fmt.Errorf("%w: GET %s: document over %d bytes", errSourceFailed, u, maxJWKSBytes)
	}
	return body, resp.Header, nil
}

// run refreshes the set before it expires until ctx ends, retrying failures
// with exponential backoff from 1s up to MinRefresh.
func (ks *keySet) run(ctx context.Context) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		if snap := ks.snap.Load(); snap != nil {
			// A request may have fetched the set meanwhile.
			if wait := snap.refreshAt.Sub(ks.now()); wait > 0 {
				timer.Reset(wait)
				continue
			}
		}
		f := ks.refresh(ctx, true)
		<-f.done // bounded by FetchTimeout; waiting leaves no fetch behind Run
		if ctx.Err() != nil {
			return
		}
		snap, err := f.snap, f.err
		var wait time.Duration
		if err != nil {
			ks.mu.Lock()
			n := ks.failures
			ks.mu.Unlock()
			wait = time.Second << min(max(n-1, 0), 10)
			wait = min(wait, ks.opts.MinRefresh)
		} else {
			wait = snap.refreshAt.Sub(ks.now())
			wait = max(wait, time.Second)
		}
		timer.Reset(wait)
	}
}

// cacheLifetime derives a key set's lifetime from Cache-Control max-age, or
// else Expires, clamped to [floor, ceiling]. no-cache and no-store mean the
// floor; a response with neither header gets 15 minutes (clamped).
func cacheLifetime(h http.Header, now time.Time, floor, ceiling time.Duration) time.Duration {
	ttl := 15 * time.Minute
	found := false
	for _, v := range h.Values("Cache-Control") {
		for _, d := range strings.Split(v, ",") {
			d = strings.TrimSpace(strings.ToLower(d))
			switch {
			case d == "no-cache" || d == "no-store":
				ttl, found = 0, true
			case strings.HasPrefix(d, "max-age="):
				if n, err := strconv.ParseInt(strings.Trim(d[len("max-age="):], `"`), 10, 64); err == nil && n >= 0 && !found {
					ttl, found = time.Duration(min(n, 1<<31))*time.Second, true
				}
			}
		}
	}
	if !found {
		if exp, err := http.ParseTime(h.Get("Expires")); err == nil {
			ttl = exp.Sub(now)
		}
	}
	return min(max(ttl, floor), ceiling)
}
