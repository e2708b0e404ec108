package auth

import (
	"errors"
	"net/http"
	"strings"
)

// sentinel is an error that knows its HTTP status and RFC 6750 error code,
// so that errors.Is works on it and problem.Status maps it.
type sentinel struct {
	msg    string
	status int
	code   string // RFC 6750 §3.1 error code; "" for none
	detail string // client-facing detail
}

func (e *sentinel) Error() string   { return e.msg }
func (e *sentinel) HTTPStatus() int { return e.status }

func newSentinel(status int, code, detail string) *sentinel {
	return &sentinel{msg: "auth: " + detail, status: status, code: code, detail: detail}
}

// Errors returned by the authenticators and policies of this package. Each
// carries the status [Require] answers with (it implements HTTPStatus() int);
// wrapped errors add the reason for logs, never for the client.
var (
	// ErrNoCredentials is returned when the request carries no credential
	// of the authenticator's kind: 401, and [Require] tries the next
	// authenticator.
	ErrNoCredentials = newSentinel(http.StatusUnauthorized, "", "no credentials")
	// ErrInvalidRequest is returned for an ambiguous credential, such as
	// two Authorization headers: 400 (RFC 6750 invalid_request).
	ErrInvalidRequest = newSentinel(http.StatusBadRequest, "invalid_request", "malformed credentials")
	// ErrInvalidToken is returned for a token that is malformed, too large,
	// badly signed, or fails a claim check: 401 (RFC 6750 invalid_token).
	ErrInvalidToken = newSentinel(http.StatusUnauthorized, "invalid_token", "invalid token")
	// ErrTokenExpired is returned for a token past its exp (plus leeway):
	// 401 (invalid_token).
	ErrTokenExpired = newSentinel(http.StatusUnauthorized, "invalid_token", "token expired")
	// ErrUnknownKey is returned when a token names a key (kid) that its
	// issuer's key set does not hold, even after a refresh: 401
	// (invalid_token).
	ErrUnknownKey = newSentinel(http.StatusUnauthorized, "invalid_token", "unknown signing key")
	// ErrInvalidCredentials is returned for an unknown or wrong API key,
	// user or password (deliberately the same error for both): 401.
	ErrInvalidCredentials = newSentinel(http.StatusUnauthorized, "", "invalid credentials")
	// ErrForbidden is returned when the identity is not allowed the route
	// by an [ACL] or [Match]: 403.
	ErrForbidden = newSentinel(http.StatusForbidden, "", "access denied")
	// ErrInsufficientScope is returned by [Scopes] when a required scope is
	// missing: 403 (RFC 6750 insufficient_scope).
	ErrInsufficientScope = newSentinel(http.StatusForbidden, "insufficient_scope", "insufficient scope")
	// ErrUnavailable is returned when the key source, authorization server
	// or auth service needed to decide cannot be reached (or times out):
	// 503. The client is not at fault, so this is never a 401.
	ErrUnavailable = newSentinel(http.StatusServiceUnavailable, "", "authentication service unavailable")
)

// Configuration errors returned by the constructors.
var (
	// ErrConfig is wrapped by every error a constructor returns for an
	// invalid configuration.
	ErrConfig = errors.New("auth: invalid configuration")
)

// DeniedError is returned by [Forward] when the auth service refuses the
// request: [Require] relays its status, selected headers and body to the
// client instead of a problem document, so that a login redirect or a
// service-specific challenge reaches the client unchanged.
type DeniedError struct {
	// Status is the auth service's status (3xx or 4xx).
	Status int
	// Header holds the auth service's response headers that are relayed.
	Header http.Header
	// Body is the auth service's response body, capped.
	Body []byte
}

// Error implements error.
func (e *DeniedError) Error() string {
	return "auth: denied by auth service: " + http.StatusText(e.Status)
}

// HTTPStatus returns e.Status.
func (e *DeniedError) HTTPStatus() int { return e.Status }

// classify returns the sentinel in err's chain, or nil.
func classify(err error) *sentinel {
	var s *sentinel
	if errors.As(err, &s) {
		return s
	}
	return nil
}

// bearerChallenge appends RFC 6750 error attributes to a Bearer challenge.
func bearerChallenge(base string, s *sentinel, scope string) string {
	if s == nil || s.code == "" || !strings.HasPrefix(base, "Bearer") {
		return base
	}
	var b strings.Builder
	b.Grow(len(base) + 64)
	b.WriteString(base)
	if strings.Contains(base, "=") {
		b.WriteString(", ")
	} else {
		b.WriteByte(' ')
	}
	b.WriteString(`error="`)
	b.WriteString(s.code)
	b.WriteString(`", error_description="`)
	b.WriteString(s.detail)
	b.WriteByte('"')
	if scope != "" {
		b.WriteString(`, scope="`)
		b.WriteString(scope)
		b.WriteByte('"')
	}
	return b.String()
}

// quote returns s as an RFC 9110 quoted-string.
func quote(s string) string {
	if !strings.ContainsAny(s, "\"\\") {
		return `"` + s + `"`
	}
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('"')
	return b.String()
}
