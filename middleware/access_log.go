package middleware

import (
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/gatewaykit/gateway/internal/problem"
	"github.com/gatewaykit/gateway/internal/reqinfo"
	"github.com/gatewaykit/gateway/internal/respwriter"
)

// AccessLog returns a middleware that writes one log record per request,
// message "request", after the response is complete. The record has these
// attributes, in order:
//
//	method      request method
//	path        escaped path (r.URL.EscapedPath); the query is not logged
//	            because it often carries secrets (tokens, API keys)
//	status      final status sent; 499 when nothing was sent and the client
//	            went away; 200 when nothing was sent (net/http's default)
//	bytes       response body bytes written by the handler chain inside
//	duration    time from entering the middleware to the handler's return
//	upstream    endpoint address the proxy used (reqinfo UpstreamAddr), or ""
//	request_id  the request ID (put [RequestID] outside AccessLog)
//	client_ip   client address from [RealIP], else the peer address
//	route       the matched route: reqinfo Route when the router recorded
//	            it, else r.Pattern as seen after the handler returned (only
//	            visible when no middleware between AccessLog and the router
//	            handed on a copy of the request)
//	user_agent  the User-Agent header
//
// Statuses below 500 log at level Info; 5xx log at level Error, because the
// request failed for the client whatever the cause. A request whose handler
// panics is logged with status 500 (what [Recover] answers) before the panic
// goes on. The output format is the logger's handler's: JSON with
// [log/slog.JSONHandler].
//
// When the logger is enabled at neither level, AccessLog adds no work. A
// nil logger means [log/slog.Default] (read when the middleware is built).
// The middleware is safe for simultaneous use by multiple goroutines.
func AccessLog(logger *slog.Logger) func(http.Handler) http.Handler {
	if logger == nil {
		logger = slog.Default()
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ctx := r.Context()
			if !logger.Enabled(ctx, slog.LevelInfo) && !logger.Enabled(ctx, slog.LevelError) {
				next.ServeHTTP(w, r)
				return
			}
			start := time.Now()
			r, info := reqinfo.Ensure(r)
			rw := respwriter.New(w)
			done := false
			defer func() {
				status := rw.Status()
				switch {
				case rw.WroteHeader():
				case !done:
					status = http.StatusInternalServerError // panicking; Recover answers 500
				case ctx.Err() == context.Canceled:
					status = problem.StatusClientClosedRequest
				default:
					status = http.StatusOK // net/http sends it when the handler wrote nothing
				}
				level := slog.LevelInfo
				if status >= 500 {
					level = slog.LevelError
				}
				if !logger.Enabled(ctx, level) {
					return
				}
				route := info.Route
				if route == "" {
					route = r.Pattern
				}
				ip := info.ClientIP
				if !ip.IsValid() {
					ip = remoteIP(r)
				}
				attrs := [...]slog.Attr{
					slog.String("method", r.Method),
					slog.String("path", r.URL.EscapedPath()),
					slog.Int("status", status),
					slog.Int64("bytes", rw.BytesWritten()),
					slog.Duration("duration", time.Since(start)),
					slog.String("upstream", info.UpstreamAddr),
					slog.String("request_id", info.RequestID),
					slog.String("client_ip", addrString(ip)),
					slog.String("route", route),
					slog.String("user_agent", r.UserAgent()),
				}
				logger.LogAttrs(ctx, level, "request", attrs[:]...)
			}()
			next.ServeHTTP(rw, r)
			done = true
		})
	}
}

// addrString formats a, or "" for the zero Addr.
func addrString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}
