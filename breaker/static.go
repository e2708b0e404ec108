package breaker

import (
	"bytes"
	"io"
	"net/http"
	"strconv"
)

// Static is a fixed response, usable as Config.Fallback (a RoundTripper)
// and as Config.FallbackHandler (a Handler). Build it with [NewStatic]; it
// is immutable and safe for simultaneous use by multiple goroutines.
type Static struct {
	status int
	header http.Header
	body   []byte
}

// NewStatic returns a Static answering status with a copy of header and
// body. A zero status means 200. Content-Length is set from body.
func NewStatic(status int, header http.Header, body []byte) *Static {
	if status == 0 {
		status = http.StatusOK
	}
	h := header.Clone()
	if h == nil {
		h = http.Header{}
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	return &Static{status: status, header: h, body: bytes.Clone(body)}
}

// RoundTrip returns the fixed response for req without sending it. The
// request body, if any, is closed.
func (s *Static) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		_ = req.Body.Close()
	}
	return &http.Response{
		Status:        strconv.Itoa(s.status) + " " + http.StatusText(s.status),
		StatusCode:    s.status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        s.header.Clone(),
		Body:          io.NopCloser(bytes.NewReader(s.body)),
		ContentLength: int64(len(s.body)),
		Request:       req,
	}, nil
}

// ServeHTTP writes the fixed response.
func (s *Static) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	h := w.Header()
	for k, vv := range s.header {
		h[k] = append([]string(nil), vv...)
	}
	w.WriteHeader(s.status)
	_, _ = w.Write(s.body)
}
