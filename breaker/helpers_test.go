package breaker

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/gatewaykit/gateway/upstream"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// fakeClock returns a Breaker for cfg whose clock the test moves with the
// returned function.
func newFake(cfg Config) (*Breaker, func(d time.Duration)) {
	b := New(cfg)
	b.fake = new(atomic.Int64)
	return b, func(d time.Duration) { b.fake.Add(int64(d)) }
}

// countingListener counts the connections a test server accepts.
type countingListener struct {
	net.Listener
	n atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

// server is a loopback upstream that counts accepted connections, requests
// and the requests in flight (with their maximum).
type server struct {
	*httptest.Server
	ln       *countingListener
	requests atomic.Int64
	inflight atomic.Int64
	maxIn    atomic.Int64
}

func newServer(t testing.TB, h http.HandlerFunc) *server {
	t.Helper()
	s := &server{}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		n := s.inflight.Add(1)
		defer s.inflight.Add(-1)
		for {
			m := s.maxIn.Load()
			if n <= m || s.maxIn.CompareAndSwap(m, n) {
				break
			}
		}
		h(w, r)
	}))
	s.ln = &countingListener{Listener: srv.Listener}
	srv.Listener = s.ln
	srv.Start()
	s.Server = srv
	t.Cleanup(srv.Close)
	return s
}

func (s *server) host() string { return s.Listener.Addr().String() }

// newTransport returns an http.Transport closed at cleanup.
func newTransport(t testing.TB) *http.Transport {
	t.Helper()
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	t.Cleanup(tr.CloseIdleConnections)
	return tr
}

// events records state changes.
type events struct {
	mu  sync.Mutex
	evs []StateChange
}

func (e *events) add(ev StateChange) {
	e.mu.Lock()
	e.evs = append(e.evs, ev)
	e.mu.Unlock()
}

func (e *events) list() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]string, 0, len(e.evs))
	for _, ev := range e.evs {
		s := ev.From.String() + "->" + ev.To.String()
		if ev.Endpoint != "" {
			s = ev.Endpoint + " " + s
		}
		out = append(out, s)
	}
	return out
}

func get(t testing.TB, rt http.RoundTripper, url string) (*http.Response, error) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	return rt.RoundTrip(req)
}

// staticDisc is a fixed endpoint set for upstream.Upstream.
type staticDisc []upstream.Endpoint

func (s staticDisc) Snapshot() []upstream.Endpoint { return append([]upstream.Endpoint(nil), s...) }
func (s staticDisc) Watch(ctx context.Context, _ string) (<-chan []upstream.Endpoint, error) {
	ch := make(chan []upstream.Endpoint, 1)
	ch <- s.Snapshot()
	context.AfterFunc(ctx, func() { close(ch) })
	return ch, nil
}

func endpoints(hosts ...string) staticDisc {
	eps := make(staticDisc, len(hosts))
	for i, h := range hosts {
		eps[i] = upstream.Endpoint{Addr: h, Weight: 1}
	}
	return eps
}

// proxy returns an Upstream to hosts sending through rt.
func proxy(t testing.TB, rt http.RoundTripper, retries int, hosts ...string) *upstream.Upstream {
	t.Helper()
	u := upstream.New(upstream.Config{
		Discovery: endpoints(hosts...),
		Transport: rt,
		Retries:   retries,
		Logger:    slog.New(slog.DiscardHandler),
	})
	t.Cleanup(u.CloseIdleConnections)
	return u
}

// serve sends one GET through h and returns the recorder.
func serve(h http.Handler, method, target string, hdr ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}
