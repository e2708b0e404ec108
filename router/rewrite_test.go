package router

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// capture records the request the next handler receives.
type capture struct {
	path, rawPath, escaped, query, uri string
	called                             bool
}

func (c *capture) handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.called = true
		c.path, c.rawPath, c.escaped = r.URL.Path, r.URL.RawPath, r.URL.EscapedPath()
		c.query, c.uri = r.URL.RawQuery, r.RequestURI
	})
}

func TestPrefixRewrites(t *testing.T) {
	t.Parallel()
	strip := func(p string) func(http.Handler) http.Handler {
		mw, err := StripPrefix(p)
		require.NoError(t, err)
		return mw
	}
	replace := func(o, n string) func(http.Handler) http.Handler {
		mw, err := ReplacePrefix(o, n)
		require.NoError(t, err)
		return mw
	}
	tests := []struct {
		name     string
		mw       func(http.Handler) http.Handler
		target   string
		wantCode int
		wantEsc  string
		wantPath string
	}{
		{name: "strip", mw: strip("/api"), target: "/api/users/7?x=1", wantCode: 200, wantEsc: "/users/7", wantPath: "/users/7"},
		{name: "strip trailing slash prefix", mw: strip("/api/"), target: "/api/users", wantCode: 200, wantEsc: "/users", wantPath: "/users"},
		{name: "strip to root", mw: strip("/api"), target: "/api", wantCode: 200, wantEsc: "/", wantPath: "/"},
		{name: "strip whole segments only", mw: strip("/api"), target: "/apis/x", wantCode: 404},
		{name: "strip keeps escapes", mw: strip("/api"), target: "/api/a%2Fb/c%20d", wantCode: 200, wantEsc: "/a%2Fb/c%20d", wantPath: "/a/b/c d"},
		{name: "strip escaped prefix", mw: strip("/caf\u00e9"), target: "/caf%C3%A9/x", wantCode: 200, wantEsc: "/x", wantPath: "/x"},
		{name: "strip root prefix is identity", mw: strip("/"), target: "/a/b", wantCode: 200, wantEsc: "/a/b", wantPath: "/a/b"},
		{name: "strip exposes dot segment", mw: strip("/api"), target: "/api/../admin", wantCode: 400},
		{name: "strip exposes escaped dot segment", mw: strip("/api"), target: "/api/%2e%2E/admin", wantCode: 400},
		{name: "strip exposes empty segment", mw: strip("/api"), target: "/api//x", wantCode: 400},
		{name: "replace", mw: replace("/v1", "/api/v2"), target: "/v1/users/7", wantCode: 200, wantEsc: "/api/v2/users/7", wantPath: "/api/v2/users/7"},
		{name: "replace to root", mw: replace("/v1", "/api/v2"), target: "/v1", wantCode: 200, wantEsc: "/api/v2", wantPath: "/api/v2"},
		{name: "replace with escaped", mw: replace("/v1", "/a b"), target: "/v1/x%2Fy", wantCode: 200, wantEsc: "/a%20b/x%2Fy", wantPath: "/a b/x/y"},
		{name: "replace missing prefix", mw: replace("/v1", "/v2"), target: "/v2/x", wantCode: 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var c capture
			req := httptest.NewRequest("GET", tt.target, nil)
			inURL := *req.URL
			rec := httptest.NewRecorder()
			tt.mw(c.handler()).ServeHTTP(rec, req)
			require.Equal(t, tt.wantCode, rec.Code, rec.Body.String())
			assert.Equal(t, inURL, *req.URL, "the inbound request is not modified")
			if tt.wantCode != 200 {
				assert.False(t, c.called)
				assert.Equal(t, "application/problem+json", rec.Header().Get("Content-Type"))
				var pb problemBody
				require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &pb))
				assert.Equal(t, tt.wantCode, pb.Status)
				return
			}
			require.True(t, c.called)
			assert.Equal(t, tt.wantEsc, c.escaped)
			assert.Equal(t, tt.wantPath, c.path)
			assert.Equal(t, req.URL.RawQuery, c.query, "the query is kept")
			assert.Equal(t, req.RequestURI, c.uri)
			if c.rawPath != "" {
				assert.Equal(t, tt.wantEsc, c.rawPath, "RawPath is the escaped form")
			}
		})
	}
}

