package breaker

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Transport returns a RoundTripper that sends requests through next with
// the Breaker's policies, outermost first:
//
//	fallback → deadline → retry (with budget) → hedging → bulkhead
//	  → service circuit → endpoint circuit → attempt timeout → next
//
// A nil next means [http.DefaultTransport]. Each call returns a new
// RoundTripper over the same Breaker state, so one Breaker may guard
// several transports of one service. See the package documentation for
// why the policies come in this order.
//
// Requests that upgrade the connection (an Upgrade header, as for
// WebSocket) or ask for an event stream (Accept: text/event-stream) get
// only the bulkhead and the circuits: they are never retried or hedged and
// no timer cancels them, and their response is returned unwrapped so that
// the upgraded connection and flushing keep working.
//
// The RoundTripper is safe for simultaneous use by multiple goroutines.
func (b *Breaker) Transport(next http.RoundTripper) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	return &transport{b: b, next: next}
}

type transport struct {
	b    *Breaker
	next http.RoundTripper
}

// Synchronous reports whether the RoundTripper is done with a request once
// RoundTrip has returned and the response body is closed: true unless
// hedging is on (a cancelled hedge may still be finishing). An
// upstream.Upstream reuses its per-request state behind a synchronous
// transport.
func (t *transport) Synchronous() bool { return t.b.cfg.Hedge.Delay <= 0 }

// CloseIdleConnections closes the idle connections of the wrapped
// transport when it has such a method.
func (t *transport) CloseIdleConnections() {
	if c, ok := t.next.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// RoundTrip implements [http.RoundTripper].
func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	b := t.b
	b.stats.requests.Add(1)
	var res *http.Response
	var err error
	if isStream(req) {
		res, err = t.attempt(req, true, 0, b.now())
	} else {
		res, err = t.send(req)
	}
	if b.cfg.Fallback == nil || !t.wantFallback(req, res, err) {
		return res, err
	}
	if res != nil {
		drainClose(res.Body)
	}
	b.stats.fallbacks.Add(1)
	return b.cfg.Fallback.RoundTrip(req)
}

func (t *transport) wantFallback(req *http.Request, res *http.Response, err error) bool {
	if err != nil {
		return !errors.Is(req.Context().Err(), context.Canceled)
	}
	return t.b.isFailure(res, nil)
}

// send runs the attempts of a request that is not a stream, retrying
// within the budget and the deadline.
func (t *transport) send(req *http.Request) (*http.Response, error) {
	b := t.b
	// One clock reading serves the whole first attempt: nanotime is not
	// free on every machine (about 100ns on some VMs).
	now := b.now()
	var deadline int64
	if b.cfg.Deadline > 0 {
		deadline = now + int64(b.cfg.Deadline)
	}
	if b.budget != nil {
		b.budget.request(now)
	}
	canRetry := b.retry.maxAttempts > 1 && replayable(req)
	hedge := b.cfg.Hedge.Delay > 0 && hedgeable(req)
	out := req
	for n := 1; ; n++ {
		var res *http.Response
		var err error
		if n > 1 {
			now = b.now()
		}
		if hedge {
			res, err = t.hedged(out, deadline)
		} else {
			res, err = t.attempt(out, false, deadline, now)
		}
		if !canRetry || n >= b.retry.maxAttempts || !t.retryable(req, res, err) {
			return res, err
		}
		if !b.budget.tryRetry(b.now()) {
			b.stats.budgetDenied.Add(1)
			return res, err
		}
		delay := b.retry.backoff(n)
		if deadline != 0 && b.now()+int64(delay) >= deadline {
			return res, err // no time left for another attempt: answer this one
		}
		if res != nil {
			drainClose(res.Body)
		}
		if err := sleep(req.Context(), delay); err != nil {
			return nil, err
		}
		if out, err = rewind(req); err != nil {
			return nil, err
		}
		b.stats.retries.Add(1)
	}
}

// retryable reports whether the outcome of an attempt of req may be
// retried (the attempt count, body and budget are checked by the caller).
func (t *transport) retryable(req *http.Request, res *http.Response, err error) bool {
	if req.Context().Err() != nil {
		return false
	}
	if err != nil {
		switch {
		case isRejection(err), err == errDeadline:
			// An open circuit or a full bulkhead will say the same again;
			// the deadline is spent.
			return false
		case notSent(err):
			return true
		}
		return idempotent(req)
	}
	return idempotent(req) && t.b.retry.retryStatus(res.StatusCode)
}

// rewind returns a copy of req for another attempt, with a fresh body.
func rewind(req *http.Request) (*http.Request, error) {
	if req.Body == nil || req.Body == http.NoBody {
		return req, nil
	}
	body, err := req.GetBody()
	if err != nil {
		return nil, err
	}
	out := req.WithContext(req.Context())
	out.Body = body
	return out, nil
}

// attempt sends req once through the bulkhead, the circuits and the
// attempt timeout.
// now is the clock reading at the start of the attempt; the circuits file
// the outcome under it too (their window slices are a tenth of the window
// wide, far longer than an attempt's latency matters).
func (t *transport) attempt(req *http.Request, stream bool, deadline, now int64) (*http.Response, error) {
	b := t.b
	if b.bulk != nil {
		if err := b.bulk.acquire(req.Context()); err != nil {
			if err == ErrBulkheadFull {
				b.stats.bulkheadFull.Add(1)
			}
			return nil, err
		}
		defer b.bulk.release()
	}
	sp, err := b.svc.allow(now)
	if err != nil {
		b.stats.rejected.Add(1)
		return nil, err
	}
	var ep permit
	if b.epOn {
		if c := b.endpoint(req.URL.Host); c != nil {
			if ep, err = c.allow(now); err != nil {
				sp.record(ignored, now)
				b.stats.rejected.Add(1)
				return nil, err
			}
		}
	}
	var res *http.Response
	if stream || (b.cfg.Timeout <= 0 && deadline == 0) {
		res, err = t.next.RoundTrip(req)
	} else {
		res, err = t.timed(req, deadline, now)
	}
	o := t.classify(req, res, err)
	if o == failure || sp.probe || ep.probe {
		// A failure may open a circuit: its cooldown counts from now.
		now = b.now()
	}
	ep.record(o, now)
	sp.record(o, now)
	return res, err
}

