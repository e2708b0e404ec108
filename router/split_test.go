package router

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func canarySplit(t testing.TB, cfg SplitConfig, stable, canary int) *Split {
	t.Helper()
	cfg.Targets = []Target{
		{Name: "stable", Handler: named("stable"), Weight: stable},
		{Name: "canary", Handler: named("canary"), Weight: canary},
	}
	s, err := NewSplit(cfg)
	require.NoError(t, err)
	return s
}

func TestSplitStickyDistribution(t *testing.T) {
	t.Parallel()
	s := canarySplit(t, SplitConfig{StickyHeader: "X-User"}, 95, 5)
	const n = 10000
	counts := [2]int{}
	for i := range n {
		counts[s.ForKey("user-"+strconv.Itoa(i))]++
	}
	// 5% of 10,000 is 500 with a standard deviation of ~22; allow ±100.
	assert.InDelta(t, 500, counts[1], 100, "canary share over %d distinct keys: %v", n, counts)
}

func TestSplitStickiness(t *testing.T) {
	t.Parallel()
	s := canarySplit(t, SplitConfig{StickyHeader: "X-User", StickyCookie: "sticky"}, 50, 50)
	for i := range 200 {
		key := "k" + strconv.Itoa(i)
		req := httptest.NewRequest("GET", "/", nil)
		req.Header.Set("x-user", key)
		want := s.ForKey(key)
		for range 5 {
			assert.Equal(t, want, s.Pick(req), "header key %s", key)
		}
		creq := httptest.NewRequest("GET", "/", nil)
		creq.Header.Add("Cookie", `a=1; sticky="`+key+`"; b=2`)
		assert.Equal(t, want, s.Pick(creq), "cookie key %s", key)
	}
	// The header wins over the cookie.
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("X-User", "h")
	req.Header.Set("Cookie", "sticky=c")
	assert.Equal(t, s.ForKey("h"), s.Pick(req))
}

func TestSplitWeightChangeKeepsCanaryKeys(t *testing.T) {
	t.Parallel()
	s5 := canarySplit(t, SplitConfig{}, 95, 5)
	s10 := canarySplit(t, SplitConfig{}, 90, 10)
	moved := 0
	for i := range 5000 {
		key := "u" + strconv.Itoa(i)
		if s5.ForKey(key) == 1 {
			assert.Equal(t, 1, s10.ForKey(key), "key %s left the canary when its weight grew", key)
		}
		if s5.ForKey(key) != s10.ForKey(key) {
			moved++
		}
	}
	assert.InDelta(t, 250, moved, 80, "about 5%% of keys move")
}

func TestSplitRandom(t *testing.T) {
	t.Parallel()
	s := canarySplit(t, SplitConfig{StickyHeader: "X-User"}, 95, 5)
	req := httptest.NewRequest("GET", "/", nil)
	const n = 20000
	canary := 0
	for range n {
		canary += s.Pick(req)
	}
	// Expect 1000 with a standard deviation of ~31; the bound is > 10 sigma.
	assert.InDelta(t, 1000, canary, 350, "random canary picks out of %d", n)
}

func TestSplitZeroWeightDrains(t *testing.T) {
	t.Parallel()
	s := canarySplit(t, SplitConfig{}, 1, 0)
	req := httptest.NewRequest("GET", "/", nil)
	for i := range 1000 {
		require.Equal(t, 0, s.Pick(req))
		require.Equal(t, 0, s.ForKey(strconv.Itoa(i)))
	}
}

func TestSplitServeHTTPSetsCookie(t *testing.T) {
	t.Parallel()
	s := canarySplit(t, SplitConfig{StickyCookie: "gw_split", SetCookie: true, CookieMaxAge: 90 * time.Minute}, 50, 50)
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	res := rec.Result()
	cookies := res.Cookies()
	require.Len(t, cookies, 1)
	c := cookies[0]
	assert.Equal(t, "gw_split", c.Name)
	assert.Len(t, c.Value, 32)
	assert.Equal(t, "/", c.Path)
	assert.Equal(t, 5400, c.MaxAge)
	assert.True(t, c.HttpOnly)
	assert.False(t, c.Secure)
	assert.Equal(t, http.SameSiteLaxMode, c.SameSite)
	first := rec.Header().Get("X-Route")
	assert.Equal(t, s.Targets()[s.ForKey(c.Value)].Name, first, "the target is the cookie value's target")

	// The browser sends the cookie back: same target, no new cookie.
	for range 20 {
		req := httptest.NewRequest("GET", "/", nil)
		req.AddCookie(c)
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		assert.Equal(t, first, rec.Header().Get("X-Route"))
		assert.Empty(t, rec.Header().Values("Set-Cookie"))
	}
}

func TestSplitServeHTTPNoCookieWithoutSetCookie(t *testing.T) {
	t.Parallel()
	s := canarySplit(t, SplitConfig{StickyCookie: "gw_split"}, 50, 50)
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	assert.Empty(t, rec.Header().Values("Set-Cookie"))
	assert.NotEmpty(t, rec.Header().Get("X-Route"))
}

func TestNewSplitErrors(t *testing.T) {
	t.Parallel()
	h := named("h")
	tests := []struct {
		name string
		cfg  SplitConfig
	}{
		{name: "no targets", cfg: SplitConfig{}},
		{name: "nil handler", cfg: SplitConfig{Targets: []Target{{Weight: 1}}}},
		{name: "negative weight", cfg: SplitConfig{Targets: []Target{{Handler: h, Weight: -1}, {Handler: h, Weight: 2}}}},
		{name: "all zero", cfg: SplitConfig{Targets: []Target{{Handler: h}, {Handler: h}}}},
		{name: "set cookie without cookie", cfg: SplitConfig{Targets: []Target{{Handler: h, Weight: 1}}, SetCookie: true}},
		{name: "bad cookie name", cfg: SplitConfig{Targets: []Target{{Handler: h, Weight: 1}}, StickyCookie: "a b"}},
		{name: "negative max age", cfg: SplitConfig{Targets: []Target{{Handler: h, Weight: 1}}, StickyCookie: "a", CookieMaxAge: -time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := NewSplit(tt.cfg)
			assert.ErrorIs(t, err, ErrInvalidSplit)
		})
	}
}

func TestCookieValue(t *testing.T) {
	t.Parallel()
	tests := []struct {
		lines []string
		want  string
	}{
		{[]string{"a=1; b=2"}, "2"},
		{[]string{"a=1", "b=3"}, "3"},
		{[]string{`b="q"`}, "q"},
		{[]string{"bb=1; b"}, ""},
		{[]string{"b=; b=4"}, "4"},
		{nil, ""},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, cookieValue(tt.lines, "b"), "%q", tt.lines)
	}
}

func TestSplitPickAllocs(t *testing.T) {
	s := canarySplit(t, SplitConfig{StickyHeader: "X-User", StickyCookie: "c"}, 95, 5)
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("Cookie", "x=1; c=abc")
	assert.Zero(t, testing.AllocsPerRun(100, func() { s.Pick(req) }))
	req.Header.Set("X-User", "u1")
	assert.Zero(t, testing.AllocsPerRun(100, func() { s.Pick(req) }))
}
