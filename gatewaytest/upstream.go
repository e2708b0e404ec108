package gatewaytest

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
)

// Recorded is one request as it reached an [Upstream].
type Recorded struct {
	Method     string
	Host       string
	RequestURI string
	Path       string
	RawQuery   string
	Proto      string
	Header     http.Header
	Trailer    http.Header
	Body       []byte
	RemoteAddr string
}

// Upstream is a test backend that records every request that reaches it and
// answers with Handler (or 200 "ok" when Handler is nil). It is an
// httptest.Server started on a loopback port and closed when the test ends.
//
// Upstream is safe for simultaneous use by multiple goroutines.
type Upstream struct {
	*httptest.Server

	mu   sync.Mutex // protects reqs
	reqs []Recorded

	handler http.Handler
}

// NewUpstream starts a recording upstream answering with h (nil: 200 "ok")
// and closes it at the end of the test.
func NewUpstream(t testing.TB, h http.Handler) *Upstream {
	t.Helper()
	u := &Upstream{handler: h}
	u.Server = httptest.NewServer(http.HandlerFunc(u.serve))
	t.Cleanup(u.Close)
	return u
}

func (u *Upstream) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rec := Recorded{
		Method: r.Method, Host: r.Host, RequestURI: r.RequestURI,
		Path: r.URL.Path, RawQuery: r.URL.RawQuery, Proto: r.Proto,
		Header: r.Header.Clone(), Trailer: r.Trailer.Clone(), Body: body,
		RemoteAddr: r.RemoteAddr,
	}
	u.mu.Lock()
	u.reqs = append(u.reqs, rec)
	u.mu.Unlock()
	r.Body = io.NopCloser(bytes.NewReader(body))
	if u.handler == nil {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "ok")
		return
	}
	u.handler.ServeHTTP(w, r)
}

// Addr returns the upstream's "host:port".
func (u *Upstream) Addr() string {
	pu, _ := url.Parse(u.URL)
	return pu.Host
}

// Requests returns a copy of the requests recorded so far, oldest first.
func (u *Upstream) Requests() []Recorded {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]Recorded(nil), u.reqs...)
}

// Count returns the number of requests recorded so far.
func (u *Upstream) Count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.reqs)
}

// Last returns the most recent request; it fails the test when there is none.
func (u *Upstream) Last(t testing.TB) Recorded {
	t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.reqs) == 0 {
		t.Fatalf("gatewaytest: no request reached the upstream %s", u.URL)
	}
	return u.reqs[len(u.reqs)-1]
}
