package breaker

import (
	"sync"
	"sync/atomic"
	"time"
)

// State is the state of a circuit breaker.
type State int32

// The states of a circuit breaker.
const (
	// Closed lets every request through and counts failures.
	Closed State = iota
	// Open rejects every request with [ErrOpen] until the cooldown ends.
	Open
	// HalfOpen lets a few probe requests through; their successes close the
	// circuit, a failure opens it again.
	HalfOpen
)

// String returns "closed", "open" or "half-open".
func (s State) String() string {
	switch s {
	case Closed:
		return "closed"
	case Open:
		return "open"
	case HalfOpen:
		return "half-open"
	}
	return "unknown"
}

// StateChange is the event passed to Config.OnStateChange.
type StateChange struct {
	// Endpoint is the host:port of a per-endpoint breaker, empty for the
	// service breaker.
	Endpoint string
	From, To State
	// Failures and Requests are the counts in the rolling window when the
	// circuit opened (zero for other transitions).
	Failures, Requests uint64
}

// thresholds are the resolved (defaulted) settings of one circuit.
type thresholds struct {
	failures    int
	rate        float64
	minRequests uint64
	window      time.Duration
	cooldown    time.Duration
	probes      int
	toClose     int
}

// outcome is what one request taught a circuit.
type outcome uint8

const (
	success outcome = iota
	failure
	ignored // client gone, rejected by an inner policy: says nothing of the upstream
)

// permit is what allow hands out: the generation of the state that allowed
// the request, and whether it is a half-open probe.
type permit struct {
	c     *circuit
	gen   uint64
	probe bool
}

// circuit is one circuit breaker state machine. The closed-state path of
// allow is lock-free (two atomic loads); recording takes the mutex.
type circuit struct {
	b        *Breaker
	endpoint string
	th       thresholds
	openErr  *openError // preallocated so that rejecting allocates nothing

	state     atomic.Int32
	gen       atomic.Uint64
	openUntil atomic.Int64 // clock reading at which an open circuit may half-open

	mu      sync.Mutex // protects the fields below and state transitions
	consec  int        // consecutive failures while closed
	win     window     // requests/failures while closed
	probing int        // half-open probes in flight
	probeOK int        // half-open successes
}

func newCircuit(b *Breaker, endpoint string, th thresholds) *circuit {
	c := &circuit{b: b, endpoint: endpoint, th: th, win: newWindow(th.window)}
	msg := "breaker: circuit open"
	if endpoint != "" {
		msg += " for endpoint " + endpoint
	}
	c.openErr = &openError{c: c, msg: msg}
	return c
}

func (c *circuit) State() State {
	s := State(c.state.Load())
	if s == Open && c.b.now() >= c.openUntil.Load() {
		return HalfOpen // would half-open on the next request
	}
	return s
}

// allow asks for a permit at now.
func (c *circuit) allow(now int64) (permit, error) {
	if State(c.state.Load()) == Closed {
		return permit{c: c, gen: c.gen.Load()}, nil
	}
	if State(c.state.Load()) == Open && now < c.openUntil.Load() {
		return permit{}, c.openErr
	}
	var ev StateChange
	c.mu.Lock()
	switch State(c.state.Load()) {
	case Closed:
		c.mu.Unlock()
		return permit{c: c, gen: c.gen.Load()}, nil
	case Open:
		if now < c.openUntil.Load() {
			c.mu.Unlock()
			return permit{}, c.openErr
		}
		ev = c.transition(HalfOpen)
	}
	if c.probing >= c.th.probes {
		c.mu.Unlock()
		c.b.emit(ev)
		return permit{}, c.openErr
	}
	c.probing++
	p := permit{c: c, gen: c.gen.Load(), probe: true}
	c.mu.Unlock()
	c.b.emit(ev)
	return p, nil
}

// record tells the circuit how the request of permit p ended.
func (p permit) record(o outcome, now int64) {
	c := p.c
	if c == nil {
		return
	}
	if o == ignored && !p.probe {
		return
	}
	var ev StateChange
	c.mu.Lock()
	if c.gen.Load() != p.gen {
		// The circuit changed state since: the result belongs to an era
		// that is over.
		c.mu.Unlock()
		return
	}
	switch State(c.state.Load()) {
	case Closed:
		if o == failure {
			c.consec++
			c.win.add(now, 1, 1)
		} else {
			c.consec = 0
			c.win.add(now, 1, 0)
		}
		if c.consec >= c.th.failures {
			ev = c.open(now)
		} else if c.th.rate > 0 {
			// Checked on successes too: the volume may just have reached
			// MinRequests.
			total, failed := c.win.sums(now)
			if total >= c.th.minRequests && failed > 0 && float64(failed) >= c.th.rate*float64(total) {
				ev = c.open(now)
			}
		}
	case HalfOpen:
		if !p.probe {
			break // a closed-era request that ended late
		}
		c.probing--
		switch o {
		case failure:
			ev = c.open(now)
		case success:
			c.probeOK++
			if c.probeOK >= c.th.toClose {
				ev = c.transition(Closed)
			}
		}
	}
	c.mu.Unlock()
	c.b.emit(ev)
}

// open moves to Open at now; c.mu is held.
func (c *circuit) open(now int64) StateChange {
	total, failed := c.win.sums(now)
	c.openUntil.Store(now + int64(c.th.cooldown))
	ev := c.transition(Open)
	ev.Failures, ev.Requests = failed, total
	return ev
}

// transition moves to s and starts a new generation; c.mu is held. It
// returns the event to emit once the lock is released.
func (c *circuit) transition(s State) StateChange {
	from := State(c.state.Load())
	c.consec, c.probing, c.probeOK = 0, 0, 0
	c.win.reset()
	c.gen.Add(1)
	c.state.Store(int32(s))
	switch s {
	case Open:
		c.b.stats.opened.Add(1)
	}
	return StateChange{Endpoint: c.endpoint, From: from, To: s}
}

// remaining returns how long an open circuit stays open.
func (c *circuit) remaining() time.Duration {
	if State(c.state.Load()) != Open {
		return 0
	}
	return max(0, time.Duration(c.openUntil.Load()-c.b.now()))
}

// counts returns the rolling window's requests and failures.
func (c *circuit) counts() (requests, failures uint64, consecutive int) {
	now := c.b.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	requests, failures = c.win.sums(now)
	return requests, failures, c.consec
}
