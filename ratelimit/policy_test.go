package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatewaykit/gateway/internal/reqinfo"
)

var okHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok")) })

func serve(h http.Handler, method, target string, mod func(*http.Request)) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, nil)
	if mod != nil {
		mod(r)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestPolicyScopeAcrossRoutes(t *testing.T) {
	t.Parallel()
	const routes = 100
	tests := []struct {
		name        string
		scope       Scope
		wantBudgets int
	}{
		{name: "route scope gives each route its own budget", scope: ScopeRoute, wantBudgets: routes},
		{name: "service scope shares one budget", scope: ScopeService, wantBudgets: 1},
		{name: "global scope shares one budget", scope: ScopeGlobal, wantBudgets: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// One policy value, one request per minute per client,
			// attached to 100 routes.
			p := New(Config{Name: "per-client", Scope: tt.scope, Limiters: []Limiter{
				NewLocal(LocalConfig{Limits: []Limit{PerMinute(1)}, Now: fixedClock(t0)}),
			}})
			assert.Equal(t, tt.scope, p.Scope())
			mux := http.NewServeMux()
			for i := range routes {
				mux.Handle(fmt.Sprintf("GET /r%d/{id}", i), p.Handler(okHandler))
			}
			srv := httptest.NewServer(mux)
			t.Cleanup(srv.Close)
			admitted := 0
			for round := range 2 {
				for i := range routes {
					resp, err := srv.Client().Get(fmt.Sprintf("%s/r%d/%d", srv.URL, i, round))
					require.NoError(t, err)
					_ = resp.Body.Close()
					if resp.StatusCode == http.StatusOK {
						admitted++
					} else {
						assert.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
					}
				}
			}
			assert.Equal(t, tt.wantBudgets, admitted, "one request admitted per budget")
		})
	}
}

func TestPolicyKeyIdentity(t *testing.T) {
	t.Parallel()
	r := httptest.NewRequest("GET", "/users/7", nil)
	r.Pattern = "GET /users/{id}"
	r.RemoteAddr = "198.51.100.9:5555"
	route := New(Config{Name: "api", Rate: 1})
	shared := New(Config{Name: "api", Scope: ScopeService, Rate: 1})
	assert.Equal(t, "api|GET /users/{id}|198.51.100.9", route.Key(r))
	assert.Equal(t, "api||198.51.100.9", shared.Key(r))
	assert.Equal(t, DefaultName, New(Config{Rate: 1}).Name())
}

func TestPolicyHeaders(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		style  HeaderStyle
		limits []Limit
		want   map[string]string
		absent []string
	}{
		{
			name: "ietf", style: HeadersIETF, limits: []Limit{PerMinute(5)},
			want:   map[string]string{"RateLimit-Policy": `"demo";q=5;w=60`, "RateLimit": `"demo";r=4;t=12`},
			absent: []string{"X-RateLimit-Limit"},
		},
		{
			name: "ietf multi-window", style: HeadersIETF, limits: []Limit{PerSecond(2), PerDay(1000)},
			want: map[string]string{
				"RateLimit-Policy": `"demo-1s";q=2;w=1, "demo-1d";q=1000;w=86400`,
				"RateLimit":        `"demo-1s";r=1;t=1, "demo-1d";r=999;t=87`,
			},
		},
		{
			name: "classic", style: HeadersClassic, limits: []Limit{PerMinute(5)},
			want:   map[string]string{"X-RateLimit-Limit": "5", "X-RateLimit-Remaining": "4", "X-RateLimit-Reset": "12"},
			absent: []string{"RateLimit", "RateLimit-Policy"},
		},
		{
			name: "both", style: HeadersBoth, limits: []Limit{PerMinute(5)},
			want: map[string]string{"RateLimit": `"demo";r=4;t=12`, "X-RateLimit-Remaining": "4"},
		},
		{
			name: "none", style: HeadersNone, limits: []Limit{PerMinute(5)},
			absent: []string{"RateLimit", "RateLimit-Policy", "X-RateLimit-Limit"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := New(Config{Name: "demo", Headers: tt.style, Limiters: []Limiter{
				NewLocal(LocalConfig{Limits: tt.limits, Now: fixedClock(t0)}),
			}})
			w := serve(p.Handler(okHandler), "GET", "/", nil)
			require.Equal(t, http.StatusOK, w.Code)
			for k, v := range tt.want {
				assert.Equal(t, v, w.Header().Get(k), "header %s", k)
			}
			for _, k := range tt.absent {
				assert.Empty(t, w.Header().Values(k), "header %s", k)
			}
		})
	}
}

