package breaker

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults applied by [New] to zero [Config] fields.
const (
	DefaultFailures       = 5
	DefaultMinRequests    = 20
	DefaultWindow         = 10 * time.Second
	DefaultCooldown       = 30 * time.Second
	DefaultMaxEndpoints   = 1024
	DefaultRetryBaseDelay = 25 * time.Millisecond
	DefaultRetryMaxDelay  = time.Second
	DefaultRetryBudget    = 0.2
	DefaultMinRetryRate   = 10
	DefaultQueueTimeout   = time.Second
)

// Config configures a [Breaker]: the service circuit breaker (the top-level
// fields), per-endpoint breakers, and the other policies applied by
// [Breaker.Transport] and [Breaker.Handler]. [New] keeps a copy.
type Config struct {
	// Failures is the number of consecutive failures that opens the
	// service circuit. Zero means [DefaultFailures] (5).
	Failures int
	// FailureRate, between 0 and 1, also opens the circuit when that
	// fraction of the requests in the last Window failed, once the window
	// holds at least MinRequests requests. Zero means no rate threshold.
	FailureRate float64
	// MinRequests is the request volume the Window must hold before
	// FailureRate can open the circuit. Zero means [DefaultMinRequests] (20).
	MinRequests int
	// Window is the rolling period over which FailureRate is computed, in
	// ten slices. Zero means [DefaultWindow] (10s).
	Window time.Duration
	// Cooldown is how long an open circuit rejects requests before it
	// half-opens. Zero means [DefaultCooldown] (30s).
	Cooldown time.Duration
	// HalfOpenProbes is the number of requests a half-open circuit lets
	// through at once. Zero means 1.
	HalfOpenProbes int
	// SuccessesToClose is the number of successful probes that closes a
	// half-open circuit; any failed probe opens it again. Zero means
	// HalfOpenProbes.
	SuccessesToClose int
	// IsFailure classifies the outcome of an attempt (res is nil when err is
	// not). It is not called for requests the client cancelled, which never
	// count. Nil means [DefaultIsFailure]: connection errors, timeouts and
	// the statuses 502, 503 and 504.
	IsFailure func(res *http.Response, err error) bool

	// Endpoint configures breakers per endpoint, keyed by the request's
	// URL host (the address an upstream.Upstream picked), so that one bad
	// instance is cut off without failing the service. The zero value
	// means no per-endpoint breakers.
	Endpoint EndpointConfig

	// Timeout bounds each attempt until its response headers arrive (the
	// body is not bounded by it: see Deadline). Zero means no limit. It
	// costs a cancellable context per attempt (about seven allocations
	// behind upstream.Upstream's fast client); behind an Upstream,
	// upstream.Config.ResponseHeaderTimeout bounds the same wait with a
	// socket deadline, for free, and its expiry is a failure here too.
	Timeout time.Duration
	// Deadline bounds the whole request, retries, backoff and the response
	// body included. Streams (WebSocket and other upgrades, and
	// text/event-stream) are exempt. Zero means no limit.
	Deadline time.Duration

	// Retry configures retries of the same request. The zero value means
	// no retries.
	Retry RetryConfig

	// Bulkhead limits the requests in flight. The zero value means no
	// limit.
	Bulkhead BulkheadConfig

	// Hedge configures hedged requests. The zero value means no hedging.
	Hedge HedgeConfig

	// Fallback, if non-nil, answers a request that failed after every
	// policy (an error, a rejection by an open circuit or a full bulkhead,
	// or a response IsFailure reports as failed) in [Breaker.Transport]. A
	// request the client cancelled gets no fallback. [NewStatic] builds a
	// fixed response; another service's transport also fits.
	Fallback http.RoundTripper
	// FallbackHandler, if non-nil, answers the requests [Breaker.Handler]
	// rejects (open circuit, full bulkhead) instead of a 503 problem.
	FallbackHandler http.Handler

	// OnStateChange, if non-nil, is called after a circuit (the service's
	// or an endpoint's) changed state. It runs on the goroutine of the
	// request that caused the change and must be quick.
	OnStateChange func(StateChange)
}

// EndpointConfig configures the per-endpoint circuit breakers. Its fields
// mean what the same fields of [Config] mean for the service circuit; zero
// fields take the same defaults, except that per-endpoint breakers exist
// only when Failures or FailureRate is set.
type EndpointConfig struct {
	Failures         int
	FailureRate      float64
	MinRequests      int
	Window           time.Duration
	Cooldown         time.Duration
	HalfOpenProbes   int
	SuccessesToClose int
	// MaxEndpoints bounds the number of endpoint breakers kept; requests
	// to further hosts pass without one. Zero means [DefaultMaxEndpoints].
	MaxEndpoints int
}

