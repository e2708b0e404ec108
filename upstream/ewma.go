package upstream

import (
	"context"
	"errors"
	"math"
	"net/http"
	"time"
)

// PeakEWMAConfig configures a [PeakEWMA] balancer.
type PeakEWMAConfig struct {
	// Decay is the time constant of the latency average: a sample's
	// influence falls to 1/e after Decay, and the estimate of an endpoint
	// that gets no traffic decays towards zero at that rate, so a slow
	// endpoint is tried again once it has been left alone for a while.
	// Zero means 10s.
	Decay time.Duration
	// ErrorPenalty is the latency recorded for an attempt that ended in an
	// error when the measured latency is shorter, so failing endpoints look
	// slow. The client going away (context.Canceled) records nothing.
	// Zero means 1s.
	ErrorPenalty time.Duration
}

// PeakEWMA is a [Balancer] and [Observer] that sends each request to the
// cheaper of two distinct endpoints drawn at random, where the cost of an
// endpoint is its peak-sensitive moving average of latency times its
// requests in flight plus one, divided by its weight (Weight zero or less
// counts as 1). This is the algorithm of Finagle's and Linkerd's PeakEwma:
//
//   - a sample above the current estimate replaces it at once (peak
//     sensitivity: a slow endpoint is avoided from its first slow answer);
//   - a lower sample is averaged in, with a weight that grows with the time
//     since the previous sample (time constant Decay);
//   - between samples the estimate decays towards zero, so an avoided
//     endpoint recovers its turn;
//   - an endpoint with no sample yet costs nothing while idle (it gets a
//     probe request) and a large penalty while that probe is in flight, so
//     that a new endpoint is not flooded before its latency is known.
//
// Latency is what the proxy reports to End (time to response headers);
// errors count as at least [PeakEWMAConfig.ErrorPenalty].
//
// The zero PeakEWMA is ready to use with the default configuration; use
// [NewPeakEWMA] to change it. State is kept per endpoint address, so it
// survives the set changing between calls, and addresses that have been idle
// and out of every recent set are dropped now and then. PeakEWMA is safe for
// simultaneous use by multiple goroutines and must not be copied after first
// use. Pick, Begin and End do not allocate, except Begin the first time it
// sees an address.
type PeakEWMA struct {
	decay   float64 // Decay in nanoseconds; zero means the default
	penalty float64 // ErrorPenalty in nanoseconds; zero means the default
	t       p2cTable
	now     func() int64 // monotonic nanoseconds; nil means monoNow (tests set it)
}

const (
	defaultEWMADecay    = 10 * time.Second
	defaultErrorPenalty = time.Second
	// unsampledPenalty is the cost of an endpoint whose probe is in flight
	// (Finagle's Penalty, Long.MaxValue >> 16 nanoseconds): larger than any
	// real cost, yet small enough to add the in-flight count to.
	unsampledPenalty = float64(math.MaxInt64 >> 16)
)

// NewPeakEWMA returns a PeakEWMA configured by cfg.
func NewPeakEWMA(cfg PeakEWMAConfig) *PeakEWMA {
	return &PeakEWMA{decay: float64(cfg.Decay), penalty: float64(cfg.ErrorPenalty)}
}

// processStart anchors monoNow; time.Since reads the monotonic clock.
var processStart = time.Now()

func monoNow() int64 { return int64(time.Since(processStart)) }

func (p *PeakEWMA) nanos() int64 {
	if p.now != nil {
		return p.now()
	}
	return monoNow()
}

func (p *PeakEWMA) tau() float64 {
	if p.decay > 0 {
		return p.decay
	}
	return float64(defaultEWMADecay)
}

// Pick returns the cheaper of two random endpoints of eps, or
// [ErrNoEndpoints] when eps is empty.
func (p *PeakEWMA) Pick(_ *http.Request, eps []Endpoint) (Endpoint, error) {
	n := len(eps)
	switch n {
	case 0:
		return Endpoint{}, ErrNoEndpoints
	case 1:
		return eps[0], nil
	}
	i, j := p.t.pair(n)
	a, b := &eps[i], &eps[j]
	now := p.nanos()
	ca := p.cost(p.t.get(a.Addr), now) / float64(weightOf(a))
	cb := p.cost(p.t.get(b.Addr), now) / float64(weightOf(b))
	if cb < ca {
		return *b, nil
	}
	return *a, nil
}

// cost returns e's load at now: the decayed latency estimate times the
// requests in flight plus one.
func (p *PeakEWMA) cost(e *p2cEntry, now int64) float64 {
	if e == nil {
		return 0
	}
	inflight := e.load()
	e.mu.Lock()
	ewma, stamp, sampled := e.ewma, e.stamp, e.sampled
	e.mu.Unlock()
	if !sampled {
		if inflight == 0 {
			return 0
		}
		return unsampledPenalty + float64(inflight)
	}
	return ewma * decay(now-stamp, p.tau()) * float64(inflight+1)
}

// Begin counts a request in flight to ep.
func (p *PeakEWMA) Begin(ep Endpoint) {
	p.t.getOrCreate(ep.Addr).inflight.Add(1)
}

// End counts the request begun on ep as done and records its latency d; an
// error other than the client's cancellation records at least the error
// penalty.
func (p *PeakEWMA) End(ep Endpoint, d time.Duration, err error) {
	e := p.t.getOrCreate(ep.Addr)
	e.done()
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return // the client went away: says nothing about the endpoint
		}
		penalty := p.penalty
		if penalty <= 0 {
			penalty = float64(defaultErrorPenalty)
		}
		d = max(d, time.Duration(penalty))
	}
	p.observe(e, float64(max(d, 0)), p.nanos())
}

// decay returns e^(-elapsed/tau), the weight left to a value elapsed
// nanoseconds old; 1 for elapsed ≤ 0. Busy endpoints are sampled
// milliseconds apart against a tau of seconds, where four terms of the
// Taylor series are exact to 1e-13 and much cheaper than math.Exp.
func decay(elapsed int64, tau float64) float64 {
	if elapsed <= 0 {
		return 1
	}
	x := float64(elapsed) / tau
	if x < 1e-3 {
		return 1 - x*(1-x*(0.5-x/6))
	}
	return math.Exp(-x)
}

// observe adds the latency sample rtt (nanoseconds) taken at now.
func (p *PeakEWMA) observe(e *p2cEntry, rtt float64, now int64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.sampled {
		e.ewma, e.stamp, e.sampled = rtt, now, true
		return
	}
	w := decay(now-e.stamp, p.tau())
	if cur := e.ewma * w; rtt > cur {
		e.ewma = rtt // peak: take the worse latency at once
	} else {
		e.ewma = cur + rtt*(1-w)
	}
	e.stamp = max(e.stamp, now)
}

var (
	_ Balancer = (*PeakEWMA)(nil)
	_ Observer = (*PeakEWMA)(nil)
)