func TestPolicyDenies429(t *testing.T) {
	t.Parallel()
	p := New(Config{Name: "demo", Headers: HeadersBoth, Limiters: []Limiter{
		NewLocal(LocalConfig{Limits: []Limit{PerMinute(2)}, Now: fixedClock(t0)}),
	}})
	h := p.Handler(okHandler)
	for range 2 {
		require.Equal(t, http.StatusOK, serve(h, "GET", "/demo", nil).Code)
	}
	w := serve(h, "GET", "/demo", nil)
	require.Equal(t, http.StatusTooManyRequests, w.Code)
	assert.Equal(t, "application/problem+json", w.Header().Get("Content-Type"))
	assert.Equal(t, "30", w.Header().Get("Retry-After"), "one unit per 30 s")
	assert.Equal(t, `"demo";r=0;t=60`, w.Header().Get("RateLimit"))
	assert.Equal(t, "0", w.Header().Get("X-RateLimit-Remaining"))
	assert.Contains(t, w.Body.String(), `"status":429`)
	assert.Contains(t, w.Body.String(), "demo")
	assert.NotContains(t, w.Body.String(), "ok")
}

func TestPolicyCost(t *testing.T) {
	t.Parallel()
	p := New(Config{
		Limiters: []Limiter{NewLocal(LocalConfig{Limits: []Limit{PerMinute(10)}, Now: fixedClock(t0)})},
		Cost: func(r *http.Request) int {
			if r.Method == http.MethodPost {
				return 6
			}
			return 1
		},
	})
	h := p.Handler(okHandler)
	assert.Equal(t, http.StatusOK, serve(h, "POST", "/", nil).Code)
	assert.Equal(t, http.StatusTooManyRequests, serve(h, "POST", "/", nil).Code, "6+6 > 10")
	for i := range 4 {
		assert.Equal(t, http.StatusOK, serve(h, "GET", "/", nil).Code, "cheap request %d", i)
	}
	assert.Equal(t, http.StatusTooManyRequests, serve(h, "GET", "/", nil).Code)
}

var errBackend = errors.New("backend down")

func TestPolicyFailureModes(t *testing.T) {
	t.Parallel()
	failing := LimiterFunc(func(context.Context, string, int) (Decision, error) {
		return Decision{}, fmt.Errorf("%w: %w", ErrUnavailable, errBackend)
	})
	tests := []struct {
		name     string
		mode     FailureMode
		wantCode int
	}{
		{name: "fail open passes", mode: FailOpen, wantCode: http.StatusOK},
		{name: "fail closed refuses", mode: FailClosed, wantCode: http.StatusServiceUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var reported []error
			p := New(Config{Limiters: []Limiter{failing}, Failure: tt.mode, OnError: func(_ *http.Request, err error) {
				reported = append(reported, err)
			}})
			w := serve(p.Handler(okHandler), "GET", "/", nil)
			assert.Equal(t, tt.wantCode, w.Code)
			assert.Empty(t, w.Header().Get("RateLimit"), "no headers without a decision")
			require.Len(t, reported, 1)
			assert.ErrorIs(t, reported[0], ErrUnavailable)
			if tt.mode == FailClosed {
				assert.Equal(t, "1", w.Header().Get("Retry-After"))
			}
		})
	}

	// Fail open skips only the failing limiter.
	local := NewLocal(LocalConfig{Limits: []Limit{PerMinute(1)}, Now: fixedClock(t0)})
	p := New(Config{Limiters: []Limiter{failing, local}})
	h := p.Handler(okHandler)
	assert.Equal(t, http.StatusOK, serve(h, "GET", "/", nil).Code)
	assert.Equal(t, http.StatusTooManyRequests, serve(h, "GET", "/", nil).Code, "the healthy limiter still limits")
}

