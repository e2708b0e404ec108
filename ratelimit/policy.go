package ratelimit

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/gatewaykit/gateway/internal/problem"
)

// Scope says which requests share a [Policy]'s budgets when one Policy
// value is attached to several routes. It is part of every counter's
// identity (see [Policy.Handler]).
type Scope int

const (
	// ScopeRoute gives each route the policy is attached to its own
	// budgets: the counter key is prefixed with the matched route pattern
	// (r.Pattern), so a policy of 10 requests per minute per client on 100
	// routes lets a client make 10 requests per minute on each of them.
	// This is the default, and what Kong and Envoy do for a limit
	// configured on a route. A request without a pattern (outside any
	// router) counts under the empty pattern.
	ScopeRoute Scope = iota
	// ScopeService shares one budget per key across every route the
	// policy is attached to: attach it to all routes of a service for a
	// service-wide limit.
	ScopeService
	// ScopeGlobal shares one budget per key across everything the policy
	// wraps: use it in the gateway's global chain for a gateway-wide
	// limit. It counts exactly like ScopeService; the two differ only in
	// the intent they document and report.
	ScopeGlobal
)

// String returns "route", "service" or "global".
func (s Scope) String() string {
	switch s {
	case ScopeRoute:
		return "route"
	case ScopeService:
		return "service"
	case ScopeGlobal:
		return "global"
	}
	return "unknown"
}

// FailureMode is what a [Policy] does when a [Limiter] returns an error
// (its backend is unreachable and it has no fallback of its own).
type FailureMode int

const (
	// FailOpen lets the request through without rate-limit headers, as
	// Kong's fault_tolerant and Envoy's default do: losing the limiter's
	// backend does not take the API down. It is the default.
	FailOpen FailureMode = iota
	// FailClosed answers 503 Service Unavailable (problem+json, Retry-After:
	// 1): nothing passes unless it was counted.
	FailClosed
)

// DefaultName is the name of a [Policy] whose Config.Name is empty.
const DefaultName = "default"

// Config configures a [Policy].
type Config struct {
	// Name identifies the policy: it names the budgets in the RateLimit
	// headers and prefixes every counter key, so two policies with
	// different names never share a budget even on one Limiter or one
	// Redis, and two policies with the same name and the same Limiter
	// do. Letters, digits and ".-_:/" only. Empty means [DefaultName].
	Name string
	// Scope says whether the routes the policy is attached to share its
	// budgets; zero means [ScopeRoute] (one budget per route). See
	// [Scope].
	Scope Scope
	// Limiters are checked in order for every request; the request passes
	// only if all allow it. Put several windows (per second, minute, hour,
	// day) in one limiter's Limits rather than in several limiters: one
	// limiter takes units from all its windows or none, while a later
	// limiter's denial does not give back units an earlier one has taken.
	// Empty means one [Local] GCRA limiter built from Rate, Burst and
	// MaxKeys.
	Limiters []Limiter
	// Rate and Burst make the default limiter when Limiters is empty (see
	// [FromRate]): Rate events per second, Burst at once (zero Burst means
	// one second's worth of Rate, at least 1). Rate must then be positive.
	Rate  rate.Limit
	Burst int
	// MaxKeys is the key cap of the default limiter; zero means
	// [DefaultMaxKeys].
	MaxKeys int
	// Key returns whose budget a request spends; nil means [ClientIP].
	// Use [Compose] for combinations and a func reading the authenticated
	// identity to limit per consumer.
	Key KeyFunc
	// Cost returns the request's weight (units it spends); nil means 1
	// for every request. Zero is free (the request is checked and
	// reported, not counted); negative counts as zero.
	Cost func(r *http.Request) int
	// Headers selects the rate-limit response headers; zero means
	// [HeadersIETF].
	Headers HeaderStyle
	// Failure is what happens when a limiter errors; zero means
	// [FailOpen]. A limiter with its own fallback (redislimit with a local
	// Fallback) does not error and never reaches this.
	Failure FailureMode
	// OnError, when set, is called with every limiter error (before
	// Failure applies), for logging and metrics. It must be fast and safe
	// for simultaneous use. Nil means errors are not reported.
	OnError func(r *http.Request, err error)
}

// Policy is a rate-limit policy: who is counted ([KeyFunc]), against which
// limits ([Limiter]s), at what cost, with what scope, and how it answers.
// Its Handler method is the middleware. Build it with [New].
//
// Policy is safe for simultaneous use by multiple goroutines.
type Policy struct {
	name         string
	scope        Scope
	limiters     []Limiter
	key          KeyFunc
	cost         func(*http.Request) int
	headers      HeaderStyle
	failure      FailureMode
	onError      func(*http.Request, error)
	prefix       string   // name + separator
	policyHeader string   // precomputed RateLimit-Policy, "" when not known up front
	itemNames    []string // list-item name per window, when known up front
	pool         sync.Pool
}

// keySep separates the parts of a counter key: name, route pattern and the
// KeyFunc's key. Neither names nor patterns can contain it.
const keySep = "|"

