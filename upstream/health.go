package upstream

import (
	"context"
	"crypto/tls"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of [HealthCheck] and [OutlierDetection] fields.
const (
	DefaultHealthInterval            = 10 * time.Second
	DefaultHealthTimeout             = 2 * time.Second
	DefaultHealthyThreshold          = 2
	DefaultUnhealthyThreshold        = 3
	DefaultBaseEjectionTime          = 30 * time.Second
	DefaultMaxEjectionTime           = 300 * time.Second
	DefaultMaxEjectionPercent        = 10
	DefaultSlowStartMinWeightPercent = 10
)

// HealthCheck configures active health checks: every Interval (with
// jitter) each endpoint is probed; UnhealthyThreshold failed probes in a
// row take it out of rotation, HealthyThreshold successful ones bring it
// back. Endpoints start healthy, so that a new Upstream serves before the
// first round. The zero value (empty Type) means no active checks.
type HealthCheck struct {
	// Type is the probe: "http" (a GET of Path whose status must be in
	// Statuses), "tcp" (a connection is accepted) or "grpc" (the gRPC
	// health checking protocol, grpc.health.v1.Health/Check over HTTP/2
	// without TLS, h2c). Empty means no active health checks; New panics on
	// another value.
	Type string
	// Path is the HTTP path probed. Empty means "/".
	Path string
	// Host is the Host header of HTTP and gRPC probes, and for an "https"
	// Upstream whose TLSClientConfig has no ServerName, the name the
	// endpoint's certificate must have. Empty means the endpoint address.
	Host string
	// Statuses are the HTTP statuses that pass. Empty means 200 to 399.
	Statuses []int
	// Service is the service name sent in a gRPC probe. Empty asks for the
	// server's overall health.
	Service string
	// Interval is the period between probes of an endpoint. Zero means
	// [DefaultHealthInterval] (10s).
	Interval time.Duration
	// Jitter is the most added to or taken from each Interval at random,
	// so that many gateways do not probe in step. Zero means a tenth of
	// Interval.
	Jitter time.Duration
	// Timeout bounds one probe. Zero means [DefaultHealthTimeout] (2s).
	Timeout time.Duration
	// HealthyThreshold is the number of passing probes in a row that bring
	// an unhealthy endpoint back. Zero means [DefaultHealthyThreshold] (2).
	HealthyThreshold int
	// UnhealthyThreshold is the number of failed probes in a row that take
	// an endpoint out. Zero means [DefaultUnhealthyThreshold] (3).
	UnhealthyThreshold int
}

// PanicMode is what an Upstream does when too few endpoints are healthy
// (see Config.PanicThreshold).
type PanicMode int

const (
	// PanicRouteAll sends requests to every endpoint, healthy or not, as
	// Envoy's panic routing does: with most of a service deemed down, the
	// health signal is more likely wrong than the service.
	PanicRouteAll PanicMode = iota
	// PanicFail answers requests with [ErrNoHealthyEndpoints] (503).
	PanicFail
)

// ErrNoHealthyEndpoints is returned (and answered 503 with Retry-After)
// when no endpoint is healthy and Config.Panic is [PanicFail]. It matches
// [ErrNoEndpoints] with errors.Is.
var ErrNoHealthyEndpoints error = noHealthyError{}

type noHealthyError struct{}

func (noHealthyError) Error() string             { return "upstream: no healthy endpoints" }
func (noHealthyError) HTTPStatus() int           { return 503 }
func (noHealthyError) RetryAfter() time.Duration { return time.Second }
func (noHealthyError) Is(target error) bool      { return target == ErrNoEndpoints }

// EndpointHealth is the health of one endpoint, as [Upstream.Health]
// reports it.
type EndpointHealth struct {
	Endpoint Endpoint
	// Healthy is the active health check's verdict (true without checks).
	Healthy bool
	// Ejected is true while outlier detection keeps the endpoint out;
	// EjectedUntil is when it returns, TimesEjected how often it was
	// ejected (the ejection time is BaseEjectionTime × TimesEjected).
	Ejected      bool
	EjectedUntil time.Time
	TimesEjected int
	// InRotation reports whether the balancer may pick the endpoint now
	// (healthy and not ejected, or any endpoint in panic mode).
	InRotation bool
	// Weight is the weight the balancer sees, lowered during slow start.
	Weight int
	// LastCheck is the time of the last probe, LastError its failure.
	LastCheck time.Time
	LastError string
}

// HealthEventType names a change of an endpoint's or a service's health.
type HealthEventType string

// The health events.
const (
	EventUnhealthy  HealthEventType = "unhealthy"   // active checks failed
	EventHealthy    HealthEventType = "healthy"     // active checks pass again
	EventEjected    HealthEventType = "ejected"     // outlier detection ejected it
	EventReturned   HealthEventType = "returned"    // its ejection ended
	EventPanic      HealthEventType = "panic"       // too few healthy endpoints
	EventPanicEnded HealthEventType = "panic-ended" // enough are healthy again
)

// HealthEvent is passed to Config.OnHealthEvent.
type HealthEvent struct {
	Type HealthEventType
	// Endpoint is the endpoint's address; empty for panic events.
	Endpoint string
	// Reason is the probe failure, or the outlier rule that ejected it.
	Reason string
	// Until is the end of an ejection.
	Until time.Time
}

// healthConfig gathers the health settings of an Upstream.
type healthConfig struct {
	check     HealthCheck
	outlier   OutlierDetection
	slow      SlowStart
	threshold float64
	mode      PanicMode
	onEvent   func(HealthEvent)
	scheme    string
	tls       *tls.Config
}

func (c *healthConfig) enabled() bool {
	return c.check.Type != "" || c.outlier.enabled() || c.slow.Window > 0 || c.mode == PanicFail
}

// epState is the health of one endpoint. Fields are guarded by
// healthState.mu, except the passive-failure counters, which the request
// path updates atomically.
type epState struct {
	ep Endpoint

	consecErr atomic.Int32 // consecutive 5xx or gateway errors (passive)
	consecGw  atomic.Int32 // consecutive gateway errors (passive)

	healthy      bool
	okRun, bad   int
	ejectedUntil time.Time
	timesEjected int
	returnedAt   time.Time // entered rotation (slow start), zero when long ago
	lastReturn   time.Time // last ejection end, for the multiplier's decay
	lastCheck    time.Time
	lastErr      string
}

// pickSet is the published view the request path picks from.
type pickSet struct {
	eps   []Endpoint // in rotation, weights adjusted for slow start
	fail  bool       // PanicFail with too few healthy: answer 503
	panic bool
	// wake is the time (unix nanoseconds) at which the set must be
	// rebuilt (an ejection ends, a slow start step); 0 when none.
	wake int64
	// byAddr finds an endpoint's state from the request path, read-only.
	byAddr map[string]*epState
}

// healthState holds the health of an endpoint set and publishes the
// endpoints in rotation as an immutable snapshot.
type healthState struct {
	cfg healthConfig

	mu      sync.Mutex // protects eps, order, inPanic and rebuilding
	eps     map[string]*epState
	order   []*epState // discovery order
	inPanic bool

	pub  atomic.Pointer[pickSet]
	kick chan struct{} // wakes Run's timer loop after a change of wake

	clock func() time.Time // tests: a hand-moved clock; nil means time.Now
}

func (hs *healthState) now() time.Time {
	if hs.clock != nil {
		return hs.clock()
	}
	return time.Now()
}

func newHealthState(cfg healthConfig) *healthState {
	cfg.check = cfg.check.withDefaults()
	cfg.outlier = cfg.outlier.withDefaults()
	cfg.slow = cfg.slow.withDefaults()
	hs := &healthState{cfg: cfg, eps: map[string]*epState{}, kick: make(chan struct{}, 1)}
	hs.pub.Store(&pickSet{byAddr: map[string]*epState{}})
	return hs
}

func (hc HealthCheck) withDefaults() HealthCheck {
	switch hc.Type {
	case "", "http", "tcp", "grpc":
	default:
		panic("upstream: unknown HealthCheck.Type " + hc.Type)
	}
	if hc.Path == "" {
		hc.Path = "/"
	} else if !strings.HasPrefix(hc.Path, "/") {
		hc.Path = "/" + hc.Path
	}
	if hc.Interval <= 0 {
		hc.Interval = DefaultHealthInterval
	}
	if hc.Jitter <= 0 {
		hc.Jitter = hc.Interval / 10
	}
	if hc.Timeout <= 0 {
		hc.Timeout = DefaultHealthTimeout
	}
	if hc.HealthyThreshold <= 0 {
		hc.HealthyThreshold = DefaultHealthyThreshold
	}
	if hc.UnhealthyThreshold <= 0 {
		hc.UnhealthyThreshold = DefaultUnhealthyThreshold
	}
	hc.Statuses = slices.Clone(hc.Statuses)
	return hc
}

// nextInterval returns the wait before the next round: Interval ± Jitter.
func (hc *HealthCheck) nextInterval() time.Duration {
	j := int64(hc.Jitter)
	d := hc.Interval + time.Duration(rand.Int64N(2*j+1)-j)
	return max(d, time.Millisecond)
}

// setEndpoints replaces the endpoint set, keeping the state of endpoints
// that remain. New endpoints start healthy (in slow start when configured,
// unless this is the first set).
func (hs *healthState) setEndpoints(eps []Endpoint) {
	now := hs.now()
	hs.mu.Lock()
	first := len(hs.eps) == 0
	next := make(map[string]*epState, len(eps))
	order := make([]*epState, 0, len(eps))
	for _, ep := range eps {
		if ep.Addr == "" || next[ep.Addr] != nil {
			continue
		}
		st := hs.eps[ep.Addr]
		if st == nil {
			st = &epState{healthy: true}
			if !first {
				st.returnedAt = now
			}
		}
		st.ep = ep
		next[ep.Addr] = st
		order = append(order, st)
	}
	hs.eps, hs.order = next, order
	evs := hs.rebuildLocked(now)
	hs.mu.Unlock()
	hs.emit(evs)
}

// current returns the endpoints in the set (for the prober).
func (hs *healthState) current() []Endpoint {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	out := make([]Endpoint, len(hs.order))
	for i, st := range hs.order {
		out[i] = st.ep
	}
	return out
}

// checkResult records the verdict of one active probe of addr.
func (hs *healthState) checkResult(addr string, err error) {
	now := hs.now()
	var evs []HealthEvent
	hs.mu.Lock()
	st := hs.eps[addr]
	if st == nil {
		hs.mu.Unlock()
		return
	}
	st.lastCheck = now
	if err == nil {
		st.lastErr = ""
		st.bad = 0
		st.okRun++
		if !st.healthy && st.okRun >= hs.cfg.check.HealthyThreshold {
			st.healthy = true
			st.returnedAt = now
			evs = append(evs, HealthEvent{Type: EventHealthy, Endpoint: addr})
			evs = append(evs, hs.rebuildLocked(now)...)
		}
	} else {
		st.lastErr = err.Error()
		st.okRun = 0
		st.bad++
		if st.healthy && st.bad >= hs.cfg.check.UnhealthyThreshold {
			st.healthy = false
			evs = append(evs, HealthEvent{Type: EventUnhealthy, Endpoint: addr, Reason: st.lastErr})
			evs = append(evs, hs.rebuildLocked(now)...)
		}
	}
	hs.mu.Unlock()
	hs.emit(evs)
}

// rebuildLocked publishes the endpoints in rotation at now; hs.mu is held.
// It returns the panic events to emit.
func (hs *healthState) rebuildLocked(now time.Time) []HealthEvent {
	set := &pickSet{byAddr: make(map[string]*epState, len(hs.order))}
	var wake time.Time
	in := make([]Endpoint, 0, len(hs.order))
	var slow bool
	var evs []HealthEvent
	for _, st := range hs.order {
		set.byAddr[st.ep.Addr] = st
		if !st.ejectedUntil.IsZero() {
			if now.Before(st.ejectedUntil) {
				wake = earliest(wake, st.ejectedUntil)
				continue
			}
			st.ejectedUntil = time.Time{}
			evs = append(evs, HealthEvent{Type: EventReturned, Endpoint: st.ep.Addr})
			st.lastReturn = now
			st.returnedAt = now
			st.consecErr.Store(0)
			st.consecGw.Store(0)
		}
		if !st.healthy {
			continue
		}
		if hs.cfg.slow.Window > 0 && !st.returnedAt.IsZero() {
			if now.Sub(st.returnedAt) < hs.cfg.slow.Window {
				slow = true
			} else {
				st.returnedAt = time.Time{}
			}
		}
		in = append(in, st.ep)
	}
	if slow {
		// Weights are integers: scale every weight so that the ramping ones
		// can take fractional shares, and wake for the next step.
		for i := range in {
			st := set.byAddr[in[i].Addr]
			in[i].Weight = hs.cfg.slow.weight(in[i].Weight, st.returnedAt, now)
		}
		wake = earliest(wake, now.Add(hs.cfg.slow.step()))
	}
	total := len(hs.order)
	panicNow := total > 0 && (len(in) == 0 || float64(len(in)) < hs.cfg.threshold*float64(total))
	if panicNow {
		set.panic = true
		if hs.cfg.mode == PanicFail {
			set.fail = true
			in = nil
		} else {
			in = in[:0]
			for _, st := range hs.order {
				in = append(in, st.ep)
			}
		}
	}
	if panicNow != hs.inPanic {
		hs.inPanic = panicNow
		if panicNow {
			evs = append(evs, HealthEvent{Type: EventPanic})
		} else {
			evs = append(evs, HealthEvent{Type: EventPanicEnded})
		}
	}
	set.eps = in
	if !wake.IsZero() {
		set.wake = wake.UnixNano()
	}
	hs.pub.Store(set)
	select {
	case hs.kick <- struct{}{}:
	default:
	}
	return evs
}

func earliest(a, b time.Time) time.Time {
	if a.IsZero() || b.Before(a) {
		return b
	}
	return a
}

// snapshot returns the set to pick from, rebuilding it first when a
// scheduled change (an ejection's end, a slow start step) is due. The
// clock is read only while such a change is pending.
func (hs *healthState) snapshot() *pickSet {
	set := hs.pub.Load()
	if set.wake != 0 && hs.now().UnixNano() >= set.wake {
		hs.refresh()
		set = hs.pub.Load()
	}
	return set
}

// refresh rebuilds the published set at the current time.
func (hs *healthState) refresh() {
	hs.mu.Lock()
	set := hs.pub.Load()
	if set.wake == 0 || hs.now().UnixNano() < set.wake {
		hs.mu.Unlock() // another goroutine did it
		return
	}
	evs := hs.rebuildLocked(hs.now())
	hs.mu.Unlock()
	hs.emit(evs)
}

func (hs *healthState) emit(evs []HealthEvent) {
	if hs.cfg.onEvent == nil {
		return
	}
	for _, ev := range evs {
		hs.cfg.onEvent(ev)
	}
}

// report returns the health of every endpoint, in discovery order.
func (hs *healthState) report() []EndpointHealth {
	hs.snapshot() // apply due changes
	now := hs.now()
	set := hs.pub.Load()
	inRot := make(map[string]int, len(set.eps))
	for _, ep := range set.eps {
		inRot[ep.Addr] = ep.Weight
	}
	hs.mu.Lock()
	defer hs.mu.Unlock()
	out := make([]EndpointHealth, 0, len(hs.order))
	for _, st := range hs.order {
		w, ok := inRot[st.ep.Addr]
		eh := EndpointHealth{
			Endpoint:     st.ep,
			Healthy:      st.healthy,
			Ejected:      !st.ejectedUntil.IsZero() && now.Before(st.ejectedUntil),
			TimesEjected: st.timesEjected,
			InRotation:   ok,
			LastCheck:    st.lastCheck,
			LastError:    st.lastErr,
		}
		if eh.Ejected {
			eh.EjectedUntil = st.ejectedUntil
		}
		if ok {
			eh.Weight = w
		}
		out = append(out, eh)
	}
	return out
}

// runTimers rebuilds the set when a scheduled change is due, so that
// ejections end and slow start advances without traffic, until ctx ends.
func (hs *healthState) runTimers(ctx context.Context) {
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		wait := time.Hour
		if w := hs.pub.Load().wake; w != 0 {
			wait = max(time.Duration(w-hs.now().UnixNano()), 0)
		}
		t.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-hs.kick:
		case <-t.C:
			hs.refresh()
		}
	}
}

// Health reports the health of every endpoint, in discovery order: the
// active checks' verdict, outlier ejection, whether the balancer may pick
// it now and the weight it sees. Without health settings every endpoint is
// healthy and in rotation. It is safe to call at any time (for an admin
// API or metrics); it allocates.
func (u *Upstream) Health() []EndpointHealth {
	if u.health != nil {
		return u.health.report()
	}
	eps := *u.eps.Load()
	out := make([]EndpointHealth, len(eps))
	for i, ep := range eps {
		out[i] = EndpointHealth{Endpoint: ep, Healthy: true, InRotation: true, Weight: ep.Weight}
	}
	return out
}
