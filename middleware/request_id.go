package middleware

import (
	"context"
	"math/rand/v2"
	"net/http"
	"unsafe"

	"github.com/gatewaykit/gateway/internal/reqinfo"
)

// RequestIDHeader is the header that carries the request ID in both
// directions (canonical form of X-Request-ID).
const RequestIDHeader = "X-Request-Id"

// maxRequestIDLen bounds an accepted inbound request ID.
const maxRequestIDLen = 128

// RequestID is the middleware that gives every request an ID. An inbound
// X-Request-ID is kept when it is a single header line of 1 to 128
// characters from [A-Za-z0-9._:-]; anything else (absent, empty, too long,
// other characters, several lines) is replaced by a generated ID: 26
// characters of lower-case Crockford base32 carrying 128 random bits from
// math/rand/v2's per-thread ChaCha8 generator (seeded from the operating
// system, no lock), so IDs are unique and not guessable from earlier ones.
//
// The ID is recorded in the request's reqinfo record (read it with
// [RequestIDFromContext]; the proxy forwards it upstream and problem
// responses carry it) and echoed in the X-Request-ID response header. When
// an earlier RequestID already recorded an ID, it is kept.
//
// RequestID is safe for simultaneous use by multiple goroutines. It costs
// one allocation per request (the response header value) once the request
// carries a reqinfo record.
func RequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r, info := reqinfo.Ensure(r)
		if info.RequestID == "" {
			if v := r.Header[RequestIDHeader]; len(v) == 1 && validRequestID(v[0]) {
				info.RequestID = v[0]
				w.Header()[RequestIDHeader] = []string{v[0]}
			} else {
				id, vals := newRequestID()
				info.RequestID = id
				w.Header()[RequestIDHeader] = vals
			}
		} else {
			w.Header().Set(RequestIDHeader, info.RequestID)
		}
		next.ServeHTTP(w, r)
	})
}

// RequestIDFromContext returns the request ID recorded in ctx by
// [RequestID], or "" when there is none.
func RequestIDFromContext(ctx context.Context) string {
	if info := reqinfo.From(ctx); info != nil {
		return info.RequestID
	}
	return ""
}

// validRequestID reports whether s is 1–128 characters of [A-Za-z0-9._:-].
func validRequestID(s string) bool {
	if len(s) == 0 || len(s) > maxRequestIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			c == '.', c == '_', c == ':', c == '-':
		default:
			return false
		}
	}
	return true
}

const crockford = "0123456789abcdefghjkmnpqrstvwxyz"

// idBox holds a generated ID and the one-element header value slice that
// refers to it, so that generating costs a single allocation.
type idBox struct {
	vals [1]string
	buf  [26]byte
}

// newRequestID returns a new random ID and a header value slice holding it.
func newRequestID() (string, []string) {
	b := new(idBox)
	hi, lo := rand.Uint64(), rand.Uint64()
	// 128 bits in 26 base32 digits (130 bits): the first digit takes the top
	// 3 bits of hi, then 5 bits at a time across the two words.
	for i := len(b.buf) - 1; i >= 0; i-- {
		b.buf[i] = crockford[lo&31]
		lo = lo>>5 | hi<<59
		hi >>= 5
	}
	// The bytes are never written again, so viewing them as a string is
	// safe (strings.Builder does the same).
	id := unsafe.String(&b.buf[0], len(b.buf))
	b.vals[0] = id
	return id, b.vals[:]
}
