package middleware

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestHeadersRequest(t *testing.T) {
	t.Parallel()
	rules := HeaderRules{Request: HeaderOps{
		Remove: []string{"x-internal", "Cookie"},
		Set:    http.Header{"x-env": {"prod"}, "Host": {"backend.internal"}},
		Add:    http.Header{"X-Tag": {"a", "b"}},
	}}
	var got *http.Request
	h := Headers(rules)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = r }))
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("X-Internal", "secret")
	req.Header.Set("Cookie", "a=b")
	req.Header.Set("X-Env", "dev")
	req.Header.Set("X-Tag", "z")
	h.ServeHTTP(httptest.NewRecorder(), req)

	require.NotNil(t, got)
	assert.Empty(t, got.Header.Get("X-Internal"))
	assert.Empty(t, got.Header.Get("Cookie"))
	assert.Equal(t, []string{"prod"}, got.Header.Values("X-Env"))
	assert.Equal(t, []string{"z", "a", "b"}, got.Header.Values("X-Tag"))
	assert.Equal(t, "backend.internal", got.Host)

	assert.Equal(t, "secret", req.Header.Get("X-Internal"), "inbound request untouched")
	assert.Equal(t, []string{"dev"}, req.Header.Values("X-Env"))
	assert.Equal(t, []string{"z"}, req.Header.Values("X-Tag"))
	assert.Equal(t, "example.com", req.Host)
}

func TestHeadersResponse(t *testing.T) {
	t.Parallel()
	rules := HeaderRules{Response: HeaderOps{
		Remove: []string{"Server", "X-Powered-By"},
		Set:    http.Header{"Strict-Transport-Security": {"max-age=63072000"}},
		Add:    http.Header{"Vary": {"Accept"}},
	}}
	tests := []struct {
		name    string
		handler http.HandlerFunc
		code    int
	}{
		{name: "explicit header", code: 201, handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Server", "upstream/1.0")
			w.Header().Set("X-Powered-By", "php")
			w.Header().Set("Strict-Transport-Security", "max-age=0")
			w.Header().Set("Vary", "Origin")
			w.WriteHeader(201)
		}},
		{name: "implicit via write", code: 200, handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Server", "upstream/1.0")
			w.Header().Set("Vary", "Origin")
			_, _ = io.WriteString(w, "hi")
		}},
		{name: "nothing written", code: 200, handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Server", "upstream/1.0")
			w.Header().Set("Vary", "Origin")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := httptest.NewRecorder()
			Headers(rules)(tt.handler).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
			assert.Equal(t, tt.code, rec.Code)
			assert.Empty(t, rec.Header().Get("Server"))
			assert.Empty(t, rec.Header().Get("X-Powered-By"))
			assert.Equal(t, "max-age=63072000", rec.Header().Get("Strict-Transport-Security"))
			assert.Equal(t, []string{"Origin", "Accept"}, rec.Header().Values("Vary"))
		})
	}
}

func TestHeadersRulesNotShared(t *testing.T) {
	t.Parallel()
	h := Headers(HeaderRules{Response: HeaderOps{Set: http.Header{"X-A": {"1"}}}})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(200)
		w.Header()["X-A"][0] = "mutated" // a misbehaving handler after the fact
	}))
	for range 2 {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
		assert.Equal(t, "1", rec.Result().Header.Get("X-A"), "compiled rules are not aliased into responses")
	}
}

func TestHeadersInvalidPanics(t *testing.T) {
	t.Parallel()
	assert.Panics(t, func() { Headers(HeaderRules{Request: HeaderOps{Set: http.Header{"Bad Name": {"x"}}}}) })
	assert.Panics(t, func() { Headers(HeaderRules{Response: HeaderOps{Add: http.Header{"X": {"a\r\nInjected: 1"}}}}) })
	assert.Panics(t, func() { Headers(HeaderRules{Response: HeaderOps{Remove: []string{""}}}) })
}

func TestHeadersNoRulesNoWrap(t *testing.T) {
	t.Parallel()
	h := Headers(HeaderRules{})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, wrapped := w.(interface{ Unwrap() http.ResponseWriter })
		assert.False(t, wrapped)
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
}

func BenchmarkHeaders(b *testing.B) {
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(200) })
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	for _, k := range []string{"Accept", "Accept-Encoding", "User-Agent", "Authorization", "X-Request-Id", "Cookie", "X-Forwarded-For", "Content-Type"} {
		req.Header.Set(k, "some value")
	}
	b.Run("request-8-headers", func(b *testing.B) {
		h := Headers(HeaderRules{Request: HeaderOps{Remove: []string{"Cookie"}, Set: http.Header{"X-Env": {"prod"}}}})(next)
		w := &discardWriter{h: make(http.Header, 8)}
		b.ReportAllocs()
		for b.Loop() {
			clear(w.h)
			h.ServeHTTP(w, req)
		}
	})
	b.Run("response", func(b *testing.B) {
		h := Headers(HeaderRules{Response: HeaderOps{Remove: []string{"Server"}, Set: http.Header{"X-Frame-Options": {"DENY"}}}})(next)
		w := &discardWriter{h: make(http.Header, 8)}
		b.ReportAllocs()
		for b.Loop() {
			clear(w.h)
			h.ServeHTTP(w, req)
		}
	})
}
