package middleware

import (
	"net/http"
	"strconv"

	"github.com/gatewaykit/gateway/internal/problem"
)

// BodyLimit returns a middleware that bounds request bodies to n bytes.
//
// A request that declares a Content-Length above n is answered 413
// problem+json at once, without calling the next handler and with
// "Connection: close" so that the server does not read the body it refused.
// Any other body is wrapped with [net/http.MaxBytesReader]: reading past n
// bytes fails with an [*net/http.MaxBytesError], which the proxy (through
// the gateway's error mapping) answers with 413 as well. Requests without a
// body pass untouched and allocate nothing.
//
// BodyLimit panics if n is not positive (a configuration error; to lift the
// limit, do not install the middleware). The middleware is safe for
// simultaneous use by multiple goroutines.
func BodyLimit(n int64) func(http.Handler) http.Handler {
	if n <= 0 {
		panic("middleware: BodyLimit needs a positive limit, got " + strconv.FormatInt(n, 10))
	}
	detail := "the request body is larger than the limit of " + strconv.FormatInt(n, 10) + " bytes"
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.ContentLength > n {
				w.Header().Set("Connection", "close")
				problem.Write(w, r, http.StatusRequestEntityTooLarge, detail)
				return
			}
			if r.Body == nil || r.Body == http.NoBody {
				next.ServeHTTP(w, r)
				return
			}
			r2 := r.WithContext(r.Context())
			r2.Body = http.MaxBytesReader(w, r.Body, n)
			next.ServeHTTP(w, r2)
		})
	}
}
