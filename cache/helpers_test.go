package cache

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// fakeClock is an injected Config.Now.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// origin is a counting origin handler for table tests.
type origin struct {
	n    atomic.Int64
	mu   sync.Mutex
	reqs []*http.Request
	h    func(w http.ResponseWriter, r *http.Request, n int)
}

func (o *origin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := int(o.n.Add(1))
	o.mu.Lock()
	o.reqs = append(o.reqs, r.Clone(r.Context()))
	o.mu.Unlock()
	o.h(w, r, n)
}

func (o *origin) last() *http.Request {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.reqs) == 0 {
		return nil
	}
	return o.reqs[len(o.reqs)-1]
}

// step is one request of a table test and what it must produce.
type step struct {
	advance     time.Duration
	method      string
	target      string // default "/r"
	header      http.Header
	status      int // default 200
	body        *string
	upstream    int    // total origin requests after the step
	cacheStatus string // substring of Cache-Status
	headers     map[string]string
	absent      []string
	check       func(t *testing.T, o *origin, rec *httptest.ResponseRecorder)
}

func str(s string) *string { return &s }

type rfcCase struct {
	name   string
	cfg    Config
	origin func(w http.ResponseWriter, r *http.Request, n int)
	steps  []step
}

func runCase(t *testing.T, tc rfcCase) {
	t.Helper()
	clk := newClock()
	cfg := tc.cfg
	cfg.Now = clk.Now
	if cfg.Store == nil {
		cfg.Store = NewMemory(8 << 20)
	}
	c := New(cfg)
	o := &origin{h: tc.origin}
	h := c.Handler(o)
	for i, s := range tc.steps {
		clk.Add(s.advance)
		method := s.method
		if method == "" {
			method = http.MethodGet
		}
		target := s.target
		if target == "" {
			target = "/r"
		}
		if !strings.HasPrefix(target, "http") {
			target = "http://example.com" + target
		}
		req := httptest.NewRequest(method, target, nil)
		for k, v := range s.header {
			req.Header[k] = v
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		want := s.status
		if want == 0 {
			want = http.StatusOK
		}
		require.Equal(t, want, rec.Code, "step %d status (Cache-Status %q)", i, rec.Header().Get("Cache-Status"))
		if s.body != nil {
			assert.Equal(t, *s.body, rec.Body.String(), "step %d body", i)
		}
		assert.Equal(t, int64(s.upstream), o.n.Load(), "step %d upstream requests", i)
		if s.cacheStatus != "" {
			assert.Contains(t, strings.Join(rec.Header().Values("Cache-Status"), ", "), s.cacheStatus, "step %d Cache-Status", i)
		}
		for k, v := range s.headers {
			assert.Equal(t, v, rec.Header().Get(k), "step %d header %s", i, k)
		}
		for _, k := range s.absent {
			assert.Empty(t, rec.Header().Values(k), "step %d header %s must be absent", i, k)
		}
		if s.check != nil {
			s.check(t, o, rec)
		}
	}
}

// body writes s with Content-Length.
func writeBody(w http.ResponseWriter, s string) {
	w.Header().Set("Content-Length", itoa(len(s)))
	_, _ = io.WriteString(w, s)
}

func itoa(n int) string { return strconv.Itoa(n) }
