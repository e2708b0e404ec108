package upstream

import (
	"io"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatewaykit/gateway/upstream/internal/h1"
)

// refusingRT refuses requests to one endpoint without sending them, as an
// endpoint circuit breaker does, and counts what it passes on.
type refusingRT struct {
	next   http.RoundTripper
	refuse string
	other  bool // RetryOnOtherEndpoint
	sync   bool
	passed atomic.Int64
}

type refusal struct{ other bool }

func (e *refusal) Error() string              { return "test: endpoint refused" }
func (e *refusal) HTTPStatus() int            { return http.StatusServiceUnavailable }
func (e *refusal) RetryOnOtherEndpoint() bool { return e.other }

func (r *refusingRT) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Host == r.refuse {
		if req.Body != nil {
			_ = req.Body.Close()
		}
		return nil, &refusal{other: r.other}
	}
	r.passed.Add(1)
	return r.next.RoundTrip(req)
}

func (r *refusingRT) Synchronous() bool { return r.sync }

func (r *refusingRT) CloseIdleConnections() {
	if c, ok := r.next.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// wrapOn configures cfg so that wrap wraps path p's transport: through
// WrapTransport on the h1 path, around an http.Transport given as
// Transport on the other.
func wrapOn(p transportPath, cfg Config, wrap func(http.RoundTripper) http.RoundTripper) Config {
	if p.std {
		c := withDefaults(cfg)
		cfg.Transport = wrap(newStdTransport(&c))
	} else {
		cfg.WrapTransport = wrap
	}
	return cfg
}

func TestRetryOnOtherEndpoint(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		other      bool
		wantStatus int
		wantBody   string
	}{
		{"endpoint refusal goes to another endpoint", true, http.StatusOK, "second"},
		{"service refusal is answered", false, http.StatusServiceUnavailable, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			forEachPath(t, func(t *testing.T, p transportPath) {
				first := backend(t, func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "first") })
				second := backend(t, func(w http.ResponseWriter, r *http.Request) {
					b, _ := io.ReadAll(r.Body)
					_, _ = io.WriteString(w, "second"+string(b))
				})
				var rt *refusingRT
				cfg := wrapOn(p, Config{
					Discovery: endpointsOf(first, second),
					Balancer:  &firstPicker{},
					Retries:   1,
				}, func(next http.RoundTripper) http.RoundTripper {
					rt = &refusingRT{next: next, refuse: first, other: tt.other, sync: true}
					return rt
				})
				u := newTestUpstream(t, p, cfg)
				front, client := frontend(t, u)
				res, err := client.Post(front.URL, "text/plain", nil) // POST: retried only because nothing was sent
				require.NoError(t, err)
				body, _ := io.ReadAll(res.Body)
				res.Body.Close()
				assert.Equal(t, tt.wantStatus, res.StatusCode)
				if tt.wantStatus == http.StatusOK {
					assert.Equal(t, tt.wantBody, string(body))
					assert.Equal(t, int64(1), rt.passed.Load())
				}
			})
		})
	}
}

func TestWrapTransport(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		sync     bool
		wantPool bool
	}{
		{"synchronous wrapper keeps state reuse", true, true},
		{"other wrapper turns it off", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			addr := backend(t, func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") })
			var inner http.RoundTripper
			u := newTestUpstream(t, transportPaths[0], Config{
				Discovery: endpointsOf(addr),
				WrapTransport: func(next http.RoundTripper) http.RoundTripper {
					inner = next
					return &refusingRT{next: next, sync: tt.sync}
				},
			})
			assert.IsType(t, &h1.Client{}, inner, "the fast client is wrapped")
			assert.Equal(t, tt.wantPool, u.poolCalls)
			rec := httptestRecorder(u, "/")
			assert.Equal(t, "ok", rec.Body.String())
		})
	}
	t.Run("nil wrapper result panics", func(t *testing.T) {
		t.Parallel()
		assert.Panics(t, func() {
			New(Config{Discovery: endpointsOf("a:1"), WrapTransport: func(http.RoundTripper) http.RoundTripper { return nil }})
		})
	})
	t.Run("ignored when Transport is set", func(t *testing.T) {
		t.Parallel()
		called := false
		u := New(Config{Discovery: endpointsOf("a:1"), Transport: http.DefaultTransport,
			WrapTransport: func(next http.RoundTripper) http.RoundTripper { called = true; return next }})
		assert.False(t, called)
		assert.Same(t, http.DefaultTransport, u.rt)
	})
}