// RetryConfig configures retries of one request in [Breaker.Transport].
//
// A retry happens only when the request can be sent again: its body is
// absent or replayable (Request.GetBody), and either it was never sent
// (connection refused, rejected by an endpoint breaker does not count:
// retrying the same host is pointless) or it is idempotent (GET, HEAD,
// OPTIONS, TRACE, PUT, DELETE, or an Idempotency-Key header) and failed
// with a timeout, a transport error or a status in Statuses. Upgrades and
// streams are never retried, nor requests the client cancelled, nor those
// refused by the service circuit or the bulkhead.
type RetryConfig struct {
	// MaxAttempts is the number of attempts including the first. Zero or
	// one means no retries.
	MaxAttempts int
	// BaseDelay is the backoff before the first retry; it doubles on each
	// retry up to MaxDelay, with full jitter (a uniformly random delay in
	// [0, backoff]). Zero means [DefaultRetryBaseDelay] (25ms).
	BaseDelay time.Duration
	// MaxDelay caps the backoff. Zero means [DefaultRetryMaxDelay] (1s).
	MaxDelay time.Duration
	// Statuses are the response statuses retried for idempotent requests.
	// Nil means 502, 503 and 504.
	Statuses []int
	// Budget caps retries (and hedges) at this fraction of the requests
	// seen in the last BudgetWindow, so that retries cannot multiply an
	// outage (Envoy's retry_budget, Linkerd's retry budget). Zero means
	// [DefaultRetryBudget] (0.2).
	Budget float64
	// MinRetriesPerSecond is a floor under the budget, so that a service
	// with little traffic can still retry. Zero means
	// [DefaultMinRetryRate] (10); use NoMinRetries for none.
	MinRetriesPerSecond int
	// NoMinRetries removes the MinRetriesPerSecond floor.
	NoMinRetries bool
	// BudgetWindow is the period over which the budget is computed. Zero
	// means 10s.
	BudgetWindow time.Duration
}

// BulkheadConfig limits a service's concurrent requests.
type BulkheadConfig struct {
	// MaxConcurrent is the number of attempts in flight at once. Zero means
	// no limit.
	MaxConcurrent int
	// MaxQueue is the number of requests that may wait for a slot; more are
	// refused at once with [ErrBulkheadFull]. Zero means none wait.
	MaxQueue int
	// QueueTimeout is how long a request waits for a slot before
	// [ErrBulkheadFull]. Zero means [DefaultQueueTimeout] (1s).
	QueueTimeout time.Duration
}

// HedgeConfig configures hedged requests: when an idempotent GET or HEAD
// without a body has no response headers after Delay, the same request is
// sent again (to the same URL; behind an upstream.Upstream, use it with the
// fast path's per-attempt endpoint choice in mind) and the first response
// that is not a failure wins; the others are cancelled. Hedges count
// against the retry budget.
type HedgeConfig struct {
	// Delay before each hedge. Zero means no hedging.
	Delay time.Duration
	// MaxHedges is the number of extra requests. Zero means 1.
	MaxHedges int
}

// Breaker is a set of resilience policies for one service: a service
// circuit breaker, optional per-endpoint breakers, a bulkhead, a retry
// policy with a retry budget, per-attempt timeouts, an overall deadline,
// hedging and a fallback. Use it as an [http.RoundTripper] middleware with
// [Breaker.Transport] (the upstream side, where all policies apply), as a
// handler middleware with [Breaker.Handler], or directly with
// [Breaker.Allow].
//
// A Breaker is safe for simultaneous use by multiple goroutines. It starts
// no goroutine.
type Breaker struct {
	cfg       Config
	base      time.Time
	svc       *circuit
	isFailure func(*http.Response, error) bool
	epTh      thresholds
	epOn      bool
	epMax     int
	retry     retryPolicy
	budget    *budget
	bulk      *bulkhead
	statuses  []int

	mu  sync.Mutex // protects writes of eps
	eps atomic.Pointer[map[string]*circuit]

	stats counters

	closedDone func(failed bool) // Allow's done for a closed circuit, bound once

	fake *atomic.Int64 // tests: a clock they move by hand (nanoseconds)
}

type counters struct {
	requests     atomic.Int64
	failures     atomic.Int64
	rejected     atomic.Int64
	bulkheadFull atomic.Int64
	retries      atomic.Int64
	budgetDenied atomic.Int64
	timeouts     atomic.Int64
	hedges       atomic.Int64
	fallbacks    atomic.Int64
	opened       atomic.Int64
}

