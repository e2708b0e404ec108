package router

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// named returns a handler that writes its name into X-Route.
func named(name string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Route", name)
		w.Header().Set("X-Pattern", r.Pattern)
	})
}

func routes(patterns ...string) []Route {
	rs := make([]Route, len(patterns))
	for i, p := range patterns {
		rs[i] = Route{Pattern: p, Handler: named(p)}
	}
	return rs
}

func mustNew(t testing.TB, rs []Route) *Router {
	t.Helper()
	rt, err := New(Config{Routes: rs})
	require.NoError(t, err)
	return rt
}

// matchName returns the Name of the route matching method+target, or "".
func matchName(t testing.TB, rt *Router, method, target string, hdr http.Header) (string, Params) {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for k, v := range hdr {
		req.Header[k] = v
	}
	route, p, ok := rt.Match(req)
	if !ok {
		return "", p
	}
	return route.Name, p
}

func TestMatchPatterns(t *testing.T) {
	t.Parallel()
	rt := mustNew(t, routes(
		"/",
		"/{$}",
		"/users/{id}",
		"/users/me",
		"/users/{id}/posts/{post}",
		"/files/{path...}",
		"/static/",
		"/static/{$}",
		"/static/img/",
		"/docs",
		"/a%2Fb/x",
		"/caf%C3%A9",
		"api.example.com/users/{id}",
		"api.example.com/v1/",
		"[::1]/ipv6",
	))
	tests := []struct {
		name, target, want string
		params             map[string]string
	}{
		{name: "root exact", target: "/", want: "/{$}"},
		{name: "root prefix catches all", target: "/nothing/here", want: "/"},
		{name: "literal beats wildcard", target: "/users/me", want: "/users/me"},
		{name: "wildcard", target: "/users/42", want: "/users/{id}", params: map[string]string{"id": "42"}},
		{name: "wildcard does not match empty", target: "/users/", want: "/"},
		{name: "no trailing slash redirect", target: "/static", want: "/"},
		{name: "two wildcards", target: "/users/7/posts/9", want: "/users/{id}/posts/{post}", params: map[string]string{"id": "7", "post": "9"}},
		{name: "multi", target: "/files/a/b/c.txt", want: "/files/{path...}", params: map[string]string{"path": "a/b/c.txt"}},
		{name: "multi empty", target: "/files/", want: "/files/{path...}", params: map[string]string{"path": ""}},
		{name: "multi needs slash", target: "/files", want: "/"},
		{name: "dollar beats prefix", target: "/static/", want: "/static/{$}"},
		{name: "prefix subtree", target: "/static/css/x.css", want: "/static/"},
		{name: "longer prefix wins", target: "/static/img/a.png", want: "/static/img/"},
		{name: "exact literal", target: "/docs", want: "/docs"},
		{name: "exact literal no subtree", target: "/docs/x", want: "/"},
		{name: "escaped slash is not a separator", target: "/users/a%2Fb", want: "/users/{id}", params: map[string]string{"id": "a/b"}},
		{name: "escaped slash does not reach two-segment route", target: "/users/7%2Fposts%2F9", want: "/users/{id}", params: map[string]string{"id": "7/posts/9"}},
		{name: "escaped literal matches escaped segment", target: "/a%2Fb/x", want: "/a%2Fb/x"},
		{name: "escaped literal is not two segments", target: "/a/b/x", want: "/"},
		{name: "unicode literal", target: "/caf%C3%A9", want: "/caf%C3%A9"},
		{name: "needlessly escaped literal", target: "/%64ocs", want: "/docs"},
		{name: "escaped value unescaped", target: "/users/J%C3%BCrgen%20X", want: "/users/{id}", params: map[string]string{"id": "Jürgen X"}},
		{name: "escaped dollar slash does not match {$}", target: "/static/%2F", want: "/static/"},
		{name: "host route", target: "http://api.example.com/users/me", want: "api.example.com/users/{id}", params: map[string]string{"id": "me"}},
		{name: "host case and port", target: "http://API.Example.COM:8443/users/1", want: "api.example.com/users/{id}"},
		{name: "host trailing dot", target: "http://api.example.com./users/1", want: "api.example.com/users/{id}"},
		{name: "host falls back to host-less", target: "http://api.example.com/docs", want: "/docs"},
		{name: "host prefix", target: "http://api.example.com/v1/x", want: "api.example.com/v1/"},
		{name: "other host", target: "http://other.example.com/users/1", want: "/users/{id}"},
		{name: "ipv6 host", target: "http://[::1]:8080/ipv6", want: "[::1]/ipv6"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, p := matchName(t, rt, http.MethodGet, tt.target, nil)
			assert.Equal(t, tt.want, got, "target %s", tt.target)
			if tt.params != nil {
				require.Equal(t, len(tt.params), p.Len(), "param count for %s", tt.target)
				for k, v := range tt.params {
					gv, ok := p.Get(k)
					assert.True(t, ok, "param %s", k)
					assert.Equal(t, v, gv, "param %s of %s", k, tt.target)
				}
			}
		})
	}
}