// classify turns an attempt's result into a circuit outcome.
func (t *transport) classify(req *http.Request, res *http.Response, err error) outcome {
	if err != nil && (errors.Is(req.Context().Err(), context.Canceled) || isRejection(err)) {
		return ignored
	}
	if t.b.isFailure(res, err) {
		t.b.stats.failures.Add(1)
		return failure
	}
	return success
}

// timed sends req with a timer that cancels it at the attempt timeout or
// the deadline, whichever comes first. Once the response headers arrived,
// only the deadline is left (and not for an event stream); the timer is
// stopped when the body is closed.
func (t *transport) timed(req *http.Request, deadline, now int64) (*http.Response, error) {
	b := t.b
	d, cause := int64(b.cfg.Timeout), ErrTimeout
	if deadline != 0 {
		if rem := deadline - now; d == 0 || rem < d {
			d, cause = rem, errDeadline
		}
	}
	if d <= 0 {
		b.stats.timeouts.Add(1)
		return nil, cause
	}
	ctx, cancel := context.WithCancelCause(req.Context())
	sl := slotPool.Get().(*timerSlot)
	sl.arm(cancel, cause, time.Duration(d))
	res, err := t.next.RoundTrip(req.WithContext(ctx))
	if err != nil {
		sl.release()
		c := context.Cause(ctx)
		cancel(nil)
		if (c == ErrTimeout || c == errDeadline) && req.Context().Err() == nil {
			b.stats.timeouts.Add(1)
			return nil, c
		}
		return nil, err
	}
	tb := &timedBody{body: res.Body, ctx: ctx, cancel: cancel}
	if deadline != 0 && !isEventStream(res.Header) {
		sl.arm(cancel, errDeadline, time.Duration(deadline-b.now()))
		tb.slot.Store(sl)
	} else {
		sl.release()
	}
	res.Body = tb
	return res, nil
}

// timerSlot is a reusable timer that cancels an attempt's context with a
// cause. Slots are pooled: creating a timer costs more than the rest of
// the policies together (see BenchmarkPolicies).
type timerSlot struct {
	timer *time.Timer

	mu     sync.Mutex // protects armed, cause, cancel
	armed  bool
	cause  error
	cancel context.CancelCauseFunc
}

var slotPool = sync.Pool{New: func() any {
	sl := new(timerSlot)
	sl.timer = time.AfterFunc(time.Hour, sl.fire)
	sl.timer.Stop()
	return sl
}}

func (sl *timerSlot) fire() {
	sl.mu.Lock()
	armed, cause, cancel := sl.armed, sl.cause, sl.cancel
	sl.armed = false
	sl.mu.Unlock()
	if armed {
		cancel(cause)
	}
}

// arm (re)starts the timer: after d, cancel(cause).
func (sl *timerSlot) arm(cancel context.CancelCauseFunc, cause error, d time.Duration) {
	sl.mu.Lock()
	sl.armed, sl.cause, sl.cancel = true, cause, cancel
	sl.mu.Unlock()
	sl.timer.Reset(d)
}

// release disarms the slot and returns it to the pool. A fire already
// running sees armed false, or cancels a context that is finished anyway.
func (sl *timerSlot) release() {
	sl.mu.Lock()
	sl.armed, sl.cause, sl.cancel = false, nil, nil
	sl.mu.Unlock()
	sl.timer.Stop()
	slotPool.Put(sl)
}

// timedBody is the body of a response sent under a timer: it releases the
// timer and the attempt's context when closed (a second Close is a no-op).
type timedBody struct {
	body   io.ReadCloser
	ctx    context.Context
	cancel context.CancelCauseFunc
	slot   atomic.Pointer[timerSlot]
}

func (x *timedBody) Read(p []byte) (int, error) {
	n, err := x.body.Read(p)
	if err != nil && err != io.EOF && context.Cause(x.ctx) == errDeadline {
		err = errDeadline // the body outlived Config.Deadline
	}
	return n, err
}

func (x *timedBody) Close() error {
	if sl := x.slot.Swap(nil); sl != nil {
		sl.release()
	}
	err := x.body.Close()
	x.cancel(nil)
	return err
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-tm.C:
		return nil
	}
}

// drainClose reads a little of a body that will not be used, so that its
// connection can be reused, and closes it.
func drainClose(body io.ReadCloser) {
	if body == nil {
		return
	}
	_, _ = io.CopyN(io.Discard, body, 64<<10)
	_ = body.Close()
}

// isStream reports whether req upgrades the connection or asks for an
// event stream: such requests are never retried, hedged or timed.
func isStream(req *http.Request) bool {
	if len(req.Header["Upgrade"]) > 0 {
		return true
	}
	for _, a := range req.Header["Accept"] {
		if strings.Contains(a, "text/event-stream") {
			return true
		}
	}
	return false
}

func isEventStream(h http.Header) bool {
	ct := h.Get("Content-Type")
	return len(ct) >= 17 && strings.EqualFold(ct[:17], "text/event-stream")
}

func hedgeable(req *http.Request) bool {
	return (req.Method == http.MethodGet || req.Method == http.MethodHead) &&
		(req.Body == nil || req.Body == http.NoBody)
}
