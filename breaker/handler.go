package breaker

import (
	"context"
	"errors"
	"net/http"

	"github.com/gatewaykit/gateway/internal/problem"
	"github.com/gatewaykit/gateway/internal/respwriter"
)

// Handler returns a middleware that guards next with the Breaker's
// service-level policies that make sense around a handler, outermost
// first: bulkhead → service circuit → deadline. Retries, hedging, attempt
// timeouts and per-endpoint breakers need to resend a request and so live
// only in [Breaker.Transport].
//
// The circuit learns from the status next writes: IsFailure sees a
// response with that status and the response headers (a handler that
// writes nothing counts as 200); a panic is a failure (and is re-raised);
// a request the client cancelled counts as nothing. A rejected request
// (open circuit, full bulkhead) gets Config.FallbackHandler when set,
// otherwise a 503 problem+json with Retry-After.
//
// The bulkhead slot is held while next runs. Upgrades and event streams
// skip the bulkhead and the deadline (a WebSocket would hold a slot for
// its whole life), and the response writer passed to next keeps Flush,
// Hijack and [http.ResponseController] working.
func (b *Breaker) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.stats.requests.Add(1)
		stream := isStream(r)
		if b.bulk != nil && !stream {
			if err := b.bulk.acquire(r.Context()); err != nil {
				if err == ErrBulkheadFull {
					b.stats.bulkheadFull.Add(1)
				}
				b.reject(w, r, err)
				return
			}
			defer b.bulk.release()
		}
		p, err := b.svc.allow(b.now())
		if err != nil {
			b.stats.rejected.Add(1)
			b.reject(w, r, err)
			return
		}
		in := r.Context()
		if b.cfg.Deadline > 0 && !stream {
			ctx, cancel := context.WithTimeoutCause(in, b.cfg.Deadline, errDeadline)
			defer cancel()
			r = r.WithContext(ctx)
		}
		rw := respwriter.New(w)
		done := false
		defer func() {
			if !done {
				b.stats.failures.Add(1)
				p.record(failure, b.now()) // next panicked; the panic goes on
			}
		}()
		next.ServeHTTP(rw, r)
		done = true
		p.record(b.handlerOutcome(in, rw), b.now())
	})
}

func (b *Breaker) handlerOutcome(in context.Context, rw *respwriter.Writer) outcome {
	status := rw.Status()
	if status == 0 {
		if rw.Hijacked() {
			return success
		}
		if errors.Is(in.Err(), context.Canceled) {
			return ignored
		}
		status = http.StatusOK
	}
	if status == problem.StatusClientClosedRequest || errors.Is(in.Err(), context.Canceled) {
		return ignored
	}
	if b.isFailure(&http.Response{StatusCode: status, Header: rw.Header()}, nil) {
		b.stats.failures.Add(1)
		return failure
	}
	return success
}

func (b *Breaker) reject(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(r.Context().Err(), context.Canceled) {
		return
	}
	if b.cfg.FallbackHandler != nil {
		b.stats.fallbacks.Add(1)
		b.cfg.FallbackHandler.ServeHTTP(w, r)
		return
	}
	problem.WriteError(w, r, err)
}