func TestMatchPrecedence(t *testing.T) {
	t.Parallel()
	hv := func(name, value string) []Matcher { return []Matcher{{Name: name, Value: value}} }
	tests := []struct {
		name   string
		routes []Route
		method string
		target string
		header http.Header
		want   string // Name of the winner, "" for no match
	}{
		{
			name:   "method-specific beats method-less on equal path",
			routes: []Route{{Pattern: "/x", Name: "any"}, {Pattern: "GET /x", Name: "get"}},
			method: "GET", target: "/x", want: "get",
		},
		{
			name:   "path beats method",
			routes: []Route{{Pattern: "GET /x/{id}", Name: "get-wild"}, {Pattern: "/x/y", Name: "any-lit"}},
			method: "GET", target: "/x/y", want: "any-lit",
		},
		{
			name:   "other method falls back to method-less",
			routes: []Route{{Pattern: "POST /x", Name: "post"}, {Pattern: "/x", Name: "any"}},
			method: "DELETE", target: "/x", want: "any",
		},
		{
			name:   "method mismatch backtracks to wildcard",
			routes: []Route{{Pattern: "GET /a/b", Name: "get-lit"}, {Pattern: "/a/{x}", Name: "any-wild"}},
			method: "POST", target: "/a/b", want: "any-wild",
		},
		{
			name:   "HEAD via GET",
			routes: []Route{{Pattern: "GET /x", Name: "get"}},
			method: "HEAD", target: "/x", want: "get",
		},
		{
			name:   "HEAD route beats GET route",
			routes: []Route{{Pattern: "GET /x", Name: "get"}, {Pattern: "HEAD /x", Name: "head"}},
			method: "HEAD", target: "/x", want: "head",
		},
		{
			name:   "GET for HEAD beats method-less",
			routes: []Route{{Pattern: "/x", Name: "any"}, {Pattern: "GET /x", Name: "get"}},
			method: "HEAD", target: "/x", want: "get",
		},
		{
			name:   "GET does not serve POST",
			routes: []Route{{Pattern: "GET /x", Name: "get"}},
			method: "POST", target: "/x", want: "",
		},
		{
			name:   "host beats more specific host-less path",
			routes: []Route{{Pattern: "/a/b", Name: "lit"}, {Pattern: "h.example/", Name: "host"}},
			method: "GET", target: "http://h.example/a/b", want: "host",
		},
		{
			name:   "leftmost literal wins on overlap",
			routes: []Route{{Pattern: "/{y}/b", Name: "right"}, {Pattern: "/a/{x}", Name: "left"}},
			method: "GET", target: "/a/b", want: "left",
		},
		{
			name:   "single wildcard beats multi",
			routes: []Route{{Pattern: "/a/{rest...}", Name: "multi"}, {Pattern: "/a/{x}", Name: "single"}},
			method: "GET", target: "/a/b", want: "single",
		},
		{
			name:   "multi takes deeper paths",
			routes: []Route{{Pattern: "/a/{rest...}", Name: "multi"}, {Pattern: "/a/{x}", Name: "single"}},
			method: "GET", target: "/a/b/c", want: "multi",
		},
		{
			name: "header matcher beats plain",
			routes: []Route{
				{Pattern: "GET /x", Name: "plain"},
				{Pattern: "GET /x", Name: "v2", Headers: hv("X-Api-Version", "2")},
			},
			method: "GET", target: "/x", header: http.Header{"X-Api-Version": {"2"}}, want: "v2",
		},
		{
			name: "failed header matcher falls back",
			routes: []Route{
				{Pattern: "GET /x", Name: "plain"},
				{Pattern: "GET /x", Name: "v2", Headers: hv("X-Api-Version", "2")},
			},
			method: "GET", target: "/x", header: http.Header{"X-Api-Version": {"3"}}, want: "plain",
		},
		{
			name: "failed header matcher backtracks to less specific path",
			routes: []Route{
				{Pattern: "/a/b", Name: "lit-v2", Headers: hv("X-Api-Version", "2")},
				{Pattern: "/a/{x}", Name: "wild"},
			},
			method: "GET", target: "/a/b", want: "wild",
		},
		{
			name: "more matchers beat priority",
			routes: []Route{
				{Pattern: "/x", Name: "prio", Priority: 100, Headers: hv("A", "1")},
				{Pattern: "/x", Name: "two", Headers: hv("A", "1"), Query: []Matcher{{Name: "q", Present: true}}},
			},
			method: "GET", target: "/x?q", header: http.Header{"A": {"1"}}, want: "two",
		},
		{
			name: "priority breaks tie",
			routes: []Route{
				{Pattern: "/x", Name: "low", Headers: hv("A", "1")},
				{Pattern: "/x", Name: "high", Priority: 1, Headers: hv("B", "1")},
			},
			method: "GET", target: "/x", header: http.Header{"A": {"1"}, "B": {"1"}}, want: "high",
		},
		{
			name: "registration order breaks full tie",
			routes: []Route{
				{Pattern: "/x", Name: "first", Headers: hv("A", "1")},
				{Pattern: "/x", Name: "second", Headers: hv("B", "1")},
			},
			method: "GET", target: "/x", header: http.Header{"A": {"1"}, "B": {"1"}}, want: "first",
		},
		{
			name: "method-less with matcher loses to method with none",
			routes: []Route{
				{Pattern: "/x", Name: "any-hdr", Headers: hv("A", "1")},
				{Pattern: "GET /x", Name: "get"},
			},
			method: "GET", target: "/x", header: http.Header{"A": {"1"}}, want: "get",
		},
		{
			name: "query matcher",
			routes: []Route{
				{Pattern: "/search", Name: "plain"},
				{Pattern: "/search", Name: "beta", Query: []Matcher{{Name: "beta", Value: "yes please"}}},
			},
			method: "GET", target: "/search?a=1&beta=yes+please", want: "beta",
		},
		{
			name: "wildcard names do not matter for equality of shape",
			routes: []Route{
				{Pattern: "/u/{id}", Name: "id", Priority: 1},
				{Pattern: "/u/{name}", Name: "name", Priority: 2},
			},
			method: "GET", target: "/u/7", want: "name",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rs := make([]Route, len(tt.routes))
			for i, r := range tt.routes {
				r.Handler = named(r.Name)
				rs[i] = r
			}
			rt := mustNew(t, rs)
			got, _ := matchName(t, rt, tt.method, tt.target, tt.header)
			assert.Equal(t, tt.want, got, "%s %s", tt.method, tt.target)
		})
	}
}

