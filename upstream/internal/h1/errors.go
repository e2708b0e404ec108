package h1

import (
	"errors"
	"net"
)

var (
	// ErrUnsupportedScheme is returned (wrapped, with the scheme) by
	// [Client.RoundTrip] for a request whose URL scheme is not "http". TLS and
	// HTTP/2 upstreams use [net/http.Transport].
	ErrUnsupportedScheme = errors.New("h1: unsupported protocol scheme")

	// ErrInvalidRequest is returned (wrapped, with the reason) by
	// [Client.RoundTrip] when the request cannot be written safely: nil URL,
	// missing host, invalid method, header field name or value, or request
	// target, or a ContentLength that disagrees with the body. Nothing is sent.
	ErrInvalidRequest = errors.New("h1: invalid request")

	// ErrResponseHeaderTimeout is returned by [Client.RoundTrip] when the
	// upstream did not send the response headers within
	// Config.ResponseHeaderTimeout. It is a [net.Error] whose Timeout method
	// reports true; errors.Is(err, context.DeadlineExceeded) is false, so a
	// proxy can tell an upstream timeout (504) from its own deadline.
	ErrResponseHeaderTimeout error = &timeoutError{"h1: timeout awaiting response headers"}

	// ErrReadTimeout is returned by a response body's Read when the
	// upstream sent nothing for Config.ReadTimeout. Like
	// [ErrResponseHeaderTimeout] it is a [net.Error] whose Timeout method
	// reports true and is not context.DeadlineExceeded. The connection is
	// closed.
	ErrReadTimeout error = &timeoutError{"h1: timeout reading the response body"}

	// ErrWriteTimeout is returned by [Client.RoundTrip] when a write of
	// the request to the upstream blocked for Config.WriteTimeout (the
	// upstream stopped reading). It is a timeout [net.Error], not
	// context.DeadlineExceeded. The connection is closed.
	ErrWriteTimeout error = &timeoutError{"h1: timeout writing the request"}

	// ErrResponseHeadersTooLarge is returned (wrapped) by [Client.RoundTrip]
	// when the upstream's response headers exceed
	// Config.MaxResponseHeaderBytes. The connection is closed.
	ErrResponseHeadersTooLarge = errors.New("h1: upstream response headers too large")

	// ErrBodyClosed is returned by a response body's Read after Close.
	ErrBodyClosed = errors.New("h1: read on closed response body")
)

// timeoutError is a [net.Error] whose Timeout method reports true and that
// deliberately wraps nothing (in particular not context.DeadlineExceeded).
type timeoutError struct{ msg string }

func (e *timeoutError) Error() string   { return e.msg }
func (e *timeoutError) Timeout() bool   { return true }
func (e *timeoutError) Temporary() bool { return true }

var _ net.Error = (*timeoutError)(nil)

// DialError is the error [Client.RoundTrip] returns when a new connection to
// the upstream could not be established (refused, unreachable, dial
// timeout). Nothing of the request was sent, so a proxy may retry any request
// on another endpoint; it usually answers 502, or 504 when errors.As finds a
// [net.Error] with Timeout true. A dial interrupted because the request's
// context ended is not a DialError: the context's error is returned.
type DialError struct {
	// Addr is the host:port that was dialled.
	Addr string
	// Err is the underlying error, usually a *net.OpError.
	Err error
}

// Error implements error.
func (e *DialError) Error() string { return "h1: dial " + e.Addr + ": " + e.Err.Error() }

// Unwrap returns e.Err.
func (e *DialError) Unwrap() error { return e.Err }