// New returns a Policy for cfg. It panics on programmer errors: an invalid
// Name, no Limiters and no positive Rate, an unknown Scope, HeaderStyle or
// FailureMode.
func New(cfg Config) *Policy {
	if cfg.Name == "" {
		cfg.Name = DefaultName
	}
	for _, c := range cfg.Name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune(".-_:/", c)) {
			panic("ratelimit: New: Name may hold only letters, digits and .-_:/")
		}
	}
	if cfg.Scope < ScopeRoute || cfg.Scope > ScopeGlobal {
		panic("ratelimit: New: unknown Scope")
	}
	if cfg.Headers < HeadersIETF || cfg.Headers > HeadersNone {
		panic("ratelimit: New: unknown Headers style")
	}
	if cfg.Failure != FailOpen && cfg.Failure != FailClosed {
		panic("ratelimit: New: unknown Failure mode")
	}
	for _, l := range cfg.Limiters {
		if l == nil {
			panic("ratelimit: New: nil Limiter")
		}
	}
	p := &Policy{
		name:     cfg.Name,
		scope:    cfg.Scope,
		limiters: append([]Limiter(nil), cfg.Limiters...),
		key:      cfg.Key,
		cost:     cfg.Cost,
		headers:  cfg.Headers,
		failure:  cfg.Failure,
		onError:  cfg.OnError,
		prefix:   cfg.Name + keySep,
	}
	if len(p.limiters) == 0 {
		if !(cfg.Rate > 0) {
			panic("ratelimit: New: Limiters or a positive Rate is required")
		}
		burst := cfg.Burst
		if burst == 0 {
			burst = max(int(cfg.Rate), 1)
		}
		p.limiters = []Limiter{NewLocal(LocalConfig{Limits: []Limit{FromRate(cfg.Rate, burst)}, MaxKeys: cfg.MaxKeys})}
	}
	if p.key == nil {
		p.key = ClientIP
	}
	p.precompute()
	p.pool.New = func() any { return new([MaxWindows * 2]Decision) }
	return p
}

// limitser is implemented by limiters that can tell their windows up
// front ([Local], redislimit); the Policy then precomputes its
// RateLimit-Policy header.
type limitser interface {
	Limits() []Limit
}

func (p *Policy) precompute() {
	var all []Limit
	for _, l := range p.limiters {
		ls, ok := l.(limitser)
		if !ok {
			return
		}
		all = append(all, ls.Limits()...)
	}
	var b []byte
	for i, l := range all {
		name := p.name
		if len(all) > 1 {
			name += "-" + windowLabel(l.Window)
		}
		p.itemNames = append(p.itemNames, name)
		if i > 0 {
			b = append(b, ", "...)
		}
		b = appendPolicyItem(b, name, l.Quota, l.Window)
	}
	p.policyHeader = string(b)
}

// Name returns the policy's name.
func (p *Policy) Name() string { return p.name }

// Scope returns the policy's scope.
func (p *Policy) Scope() Scope { return p.scope }

// Key returns the full counter key the policy uses for r: its name, the
// route pattern for [ScopeRoute], and the KeyFunc's key, separated by "|".
func (p *Policy) Key(r *http.Request) string {
	k := p.key(r)
	if p.scope == ScopeRoute {
		return p.prefix + r.Pattern + keySep + k
	}
	return p.prefix + keySep + k
}

// Allow checks and counts r against the policy and returns the binding
// decision (see [Strictest]). An error comes from a limiter that could not
// decide; the Failure mode is not applied here.
func (p *Policy) Allow(r *http.Request) (Decision, error) {
	buf := p.pool.Get().(*[MaxWindows * 2]Decision)
	defer p.pool.Put(buf)
	ds, err := p.decide(r.Context(), p.Key(r), p.costOf(r), buf[:0], nil)
	if err != nil {
		return Decision{}, err
	}
	return Strictest(ds), nil
}

func (p *Policy) costOf(r *http.Request) int {
	if p.cost == nil {
		return 1
	}
	return max(p.cost(r), 0)
}

// decide runs the limiters in order, stopping at the first denial, and
// appends their per-window decisions to dst. With r non-nil, limiter errors
// are reported to OnError and, in FailOpen mode, skipped.
func (p *Policy) decide(ctx context.Context, key string, n int, dst []Decision, r *http.Request) ([]Decision, error) {
	for _, l := range p.limiters {
		var err error
		before := len(dst)
		if wl, ok := l.(WindowLimiter); ok {
			dst, err = wl.AllowWindows(ctx, key, n, dst)
		} else {
			var d Decision
			d, err = l.Allow(ctx, key, n)
			if err == nil {
				dst = append(dst, d)
			}
		}
		if err != nil {
			dst = dst[:before]
			if r == nil {
				return dst, err
			}
			if p.onError != nil {
				p.onError(r, err)
			}
			if p.failure == FailClosed || errors.Is(err, context.Canceled) {
				return dst, err
			}
			continue
		}
		for _, d := range dst[before:] {
			if !d.Allowed {
				return dst, nil
			}
		}
	}
	return dst, nil
}

// Handler returns next wrapped by the policy: each request is counted
// under [Policy.Key]; allowed requests get the rate-limit headers and go
// on to next; denied ones get the headers, Retry-After and a 429
// problem+json answer. When a limiter fails, [FailOpen] passes the request
// on without headers and [FailClosed] answers 503 with Retry-After: 1.
func (p *Policy) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		buf := p.pool.Get().(*[MaxWindows * 2]Decision)
		ds, err := p.decide(r.Context(), p.Key(r), p.costOf(r), buf[:0], r)
		if err != nil {
			p.pool.Put(buf)
			if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
				return // the client is gone; nothing to answer
			}
			problem.SetRetryAfter(w.Header(), time.Second)
			problem.Write(w, r, http.StatusServiceUnavailable, "the rate limiter is unavailable")
			return
		}
		bind := Strictest(ds)
		p.writeHeaders(w.Header(), ds, bind)
		p.pool.Put(buf)
		if len(ds) > 0 && !bind.Allowed {
			problem.SetRetryAfter(w.Header(), bind.RetryAfter)
			problem.Write(w, r, http.StatusTooManyRequests, "rate limit exceeded for policy "+p.name)
			return
		}
		next.ServeHTTP(w, r)
	})
}