func TestNewErrors(t *testing.T) {
	t.Parallel()
	h := named("h")
	tests := []struct {
		name    string
		routes  []Route
		wantErr error
		substr  []string
	}{
		{name: "empty pattern", routes: []Route{{Pattern: "", Handler: h}}, wantErr: ErrInvalidPattern},
		{name: "no slash", routes: []Route{{Pattern: "GET example.com", Handler: h}}, wantErr: ErrInvalidPattern},
		{name: "bad method", routes: []Route{{Pattern: "G(T /x", Handler: h}}, wantErr: ErrInvalidPattern},
		{name: "dollar not at end", routes: []Route{{Pattern: "/{$}/x", Handler: h}}, wantErr: ErrInvalidPattern},
		{name: "multi not at end", routes: []Route{{Pattern: "/{a...}/x", Handler: h}}, wantErr: ErrInvalidPattern},
		{name: "partial wildcard", routes: []Route{{Pattern: "/a/b{x}", Handler: h}}, wantErr: ErrInvalidPattern},
		{name: "bad name", routes: []Route{{Pattern: "/{x-y}", Handler: h}}, wantErr: ErrInvalidPattern},
		{name: "duplicate name", routes: []Route{{Pattern: "/{x}/{x}", Handler: h}}, wantErr: ErrInvalidPattern},
		{name: "host with port", routes: []Route{{Pattern: "example.com:80/x", Handler: h}}, wantErr: ErrInvalidPattern},
		{name: "unclean dot", routes: []Route{{Pattern: "/a/./b", Handler: h}}, wantErr: ErrInvalidPattern},
		{name: "unclean dotdot", routes: []Route{{Pattern: "GET /a/../b", Handler: h}}, wantErr: ErrInvalidPattern},
		{name: "unclean double slash", routes: []Route{{Pattern: "/a//b", Handler: h}}, wantErr: ErrInvalidPattern},
		{name: "host {wildcard}", routes: []Route{{Pattern: "{h}.example.com/x", Handler: h}}, wantErr: ErrInvalidPattern},
		{name: "host star inside", routes: []Route{{Pattern: "a.*.example.com/x", Handler: h}}, wantErr: ErrInvalidPattern},
		{name: "host star alone", routes: []Route{{Pattern: "*/x", Handler: h}}, wantErr: ErrInvalidPattern},
		{name: "host star without dot", routes: []Route{{Pattern: "*example.com/x", Handler: h}}, wantErr: ErrInvalidPattern},
		{name: "host two stars", routes: []Route{{Pattern: "*.*.example.com/x", Handler: h}}, wantErr: ErrInvalidPattern},
		{name: "conflict wildcard host case", routes: []Route{{Pattern: "*.Example.com/x", Handler: h}, {Pattern: "*.example.com/x", Handler: h}}, wantErr: ErrConflict},
		{name: "too many wildcards", routes: []Route{{Pattern: "/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}/{i}", Handler: h}}, wantErr: ErrInvalidPattern},
		{name: "nil handler", routes: []Route{{Pattern: "/x", Name: "users"}}, wantErr: ErrNilHandler, substr: []string{`"users"`, "Handler"}},
		{name: "matcher without name", routes: []Route{{Pattern: "/x", Handler: h, Headers: []Matcher{{Value: "1"}}}}, wantErr: ErrInvalidMatcher, substr: []string{"Headers[0]"}},
		{name: "matcher without test", routes: []Route{{Pattern: "/x", Handler: h, Query: []Matcher{{Name: "a"}}}}, wantErr: ErrInvalidMatcher, substr: []string{"Query[0]"}},
		{name: "matcher two tests", routes: []Route{{Pattern: "/x", Handler: h, Headers: []Matcher{{Name: "a", Value: "1", Present: true}}}}, wantErr: ErrInvalidMatcher},
		{name: "bad regexp", routes: []Route{{Pattern: "/x", Handler: h, Headers: []Matcher{{Name: "a", Regexp: "("}}}}, wantErr: ErrInvalidMatcher, substr: []string{"Regexp"}},
		{name: "host matcher", routes: []Route{{Pattern: "/x", Handler: h, Headers: []Matcher{{Name: "host", Present: true}}}}, wantErr: ErrInvalidMatcher},
		{name: "bad header name", routes: []Route{{Pattern: "/x", Handler: h, Headers: []Matcher{{Name: "a b", Present: true}}}}, wantErr: ErrInvalidMatcher},
		{
			name:    "conflict same pattern",
			routes:  []Route{{Pattern: "GET /u/{id}", Handler: h}, {Pattern: "GET /u/{name}", Handler: h}},
			wantErr: ErrConflict, substr: []string{"GET /u/{id}", "GET /u/{name}"},
		},
		{
			name: "conflict same matcher set in another order",
			routes: []Route{
				{Pattern: "/x", Handler: h, Headers: []Matcher{{Name: "a", Value: "1"}, {Name: "B", Present: true}}},
				{Pattern: "/x", Handler: h, Headers: []Matcher{{Name: "b", Present: true}, {Name: "A", Value: "1"}}},
			},
			wantErr: ErrConflict,
		},
		{
			name:    "conflict host case",
			routes:  []Route{{Pattern: "Example.com/x", Handler: h}, {Pattern: "example.COM/x", Handler: h}},
			wantErr: ErrConflict,
		},
		{
			name:    "conflict prefix and named multi",
			routes:  []Route{{Pattern: "/a/", Handler: h}, {Pattern: "/a/{rest...}", Handler: h}},
			wantErr: ErrConflict,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := New(Config{Routes: tt.routes})
			require.Error(t, err)
			assert.ErrorIs(t, err, tt.wantErr)
			for _, s := range tt.substr {
				assert.Contains(t, err.Error(), s)
			}
		})
	}
}

