package redislimit

import "sync/atomic"

// State is the state of the breaker a [Limiter] keeps around Redis.
type State int32

const (
	// Closed: Redis is used for every decision.
	Closed State = iota
	// Open: Redis failed FailureThreshold times in a row; decisions skip
	// it (fallback or error, no network wait) until Cooldown has passed.
	Open
	// HalfOpen: the cooldown has passed and one probe decision is in
	// flight to Redis; the others still skip it.
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

// breaker is a consecutive-failure circuit breaker on atomics: no lock and
// no allocation on the request path.
type breaker struct {
	threshold int32
	cooldown  int64 // ns
	onChange  func(from, to State)

	state    atomic.Int32
	failures atomic.Int32
	openedAt atomic.Int64 // ns, clock of the Limiter
}

// allow reports whether a call may go to Redis at now.
func (b *breaker) allow(now int64) bool {
	switch State(b.state.Load()) {
	case Closed:
		return true
	case Open:
		if now-b.openedAt.Load() >= b.cooldown && b.state.CompareAndSwap(int32(Open), int32(HalfOpen)) {
			b.notify(Open, HalfOpen)
			return true // this caller is the probe
		}
	}
	return false
}

func (b *breaker) success() {
	if b.failures.Load() != 0 {
		b.failures.Store(0)
	}
	if st := State(b.state.Load()); st != Closed && b.state.CompareAndSwap(int32(st), int32(Closed)) {
		b.notify(st, Closed)
	}
}

func (b *breaker) failure(now int64) {
	switch State(b.state.Load()) {
	case HalfOpen:
		b.openedAt.Store(now)
		if b.state.CompareAndSwap(int32(HalfOpen), int32(Open)) {
			b.notify(HalfOpen, Open)
		}
	case Closed:
		if b.failures.Add(1) >= b.threshold {
			b.openedAt.Store(now)
			if b.state.CompareAndSwap(int32(Closed), int32(Open)) {
				b.failures.Store(0)
				b.notify(Closed, Open)
			}
		}
	}
}

func (b *breaker) notify(from, to State) {
	if b.onChange != nil {
		b.onChange(from, to)
	}
}
