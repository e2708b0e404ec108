package breaker

import (
	"errors"
	"net/http"
	"time"
)

// ErrOpen is returned (matched with errors.Is) when a request is refused
// because a circuit is open, or half-open with all its probes in flight. The
// refused request was not sent. The returned error answers 503 with a
// Retry-After of the cooldown left when written by the gateway's error
// handler (it implements HTTPStatus() int and RetryAfter() time.Duration),
// and, when the circuit is an endpoint's, reports RetryOnOtherEndpoint()
// true, which tells an upstream.Upstream to send the request to another
// endpoint as it does after a refused connection.
var ErrOpen error = &openError{msg: "breaker: circuit open"}

// ErrBulkheadFull is returned when the service already has
// Bulkhead.MaxConcurrent requests in flight and the request could not wait
// for a slot (queue full, or Bulkhead.QueueTimeout passed). It answers 503
// with Retry-After: 1. The request was not sent.
var ErrBulkheadFull error = bulkheadError{}

// ErrTimeout is returned (matched with errors.Is) when an attempt got no
// response headers within Config.Timeout, or the request outlived
// Config.Deadline. It answers 504 and is a net.Error whose Timeout method
// reports true.
var ErrTimeout error = &timeoutError{msg: "breaker: upstream timeout"}

// errDeadline is ErrTimeout for the overall deadline: same class, a message
// of its own.
var errDeadline error = &timeoutError{msg: "breaker: request deadline exceeded"}

type openError struct {
	c   *circuit // nil for the ErrOpen sentinel
	msg string
}

func (e *openError) Error() string              { return e.msg }
func (e *openError) Is(target error) bool       { return target == ErrOpen }
func (e *openError) HTTPStatus() int            { return http.StatusServiceUnavailable }
func (e *openError) RetryOnOtherEndpoint() bool { return e.c != nil && e.c.endpoint != "" }
func (e *openError) RetryAfter() time.Duration {
	if e.c == nil {
		return time.Second
	}
	return max(e.c.remaining(), time.Second)
}

type bulkheadError struct{}

func (bulkheadError) Error() string             { return "breaker: bulkhead full" }
func (bulkheadError) HTTPStatus() int           { return http.StatusServiceUnavailable }
func (bulkheadError) RetryAfter() time.Duration { return time.Second }

type timeoutError struct{ msg string }

func (e *timeoutError) Error() string        { return e.msg }
func (e *timeoutError) Is(target error) bool { return target == ErrTimeout }
func (e *timeoutError) HTTPStatus() int      { return http.StatusGatewayTimeout }
func (e *timeoutError) Timeout() bool        { return true }
func (e *timeoutError) Temporary() bool      { return true }

// isRejection reports whether err is a refusal by a policy of this package
// (open circuit, full bulkhead): the request never reached the upstream.
func isRejection(err error) bool {
	var oe *openError
	return errors.As(err, &oe) || errors.Is(err, ErrBulkheadFull)
}