// New returns a Breaker for cfg with its zero fields defaulted. It panics
// on negative counts or a FailureRate outside [0, 1] (programmer errors).
func New(cfg Config) *Breaker {
	if cfg.Failures < 0 || cfg.MinRequests < 0 || cfg.HalfOpenProbes < 0 || cfg.SuccessesToClose < 0 ||
		cfg.FailureRate < 0 || cfg.FailureRate > 1 || cfg.Endpoint.FailureRate < 0 || cfg.Endpoint.FailureRate > 1 ||
		cfg.Retry.MaxAttempts < 0 || cfg.Retry.Budget < 0 || cfg.Bulkhead.MaxConcurrent < 0 ||
		cfg.Bulkhead.MaxQueue < 0 || cfg.Hedge.MaxHedges < 0 || cfg.Endpoint.Failures < 0 {
		panic("breaker: negative count or failure rate outside [0, 1] in Config")
	}
	b := &Breaker{cfg: cfg, base: time.Now(), isFailure: cfg.IsFailure}
	if b.isFailure == nil {
		b.isFailure = DefaultIsFailure
	}
	b.closedDone = func(failed bool) {
		o := success
		if failed {
			o = failure
			b.stats.failures.Add(1)
		}
		permit{c: b.svc, gen: b.svc.gen.Load()}.record(o, b.now())
	}
	b.svc = newCircuit(b, "", resolve(cfg.Failures, cfg.FailureRate, cfg.MinRequests, cfg.Window,
		cfg.Cooldown, cfg.HalfOpenProbes, cfg.SuccessesToClose))
	ep := cfg.Endpoint
	if ep.Failures > 0 || ep.FailureRate > 0 {
		b.epOn = true
		failures := ep.Failures
		if failures == 0 {
			failures = int(^uint(0) >> 1) // rate threshold only
		}
		b.epTh = resolve(failures, ep.FailureRate, ep.MinRequests, ep.Window, ep.Cooldown, ep.HalfOpenProbes, ep.SuccessesToClose)
		b.epMax = ep.MaxEndpoints
		if b.epMax <= 0 {
			b.epMax = DefaultMaxEndpoints
		}
	}
	empty := map[string]*circuit{}
	b.eps.Store(&empty)
	b.retry = newRetryPolicy(cfg.Retry)
	if b.retry.maxAttempts > 1 || cfg.Hedge.Delay > 0 {
		b.budget = newBudget(cfg.Retry)
	}
	if cfg.Bulkhead.MaxConcurrent > 0 {
		b.bulk = newBulkhead(cfg.Bulkhead)
	}
	return b
}

func resolve(failures int, rate float64, minReq int, window, cooldown time.Duration, probes, toClose int) thresholds {
	th := thresholds{failures: failures, rate: rate, minRequests: uint64(minReq), window: window,
		cooldown: cooldown, probes: probes, toClose: toClose}
	if th.failures == 0 {
		th.failures = DefaultFailures
	}
	if th.minRequests == 0 {
		th.minRequests = DefaultMinRequests
	}
	if th.window <= 0 {
		th.window = DefaultWindow
	}
	if th.cooldown <= 0 {
		th.cooldown = DefaultCooldown
	}
	if th.probes == 0 {
		th.probes = 1
	}
	if th.toClose == 0 {
		th.toClose = th.probes
	}
	return th
}

