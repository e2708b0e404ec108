package middleware

import (
	"log/slog"
	"net/http"
	"runtime/debug"

	"github.com/gatewaykit/gateway/internal/problem"
	"github.com/gatewaykit/gateway/internal/reqinfo"
	"github.com/gatewaykit/gateway/internal/respwriter"
)

// Recover returns a middleware that turns a panic in the handler chain into
// a logged error and, when nothing was sent yet, a 500 problem+json response,
// so that one bad request never takes the process down.
//
// The log record (level Error, message "panic serving request") carries the
// panic value, the stack, the request ID, the method and the escaped path.
// When the response had already started (status sent or connection
// hijacked), no clean answer is possible: Recover logs, then panics with
// [net/http.ErrAbortHandler], which makes net/http abort the connection (or
// reset the HTTP/2 stream) without logging again. A panic with
// http.ErrAbortHandler itself is a deliberate abort and is re-panicked
// untouched and unlogged.
//
// Put Recover first (outermost). It attaches the request's reqinfo record,
// so the middleware inside it share one. Panics in goroutines that a handler
// starts are not on the request's stack and cannot be caught here.
//
// A nil logger means [log/slog.Default] at the time of the panic. The
// middleware is safe for simultaneous use by multiple goroutines.
func Recover(logger *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			r, _ = reqinfo.Ensure(r)
			rw := respwriter.New(w)
			defer func() {
				v := recover()
				if v == nil {
					return
				}
				if v == any(http.ErrAbortHandler) {
					panic(v)
				}
				l := logger
				if l == nil {
					l = slog.Default()
				}
				l.LogAttrs(r.Context(), slog.LevelError, "panic serving request",
					slog.Any("panic", v),
					slog.String("request_id", reqinfo.RequestID(r)),
					slog.String("method", r.Method),
					slog.String("path", r.URL.EscapedPath()),
					slog.String("stack", string(debug.Stack())),
				)
				if rw.WroteHeader() || rw.Hijacked() {
					panic(http.ErrAbortHandler)
				}
				problem.Write(rw, r, http.StatusInternalServerError, "the gateway failed to handle the request")
			}()
			next.ServeHTTP(rw, r)
		})
	}
}