func TestNewAccepts(t *testing.T) {
	t.Parallel()
	h := named("h")
	tests := []struct {
		name   string
		routes []Route
	}{
		{name: "different priority", routes: []Route{{Pattern: "/x", Handler: h}, {Pattern: "/x", Handler: h, Priority: 1}}},
		{name: "different method", routes: []Route{{Pattern: "GET /x", Handler: h}, {Pattern: "POST /x", Handler: h}}},
		{name: "different matcher value", routes: []Route{
			{Pattern: "/x", Handler: h, Headers: []Matcher{{Name: "a", Value: "1"}}},
			{Pattern: "/x", Handler: h, Headers: []Matcher{{Name: "a", Value: "2"}}},
		}},
		{name: "header vs query of same name", routes: []Route{
			{Pattern: "/x", Handler: h, Headers: []Matcher{{Name: "a", Present: true}}},
			{Pattern: "/x", Handler: h, Query: []Matcher{{Name: "A", Present: true}}},
		}},
		{name: "dollar and prefix", routes: []Route{{Pattern: "/a/", Handler: h}, {Pattern: "/a/{$}", Handler: h}}},
		{name: "overlap ServeMux refuses", routes: []Route{{Pattern: "/a/{x}", Handler: h}, {Pattern: "/{y}/b", Handler: h}}},
		{name: "method with spaces and tabs", routes: []Route{{Pattern: "GET \t /x", Handler: h}}},
		{name: "leading blank", routes: []Route{{Pattern: " /x", Handler: h}}},
		{name: "CONNECT unclean", routes: []Route{{Pattern: "CONNECT /a//b", Handler: h}}},
		{name: "max params", routes: []Route{{Pattern: "/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}/", Handler: h}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := New(Config{Routes: tt.routes})
			assert.NoError(t, err)
		})
	}
}