// DefaultIsFailure is the failure classification used when
// Config.IsFailure is nil: any error but the client's cancellation
// (connection refused or reset, timeouts, [ErrTimeout]), and the statuses
// 502, 503 and 504.
func DefaultIsFailure(res *http.Response, err error) bool {
	if err != nil {
		return !errors.Is(err, context.Canceled)
	}
	switch res.StatusCode {
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// now reads the Breaker's monotonic clock in nanoseconds. Under
// testing/synctest it follows the bubble's fake time.
func (b *Breaker) now() int64 {
	if b.fake != nil {
		return b.fake.Load()
	}
	return int64(time.Since(b.base))
}

func (b *Breaker) emit(ev StateChange) {
	if ev.From == ev.To || b.cfg.OnStateChange == nil {
		return
	}
	b.cfg.OnStateChange(ev)
}

// State returns the state of the service circuit. An open circuit whose
// cooldown has passed reports HalfOpen: the next request is a probe.
func (b *Breaker) State() State { return b.svc.State() }

// EndpointState returns the state of the breaker of the endpoint host
// (host:port as in the request URL); Closed when it has none.
func (b *Breaker) EndpointState(host string) State {
	if c := (*b.eps.Load())[host]; c != nil {
		return c.State()
	}
	return Closed
}

// Allow asks the service circuit for permission to send one request. When
// it is open it returns a nil done and an error matching [ErrOpen].
// Otherwise the caller must call done exactly once, with failed true when
// the call failed in a way that should count against the service (Allow
// does not consult Config.IsFailure). Allow, and done while the circuit is
// closed, allocate nothing.
//
// Allow is the two-step form (see gobreaker's TwoStepCircuitBreaker) for
// code that is not an HTTP round trip; [Breaker.Transport] and
// [Breaker.Handler] use the same circuit.
func (b *Breaker) Allow() (done func(failed bool), err error) {
	b.stats.requests.Add(1)
	p, err := b.svc.allow(b.now())
	if err != nil {
		b.stats.rejected.Add(1)
		return nil, err
	}
	if !p.probe {
		return b.closedDone, nil
	}
	return func(failed bool) {
		o := success
		if failed {
			o = failure
			b.stats.failures.Add(1)
		}
		p.record(o, b.now())
	}, nil
}

// endpoint returns the circuit of host, creating it; nil when per-endpoint
// breakers are off or the bound is reached.
func (b *Breaker) endpoint(host string) *circuit {
	if !b.epOn {
		return nil
	}
	if c := (*b.eps.Load())[host]; c != nil {
		return c
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	m := *b.eps.Load()
	if c := m[host]; c != nil {
		return c
	}
	if len(m) >= b.epMax {
		return nil
	}
	next := make(map[string]*circuit, len(m)+1)
	for k, v := range m {
		next[k] = v
	}
	c := newCircuit(b, host, b.epTh)
	next[host] = c
	b.eps.Store(&next)
	return c
}

// Stats is a snapshot of a Breaker's state and counters since New.
type Stats struct {
	// State is the service circuit's state.
	State State
	// WindowRequests and WindowFailures are the service circuit's counts
	// in its rolling window (reset on every state change);
	// ConsecutiveFailures its current run of failures.
	WindowRequests, WindowFailures uint64
	ConsecutiveFailures            int
	// Requests counts the requests seen (Transport, Handler and Allow).
	Requests int64
	// Failures counts attempts classified as failures.
	Failures int64
	// Rejected counts requests refused by an open circuit (service or
	// endpoint).
	Rejected int64
	// BulkheadFull counts requests refused by the bulkhead.
	BulkheadFull int64
	// Retries counts retries sent; BudgetDenied the retries (and hedges)
	// the retry budget refused.
	Retries, BudgetDenied int64
	// Timeouts counts attempts ended by Timeout or Deadline.
	Timeouts int64
	// Hedges counts hedged requests sent.
	Hedges int64
	// Fallbacks counts requests answered by the fallback.
	Fallbacks int64
	// Opened counts the times any circuit opened.
	Opened int64
	// Endpoints lists the per-endpoint breakers.
	Endpoints []EndpointStats
}

// EndpointStats is the state of one endpoint's breaker.
type EndpointStats struct {
	Endpoint                       string
	State                          State
	WindowRequests, WindowFailures uint64
	ConsecutiveFailures            int
}

// Stats returns the Breaker's state and counters. It is safe to call at
// any time; the fields are read one by one, not as one atomic snapshot.
func (b *Breaker) Stats() Stats {
	c := &b.stats
	s := Stats{
		State:        b.svc.State(),
		Requests:     c.requests.Load(),
		Failures:     c.failures.Load(),
		Rejected:     c.rejected.Load(),
		BulkheadFull: c.bulkheadFull.Load(),
		Retries:      c.retries.Load(),
		BudgetDenied: c.budgetDenied.Load(),
		Timeouts:     c.timeouts.Load(),
		Hedges:       c.hedges.Load(),
		Fallbacks:    c.fallbacks.Load(),
		Opened:       c.opened.Load(),
	}
	s.WindowRequests, s.WindowFailures, s.ConsecutiveFailures = b.svc.counts()
	for host, ec := range *b.eps.Load() {
		es := EndpointStats{Endpoint: host, State: ec.State()}
		es.WindowRequests, es.WindowFailures, es.ConsecutiveFailures = ec.counts()
		s.Endpoints = append(s.Endpoints, es)
	}
	sortEndpoints(s.Endpoints)
	return s
}

func sortEndpoints(es []EndpointStats) {
	slices.SortFunc(es, func(a, b EndpointStats) int { return strings.Compare(a.Endpoint, b.Endpoint) })
}