func TestClientIPNeverTrustsForwardingHeaders(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		remote   string
		resolved string
		want     string
	}{
		{name: "connection address", remote: "192.0.2.1:1234", want: "192.0.2.1"},
		{name: "ipv6 connection", remote: "[2001:db8::1]:443", want: "2001:db8::1"},
		{name: "real-ip middleware result", remote: "10.0.0.1:1", resolved: "203.0.113.5", want: "203.0.113.5"},
		{name: "mapped v4 unmapped", remote: "10.0.0.1:1", resolved: "::ffff:203.0.113.6", want: "203.0.113.6"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tt.remote
			r.Header.Set("X-Forwarded-For", "6.6.6.6")
			r.Header.Set("X-Real-IP", "6.6.6.6")
			r.Header.Set("Forwarded", "for=6.6.6.6")
			if tt.resolved != "" {
				var info *reqinfo.Info
				r, info = reqinfo.Ensure(r)
				info.ClientIP = netip.MustParseAddr(tt.resolved)
			}
			assert.Equal(t, tt.want, ClientIP(r))
		})
	}
}

func TestKeyFuncs(t *testing.T) {
	t.Parallel()
	r := httptest.NewRequest("GET", "/x", nil)
	r.Pattern = "GET /x"
	r.RemoteAddr = "192.0.2.1:1"
	r.Header.Set("X-Api-Key", "k1")
	assert.Equal(t, "k1", Header("x-api-key")(r))
	assert.Equal(t, "", Header("X-Missing")(r))
	assert.Equal(t, "GET /x", Route(r))
	assert.Equal(t, "svc", Const("svc")(r))
	assert.Equal(t, "9:192.0.2.1|2:k1", Compose(ClientIP, Header("X-Api-Key"))(r))
	assert.Equal(t, "1:192.0.2.1", FirstOf(Header("X-Missing"), ClientIP)(r))
	assert.Equal(t, "", FirstOf(Header("X-Missing"))(r))

	// Length prefixes keep combinations apart.
	a := Compose(Const("a|1:b"), Const("c"))(r)
	b := Compose(Const("a"), Const("b|1:c"))(r)
	assert.NotEqual(t, a, b)
}

func TestPolicyRefillsWithSynctest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := New(Config{Name: "demo", Rate: 1, Burst: 2}) // real (fake) time.Now
		h := p.Handler(okHandler)
		codes := func() string {
			var b strings.Builder
			for range 3 {
				fmt.Fprintf(&b, "%d ", serve(h, "GET", "/", nil).Code)
			}
			return b.String()
		}
		assert.Equal(t, "200 200 429 ", codes())
		time.Sleep(time.Second)
		assert.Equal(t, "200 429 429 ", codes(), "one token back after one second")
		time.Sleep(time.Minute)
		assert.Equal(t, "200 200 429 ", codes(), "refill stops at the burst")
	})
}

func TestNewPanicsOnBadConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  Config
	}{
		{name: "no limiter no rate", cfg: Config{}},
		{name: "bad name", cfg: Config{Name: "a|b", Rate: 1}},
		{name: "bad scope", cfg: Config{Rate: 1, Scope: 9}},
		{name: "bad headers", cfg: Config{Rate: 1, Headers: 9}},
		{name: "bad failure", cfg: Config{Rate: 1, Failure: 9}},
		{name: "nil limiter", cfg: Config{Limiters: []Limiter{nil}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Panics(t, func() { New(tt.cfg) })
		})
	}
}