type problemBody struct {
	Type     string `json:"type"`
	Title    string `json:"title"`
	Status   int    `json:"status"`
	Detail   string `json:"detail"`
	Instance string `json:"instance"`
}

func TestServeHTTP(t *testing.T) {
	t.Parallel()
	var gotID, gotRest, gotPattern string
	rt := mustNew(t, []Route{
		{Pattern: "GET /users/{id}", Handler: named("get-user")},
		{Pattern: "DELETE /users/{id}", Handler: named("delete-user")},
		{Pattern: "PUT /users/{id}", Handler: named("put-user-admin"), Headers: []Matcher{{Name: "X-Admin", Present: true}}},
		{Pattern: "/files/{rest...}", Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			gotRest, gotPattern = r.PathValue("rest"), r.Pattern
		})},
		{Pattern: "GET /v/{id}", Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			gotID = r.PathValue("id")
		})},
	})
	tests := []struct {
		name      string
		method    string
		target    string
		header    http.Header
		wantCode  int
		wantRoute string
		wantAllow string
	}{
		{name: "match", method: "GET", target: "/users/1", wantCode: 200, wantRoute: "get-user"},
		{name: "head via get", method: "HEAD", target: "/users/1", wantCode: 200, wantRoute: "get-user"},
		{name: "405 lists methods", method: "POST", target: "/users/1", wantCode: 405, wantAllow: "DELETE, GET, HEAD"},
		{name: "405 includes matched-matcher method", method: "POST", target: "/users/1", header: http.Header{"X-Admin": {""}}, wantCode: 405, wantAllow: "DELETE, GET, HEAD, PUT"},
		{name: "404", method: "GET", target: "/nope", wantCode: 404},
		{name: "404 for wrong shape", method: "POST", target: "/users/1/x", wantCode: 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req := httptest.NewRequest(tt.method, tt.target, nil)
			for k, v := range tt.header {
				req.Header[k] = v
			}
			rec := httptest.NewRecorder()
			rt.ServeHTTP(rec, req)
			require.Equal(t, tt.wantCode, rec.Code)
			assert.Equal(t, tt.wantRoute, rec.Header().Get("X-Route"))
			assert.Equal(t, tt.wantAllow, rec.Header().Get("Allow"))
			if tt.wantCode >= 400 {
				assert.Equal(t, "application/problem+json", rec.Header().Get("Content-Type"))
				var pb problemBody
				require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &pb), rec.Body.String())
				assert.Equal(t, tt.wantCode, pb.Status)
				assert.Equal(t, req.URL.EscapedPath(), pb.Instance)
			}
		})
	}
	t.Run("path values and pattern", func(t *testing.T) {
		rec := httptest.NewRecorder()
		rt.ServeHTTP(rec, httptest.NewRequest("GET", "/files/a%20b/c", nil))
		assert.Equal(t, "a b/c", gotRest)
		assert.Equal(t, "/files/{rest...}", gotPattern)
		rt.ServeHTTP(rec, httptest.NewRequest("GET", "/v/x%2Fy", nil))
		assert.Equal(t, "x/y", gotID)
	})
}

