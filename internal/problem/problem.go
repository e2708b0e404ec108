// Package problem writes the gateway's own error responses as RFC 9457
// problem details (application/problem+json) carrying the request ID, and
// holds the one mapping from errors to HTTP statuses that every part of the
// gateway uses.
package problem

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/gatewaykit/gateway/internal/reqinfo"
)

// StatusClientClosedRequest is the non-standard status (nginx's 499) recorded
// when the client went away before the response; nothing is written for it.
const StatusClientClosedRequest = 499

// ContentType is the media type of problem details (RFC 9457 §3).
const ContentType = "application/problem+json"

// StatusCoder is implemented by errors that know the HTTP status the gateway
// should answer with (for example upstream.ErrNoEndpoints or breaker.ErrOpen).
// It lets a package define its errors' statuses without importing the root.
type StatusCoder interface {
	HTTPStatus() int
}

// RetryAfterer is implemented by errors that suggest when the client may
// retry; the duration becomes the Retry-After header (in whole seconds, at
// least 1).
type RetryAfterer interface {
	RetryAfter() time.Duration
}

// Status maps err to the status the gateway answers with:
//   - an error implementing [StatusCoder] anywhere in its chain: its status;
//   - [http.MaxBytesError]: 413;
//   - [context.Canceled]: 499 (client went away);
//   - [context.DeadlineExceeded] or a [net.Error] timeout: 504;
//   - anything else: 502.
func Status(err error) int {
	var sc StatusCoder
	if errors.As(err, &sc) {
		return sc.HTTPStatus()
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return http.StatusRequestEntityTooLarge
	}
	if errors.Is(err, context.Canceled) {
		return StatusClientClosedRequest
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return http.StatusGatewayTimeout
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return http.StatusGatewayTimeout
	}
	return http.StatusBadGateway
}

// WriteError answers r with the problem for err: the status from [Status],
// Retry-After when err implements [RetryAfterer], and a detail naming the
// class of failure (never the upstream's internal error text). For 499 it
// writes nothing: the client is gone.
func WriteError(w http.ResponseWriter, r *http.Request, err error) {
	status := Status(err)
	if status == StatusClientClosedRequest {
		return
	}
	var ra RetryAfterer
	if errors.As(err, &ra) {
		SetRetryAfter(w.Header(), ra.RetryAfter())
	} else if status == http.StatusServiceUnavailable && w.Header().Get("Retry-After") == "" {
		w.Header().Set("Retry-After", "1")
	}
	Write(w, r, status, detailFor(status))
}

func detailFor(status int) string {
	switch status {
	case http.StatusBadGateway:
		return "the upstream service failed to answer"
	case http.StatusGatewayTimeout:
		return "the upstream service did not answer in time"
	case http.StatusServiceUnavailable:
		return "the service is unavailable"
	case http.StatusRequestEntityTooLarge:
		return "the request body is too large"
	}
	return ""
}

// SetRetryAfter sets the Retry-After header to d rounded up to whole
// seconds, and at least 1.
func SetRetryAfter(h http.Header, d time.Duration) {
	secs := int64((d + time.Second - 1) / time.Second)
	if secs < 1 {
		secs = 1
	}
	h.Set("Retry-After", strconv.FormatInt(secs, 10))
}

// Write answers with an RFC 9457 problem of the given status. detail may be
// empty. The body carries type "about:blank", the status text as title, the
// status, the detail, the request path as instance and the request ID (from
// [reqinfo], else the X-Request-ID response header). Headers the caller set on
// w before (WWW-Authenticate, Retry-After, Allow) are kept; Content-Length,
// Content-Encoding and ETag left by an earlier attempt are removed.
func Write(w http.ResponseWriter, r *http.Request, status int, detail string) {
	h := w.Header()
	h.Del("Content-Length")
	h.Del("Content-Encoding")
	h.Del("ETag")
	h.Del("Last-Modified")
	h.Set("Content-Type", ContentType)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")

	id := ""
	if r != nil {
		id = reqinfo.RequestID(r)
	}
	if id == "" {
		id = h.Get("X-Request-ID")
	}

	buf := make([]byte, 0, 256)
	buf = append(buf, `{"type":"about:blank","title":`...)
	title := http.StatusText(status)
	if title == "" {
		title = "Status " + strconv.Itoa(status)
	}
	buf = appendJSONString(buf, title)
	buf = append(buf, `,"status":`...)
	buf = strconv.AppendInt(buf, int64(status), 10)
	if detail != "" {
		buf = append(buf, `,"detail":`...)
		buf = appendJSONString(buf, detail)
	}
	if r != nil && r.URL != nil {
		buf = append(buf, `,"instance":`...)
		buf = appendJSONString(buf, r.URL.EscapedPath())
	}
	if id != "" {
		buf = append(buf, `,"request_id":`...)
		buf = appendJSONString(buf, id)
	}
	buf = append(buf, "}\n"...)
	h.Set("Content-Length", strconv.Itoa(len(buf)))
	w.WriteHeader(status)
	if r == nil || r.Method != http.MethodHead {
		_, _ = w.Write(buf)
	}
}

// appendJSONString appends s as a JSON string literal, escaping quotes,
// backslashes, control characters, invalid UTF-8 and the HTML-sensitive
// characters <, > and &.
func appendJSONString(buf []byte, s string) []byte {
	const hex = "0123456789abcdef"
	buf = append(buf, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				buf = append(buf, '\\', c)
			case c < 0x20 || c == '<' || c == '>' || c == '&' || c == 0x7f:
				buf = append(buf, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				buf = append(buf, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			buf = append(buf, `\ufffd`...)
		} else {
			buf = append(buf, s[i:i+size]...)
		}
		i += size
	}
	return append(buf, '"')
}