func TestRewritePath(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		pattern  string
		template string
		target   string
		wantCode int
		wantEsc  string
		wantPath string
	}{
		{name: "single", pattern: "/users/{id}", template: "/v2/users/{id}", target: "/users/7?x=1", wantCode: 200, wantEsc: "/v2/users/7", wantPath: "/v2/users/7"},
		{name: "inside a segment", pattern: "/users/{id}", template: "/v2/users/{id}.json", target: "/users/7", wantCode: 200, wantEsc: "/v2/users/7.json", wantPath: "/v2/users/7.json"},
		{name: "reorder", pattern: "/{a}/{b}", template: "/x/{b}/{a}", target: "/1/2", wantCode: 200, wantEsc: "/x/2/1", wantPath: "/x/2/1"},
		{name: "escaped slash stays escaped", pattern: "/users/{id}", template: "/v2/{id}", target: "/users/a%2Fb", wantCode: 200, wantEsc: "/v2/a%2Fb", wantPath: "/v2/a/b"},
		{name: "space escaped", pattern: "/users/{id}", template: "/v2/{id}", target: "/users/a%20b", wantCode: 200, wantEsc: "/v2/a%20b", wantPath: "/v2/a b"},
		{name: "multi keeps slashes", pattern: "/files/{p...}", template: "/store/{p...}", target: "/files/a/b%20c/d", wantCode: 200, wantEsc: "/store/a/b%20c/d", wantPath: "/store/a/b c/d"},
		{name: "multi empty", pattern: "/files/{p...}", template: "/store/{p...}", target: "/files/", wantCode: 200, wantEsc: "/store/", wantPath: "/store/"},
		{name: "dot value rejected", pattern: "/users/{id}", template: "/v2/{id}", target: "/users/..", wantCode: 400},
		{name: "escaped dot value rejected", pattern: "/users/{id}", template: "/v2/{id}/x", target: "/users/%2E", wantCode: 400},
		{name: "dot in multi rejected", pattern: "/files/{p...}", template: "/store/{p...}", target: "/files/a/../../etc", wantCode: 400},
		{name: "empty segment in multi rejected", pattern: "/files/{p...}", template: "/store/{p...}", target: "/files/a//b", wantCode: 400},
		{name: "unknown name is empty", pattern: "/users/{id}", template: "/v2/{nope}", target: "/users/1", wantCode: 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			mw, err := RewritePath(tt.template)
			require.NoError(t, err)
			var c capture
			rt := mustNew(t, []Route{{Pattern: tt.pattern, Handler: mw(c.handler())}})
			req := httptest.NewRequest("GET", tt.target, nil)
			inURL := *req.URL
			rec := httptest.NewRecorder()
			rt.ServeHTTP(rec, req)
			require.Equal(t, tt.wantCode, rec.Code, rec.Body.String())
			assert.Equal(t, inURL, *req.URL, "the inbound URL is not modified")
			if tt.wantCode != 200 {
				assert.False(t, c.called)
				assert.Equal(t, "application/problem+json", rec.Header().Get("Content-Type"))
				return
			}
			assert.Equal(t, tt.wantEsc, c.escaped)
			assert.Equal(t, tt.wantPath, c.path)
			assert.Equal(t, req.URL.RawQuery, c.query)
		})
	}
}

func TestRewriteConstructorErrors(t *testing.T) {
	t.Parallel()
	for _, tmpl := range []string{"", "v2/{id}", "/v2/{id", "/v2/id}", "/v2/{a-b}", "/v2/{p...}/x", "/v2/x{p...}", "/v2/../{id}", "/v2//{id}", "/v2/%zz", "/v2?x=1", "/v2/{}"} {
		_, err := RewritePath(tmpl)
		assert.ErrorIs(t, err, ErrInvalidRewrite, "template %q", tmpl)
	}
	for _, p := range []string{"", "api", "/api/../x", "/a//b"} {
		_, err := StripPrefix(p)
		assert.ErrorIs(t, err, ErrInvalidRewrite, "prefix %q", p)
	}
	_, err := ReplacePrefix("/v1", "v2")
	assert.ErrorIs(t, err, ErrInvalidRewrite)
	_, err = ReplacePrefix("/v1", "")
	assert.NoError(t, err)
}

func TestCheckPath(t *testing.T) {
	t.Parallel()
	tests := []struct {
		path string
		ok   bool
	}{
		{"/", true}, {"/a/b/", true}, {"/a.b/..c/...", true}, {"/%2e%2ex", true},
		{"", false}, {"a", false}, {"/.", false}, {"/..", false}, {"/a/./b", false}, {"/a/%2E/b", false},
		{"/a/.%2e", false}, {"/%2e%2E", false}, {"//a", false}, {"/a//b", false},
	}
	for _, tt := range tests {
		err := checkPath(tt.path)
		assert.Equal(t, tt.ok, err == nil, "%q: %v", tt.path, err)
	}
}