func TestCustomHandlers(t *testing.T) {
	t.Parallel()
	var allow string
	rt, err := New(Config{
		Routes:   []Route{{Pattern: "GET /x", Handler: named("x")}},
		NotFound: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) }),
		MethodNotAllowed: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			allow = w.Header().Get("Allow")
			w.WriteHeader(http.StatusConflict)
		}),
	})
	require.NoError(t, err)
	rec := httptest.NewRecorder()
	rt.ServeHTTP(rec, httptest.NewRequest("GET", "/y", nil))
	assert.Equal(t, http.StatusTeapot, rec.Code)
	rec = httptest.NewRecorder()
	rt.ServeHTTP(rec, httptest.NewRequest("POST", "/x", nil))
	assert.Equal(t, http.StatusConflict, rec.Code)
	assert.Equal(t, "GET, HEAD", allow)
}

func TestMatchDoesNotModifyRequest(t *testing.T) {
	t.Parallel()
	rt := mustNew(t, routes("/u/{id}"))
	req := httptest.NewRequest("GET", "/u/1", nil)
	before := *req.URL
	_, p, ok := rt.Match(req)
	require.True(t, ok)
	assert.Equal(t, "", req.Pattern)
	assert.Equal(t, "", req.PathValue("id"))
	assert.Equal(t, before, *req.URL)
	p.Apply(req)
	assert.Equal(t, "1", req.PathValue("id"))
}

func TestParams(t *testing.T) {
	t.Parallel()
	rt := mustNew(t, routes("/{a}/{b}/{rest...}", "/anon/"))
	_, p, ok := rt.Match(httptest.NewRequest("GET", "/x%2Fy/2/c/d", nil))
	require.True(t, ok)
	require.Equal(t, 3, p.Len())
	assert.Equal(t, "a", p.Name(0))
	assert.Equal(t, "x/y", p.Value(0))
	assert.Equal(t, "x%2Fy", p.RawValue(0))
	var names, vals []string
	for n, v := range p.All() {
		names = append(names, n)
		vals = append(vals, v)
	}
	assert.Equal(t, []string{"a", "b", "rest"}, names)
	assert.Equal(t, []string{"x/y", "2", "c/d"}, vals)
	_, ok = p.Get("zzz")
	assert.False(t, ok)

	// A trailing-slash pattern captures nothing.
	_, p, ok = rt.Match(httptest.NewRequest("GET", "/anon/x/y", nil))
	require.True(t, ok)
	assert.Equal(t, 0, p.Len())
}

func TestMatchNoPath(t *testing.T) {
	t.Parallel()
	rt := mustNew(t, routes("/"))
	req := httptest.NewRequest("OPTIONS", "*", nil)
	_, _, ok := rt.Match(req)
	assert.False(t, ok, "the asterisk form has no path to route")
	req = httptest.NewRequest("GET", "/", nil)
	req.URL.Path = ""
	_, _, ok = rt.Match(req)
	assert.True(t, ok, "an empty path is /")
}

