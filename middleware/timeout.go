package middleware

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/gatewaykit/gateway/internal/problem"
	"github.com/gatewaykit/gateway/internal/respwriter"
)

// Timeout returns a middleware that bounds the time a request may take to
// d. It runs the next handler on the request's own goroutine with a context
// deadline d from now (an earlier deadline of the parent context still
// wins); the proxy's upstream call then ends with
// [context.DeadlineExceeded] and answers 504 problem+json itself. If the
// handler returns after the deadline without having written a response,
// Timeout writes the 504. Unlike [net/http.TimeoutHandler], nothing is
// buffered and no goroutine is started, so streaming, Flush, Hijack and
// [net/http.ResponseController] keep working. The handler must honour its
// context: Timeout cannot stop one that ignores it.
//
// The deadline covers the whole exchange, including a streamed response
// body, as Envoy's route timeout does: a response still streaming at the
// deadline is cut. Requests for
// long-lived streams are therefore exempt from the deadline altogether:
// protocol upgrades (a Connection header naming "upgrade", such as
// WebSocket) and Server-Sent Events (an Accept header naming
// text/event-stream). Bound those with the upstream's idle and read timeouts
// (like nginx's per-read proxy_read_timeout) instead.
//
// Timeout panics if d is not positive (a configuration error). The
// middleware is safe for simultaneous use by multiple goroutines.
func Timeout(d time.Duration) func(http.Handler) http.Handler {
	if d <= 0 {
		panic("middleware: Timeout needs a positive duration, got " + d.String())
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if isStreamRequest(r) {
				next.ServeHTTP(w, r)
				return
			}
			ctx, cancel := context.WithTimeout(r.Context(), d)
			defer cancel()
			r = r.WithContext(ctx)
			rw := respwriter.New(w)
			next.ServeHTTP(rw, r)
			if !rw.WroteHeader() && !rw.Hijacked() && ctx.Err() == context.DeadlineExceeded {
				problem.WriteError(rw, r, context.DeadlineExceeded)
			}
		})
	}
}

// isStreamRequest reports whether r asks for a protocol upgrade or an event
// stream.
func isStreamRequest(r *http.Request) bool {
	for _, v := range r.Header["Connection"] {
		if headerHasToken(v, "upgrade") {
			return true
		}
	}
	for _, v := range r.Header["Accept"] {
		if containsFold(v, "text/event-stream") {
			return true
		}
	}
	return false
}

// headerHasToken reports whether the comma-separated list v holds token,
// compared case-insensitively.
func headerHasToken(v, token string) bool {
	for v != "" {
		var elem string
		if i := strings.IndexByte(v, ','); i >= 0 {
			elem, v = v[:i], v[i+1:]
		} else {
			elem, v = v, ""
		}
		if strings.EqualFold(trimOWS(elem), token) {
			return true
		}
	}
	return false
}

// containsFold reports whether s contains the lower-case ASCII substr,
// ignoring ASCII case, without allocating.
func containsFold(s, substr string) bool {
	for i := 0; i+len(substr) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(substr)], substr) {
			return true
		}
	}
	return false
}
