package upstream

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"sync/atomic"
)

// inBody wraps the inbound body for the outbound request. Its Close does not
// close the inbound body: a transport closes the request body when it fails
// to connect, and closing the server's body can hang on a request waiting
// for 100 Continue, and would spoil a retry (see httputil.ReverseProxy's
// noopCloseReader). It counts the bytes read so the proxy knows whether the
// body is still intact after a failed attempt.
type inBody struct {
	rc     io.ReadCloser
	n      atomic.Int64
	closed atomic.Bool
}

var errBodyReadAfterClose = errors.New("upstream: read on closed request body")

func (b *inBody) Read(p []byte) (int, error) {
	if b.closed.Load() {
		return 0, errBodyReadAfterClose
	}
	n, err := b.rc.Read(p)
	b.n.Add(int64(n))
	return n, err
}

func (b *inBody) Close() error {
	b.closed.Store(true)
	return nil
}

// replay holds a request body buffered so that it can be sent again.
type replay struct {
	buf []byte
}

// emptyReplay stands for a request without a body: always replayable.
var emptyReplay = &replay{}

// reader returns a fresh body over the buffered bytes, nil when empty.
func (rp *replay) reader() io.ReadCloser {
	if len(rp.buf) == 0 {
		return nil
	}
	return io.NopCloser(bytes.NewReader(rp.buf))
}

// idempotent reports whether a request may be sent twice (RFC 9110 §9.2.2,
// or an Idempotency-Key header as in the IETF httpapi draft).
func idempotent(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace,
		http.MethodPut, http.MethodDelete:
		return true
	}
	return r.Header.Get("Idempotency-Key") != ""
}

// bodyReadError is a failure to read the client's request body while
// buffering it for retries: the client's fault, answered 400.
type bodyReadError struct{ err error }

func (e *bodyReadError) Error() string   { return "upstream: read request body: " + e.err.Error() }
func (e *bodyReadError) Unwrap() error   { return e.err }
func (e *bodyReadError) HTTPStatus() int { return http.StatusBadRequest }

// prepareReplay decides whether out may be retried on a status, buffering
// its body within MaxReplayBody when needed. It returns nil when statuses
// may not be retried (the request may still be retried on a dial error if
// its body was never read).
func (u *Upstream) prepareReplay(in, out *http.Request) (*replay, *http.Request, error) {
	if len(u.retryS) == 0 || !idempotent(in) {
		return nil, out, nil
	}
	if out.Body == nil || out.Body == http.NoBody {
		return emptyReplay, out, nil
	}
	if containsToken(in.Header["Expect"], "100-continue") {
		// Buffering would answer 100 Continue ourselves and defeat the
		// upstream's chance to refuse the body.
		return nil, out, nil
	}
	max := u.cfg.MaxReplayBody
	if out.ContentLength > max {
		return nil, out, nil
	}
	size := max + 1
	if out.ContentLength > 0 {
		size = out.ContentLength + 1
	}
	buf := make([]byte, 0, min(size, 4096))
	buf, err := readAtMost(out.Body, buf, max+1)
	if err != nil {
		if ctxErr := in.Context().Err(); ctxErr != nil {
			return nil, out, ctxErr
		}
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, out, err
		}
		return nil, out, &bodyReadError{err: err}
	}
	if int64(len(buf)) > max {
		// Too large to replay: stream what was read, then the rest.
		out.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(buf), out.Body), out.Body}
		return nil, out, nil
	}
	rp := &replay{buf: buf}
	out.Body = rp.reader()
	if out.Body == nil {
		out.ContentLength = 0
	}
	// Lets http.Transport resend the body itself after a stale keep-alive
	// connection failed.
	out.GetBody = func() (io.ReadCloser, error) {
		if b := rp.reader(); b != nil {
			return b, nil
		}
		return http.NoBody, nil
	}
	return rp, out, nil
}

// readAtMost appends from r to buf until EOF or until limit bytes are held.
func readAtMost(r io.Reader, buf []byte, limit int64) ([]byte, error) {
	for int64(len(buf)) < limit {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		end := min(int64(cap(buf)), limit)
		n, err := r.Read(buf[len(buf):end])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
	return buf, nil
}

// drainClose reads a little of a response body that will not be used, so
// that its connection can be reused, and closes it.
func drainClose(body io.ReadCloser) {
	_, _ = io.CopyN(io.Discard, body, 64<<10)
	_ = body.Close()
}

// bodyIntact reports whether out's body can be sent again after an attempt
// that failed to connect: buffered, absent, or never read.
func bodyIntact(out *http.Request, rp *replay, c *call) bool {
	if rp != nil || out.Body == nil || out.Body == http.NoBody {
		return true
	}
	return out.Body == io.ReadCloser(&c.body) && c.body.n.Load() == 0
}