func TestErrorsAreWrapped(t *testing.T) {
	t.Parallel()
	_, err := New(Config{Routes: []Route{{Pattern: "/{", Handler: named("x"), Name: "broken"}}})
	require.Error(t, err)
	assert.True(t, errors.Is(err, ErrInvalidPattern))
	assert.Contains(t, err.Error(), `route 0 ("broken"): Pattern "/{"`)
}

func TestRoutes(t *testing.T) {
	t.Parallel()
	rt := mustNew(t, []Route{{Pattern: "/a", Handler: named("a")}, {Pattern: "/b", Handler: named("b"), Name: "bee"}})
	rs := rt.Routes()
	require.Len(t, rs, 2)
	assert.Equal(t, "/a", rs[0].Name)
	assert.Equal(t, "bee", rs[1].Name)
	rs[0].Name = "changed"
	assert.Equal(t, "/a", rt.Routes()[0].Name, "Routes returns a copy")
}

func TestManyLiteralChildren(t *testing.T) {
	t.Parallel()
	var rs []Route
	for _, s := range []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "ü", "x%20y"} {
		rs = append(rs, Route{Pattern: "/r/" + s + "/{id}", Handler: named(s), Name: s})
	}
	rt := mustNew(t, rs)
	for _, tt := range []struct{ target, want string }{
		{"/r/a/1", "a"}, {"/r/j/1", "j"}, {"/r/%6A/1", "j"}, {"/r/%C3%BC/1", "ü"}, {"/r/x%20y/1", "x%20y"}, {"/r/k/1", ""},
	} {
		got, _ := matchName(t, rt, "GET", tt.target, nil)
		assert.Equal(t, tt.want, got, tt.target)
	}
}

func TestMatchAllocs(t *testing.T) {
	var rs []Route
	for i := range 20 {
		rs = append(rs, Route{Pattern: "GET /api/r" + string(rune('a'+i)) + "/{id}", Handler: named("x")})
	}
	rs = append(rs,
		Route{Pattern: "Tenant.example.com/t/{id}/", Handler: named("t")},
		Route{Pattern: "*.apps.example.com/w/{id}", Handler: named("w")},
		Route{Pattern: "/q/{id}", Handler: named("q"), Headers: []Matcher{{Name: "X-V", Regexp: "[0-9]+"}}, Query: []Matcher{{Name: "a b", Value: "c d"}, {Name: "z", Present: true, Invert: true}}},
		Route{Pattern: "/q/{id}", Handler: named("q2")},
	)
	rt := mustNew(t, rs)
	for _, tc := range []struct{ host, target string }{
		{"example.com", "/api/rc/123"},
		{"example.com", "/api/r%63/1%2F2"},
		{"TENANT.Example.com:8443", "/t/9/a/b/c"},
		{"Shop.APPS.example.com", "/w/1"},
		{"example.com", "/q/1?x=1&a+b=c%20d"},
		{"example.com", "/nope/nothing/here"},
	} {
		req := httptest.NewRequest("GET", tc.target, nil)
		req.Host = tc.host
		req.Header.Set("X-V", "42")
		_, _, ok := rt.Match(req)
		assert.Equal(t, tc.target != "/nope/nothing/here", ok, tc.target)
		allocs := testing.AllocsPerRun(100, func() { rt.Match(req) })
		assert.Zero(t, allocs, "Match(%s%s) allocates", tc.host, tc.target)
	}
}

func TestRequestPath(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, path, rawPath, want string
	}{
		{name: "plain", path: "/a/b", want: "/a/b"},
		{name: "empty", path: "", want: "/"},
		{name: "raw used when consistent", path: "/a/b/c", rawPath: "/a%2Fb/c", want: "/a%2Fb/c"},
		{name: "raw ignored when inconsistent", path: "/x/y", rawPath: "/a%2Fb", want: "/x/y"},
		{name: "raw ignored when invalid", path: "/a b", rawPath: "/a b", want: "/a b"},
		{name: "literal percent escaped", path: "/100%", want: "/100%25"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := &http.Request{URL: &url.URL{Path: tt.path, RawPath: tt.rawPath}}
			assert.Equal(t, tt.want, requestPath(r))
		})
	}
}

func TestWildcardHosts(t *testing.T) {
	t.Parallel()
	rt := mustNew(t, routes(
		"/users/{id}",
		"*.example.com/users/{id}",
		"*.eu.example.com/users/{id}",
		"api.eu.example.com/users/me",
		"*.example.com/only-wild",
		"POST *.example.com/post",
	))
	tests := []struct {
		name, method, target, want, allow string
	}{
		{name: "subdomain", target: "http://shop.example.com/users/1", want: "*.example.com/users/{id}"},
		{name: "deep subdomain", target: "http://a.b.example.com/users/1", want: "*.example.com/users/{id}"},
		{name: "longer suffix wins", target: "http://x.eu.example.com/users/1", want: "*.eu.example.com/users/{id}"},
		{name: "exact host wins", target: "http://api.eu.example.com/users/me", want: "api.eu.example.com/users/me"},
		{name: "exact host falls back to wildcard", target: "http://api.eu.example.com/users/2", want: "*.eu.example.com/users/{id}"},
		{name: "apex is not a subdomain", target: "http://example.com/users/1", want: "/users/{id}"},
		{name: "suffix must be a label boundary", target: "http://badexample.com/users/1", want: "/users/{id}"},
		{name: "case and port", target: "http://SHOP.Example.COM:8080/only-wild", want: "*.example.com/only-wild"},
		{name: "wildcard falls back to host-less", target: "http://shop.example.com/nope", want: ""},
		{name: "405 from wildcard host", method: "GET", target: "http://shop.example.com/post", want: "", allow: "POST"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			method := tt.method
			if method == "" {
				method = "GET"
			}
			got, _ := matchName(t, rt, method, tt.target, nil)
			assert.Equal(t, tt.want, got, tt.target)
			req := httptest.NewRequest(method, tt.target, nil)
			assert.Equal(t, tt.allow, strings.Join(rt.Allowed(req), ","), tt.target)
		})
	}
}

// TestDocPrecedenceExamples checks the examples listed in doc.go.
func TestDocPrecedenceExamples(t *testing.T) {
	t.Parallel()
	hdr := []Matcher{{Name: "X-Api-Version", Value: "2"}}
	tests := []struct {
		loser, winner Route
	}{
		{Route{Pattern: "/users/{id}"}, Route{Pattern: "/users/me"}},
		{Route{Pattern: "GET /users/{id}"}, Route{Pattern: "/users/me"}},
		{Route{Pattern: "/users/me"}, Route{Pattern: "api.example.com/users/"}},
		{Route{Pattern: "/users/me"}, Route{Pattern: "GET /users/me"}},
		{Route{Pattern: "GET /users/me"}, Route{Pattern: "GET /users/me", Headers: hdr}},
		{Route{Pattern: "GET /users/me"}, Route{Pattern: "GET /users/me", Priority: 5}},
	}
	for _, tt := range tests {
		for _, order := range [][2]Route{{tt.loser, tt.winner}, {tt.winner, tt.loser}} {
			a, b := order[0], order[1]
			a.Handler, b.Handler = named("a"), named("b")
			a.Name, b.Name = "a", "b"
			rt := mustNew(t, []Route{a, b})
			want := "a"
			if b.Pattern == tt.winner.Pattern && b.Priority == tt.winner.Priority && len(b.Headers) == len(tt.winner.Headers) {
				want = "b"
			}
			got, _ := matchName(t, rt, "GET", "http://api.example.com/users/me", http.Header{"X-Api-Version": {"2"}})
			assert.Equal(t, want, got, "%q vs %q", a.Pattern, b.Pattern)
		}
	}
}

func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	rt := mustNew(t, benchRoutes(200))
	reqs := benchRequests(200)
	done := make(chan struct{})
	for g := range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range 200 {
				src := reqs[(g+i)&15]
				req := src.Clone(src.Context())
				rec := httptest.NewRecorder()
				rt.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					t.Errorf("%s %s: %d", req.Method, req.URL, rec.Code)
					return
				}
				if _, _, ok := rt.Match(src); !ok {
					t.Errorf("no match for %s", src.URL)
					return
				}
			}
		}()
	}
	for range 4 {
		<-done
	}
}
