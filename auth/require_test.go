package auth

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		// Idle keep-alive connections of the default transport to closed
		// test servers are not leaks of this package.
		http.DefaultTransport.(*http.Transport).CloseIdleConnections()
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

func testGuard(t *testing.T, cfg Config) (*Guard, *testSigner, *JWT) {
	t.Helper()
	s := newSigner(t, "ES256", "k")
	j, err := NewJWT(JWTConfig{Issuer: testIss, Audience: "api", Keys: []Key{s.key()}, Clock: newTestClock(t0).Now})
	require.NoError(t, err)
	keys, err := NewAPIKeys(APIKeyConfig{Query: "apikey", Keys: []APIKey{
		{Key: "key-alice", Consumer: Consumer{ID: "alice", Username: "Alice", Groups: []string{"g1", "g2"}, Scopes: []string{"read"}}},
	}})
	require.NoError(t, err)
	cfg.Authenticators = []Authenticator{j, keys}
	return New(cfg), s, j
}

func TestRequire(t *testing.T) {
	t.Parallel()
	g, s, _ := testGuard(t, Config{})
	tok := s.sign(t, validClaims())
	tests := []struct {
		name       string
		req        func() *http.Request
		wantStatus int
		wantAuth   []string // WWW-Authenticate values (prefix match)
		wantHeader map[string]string
	}{
		{"no credentials: 401 with every challenge", func() *http.Request { return httptest.NewRequest("GET", "/x", nil) },
			401, []string{`Bearer realm="gateway"`, `APIKey realm="gateway"`}, nil},
		{"valid JWT", func() *http.Request { return bearer(tok) }, 200, nil,
			map[string]string{"Echo-X-Consumer-Id": "user-1", "Echo-X-Consumer-Username": "ada", "Echo-X-Consumer-Groups": "admins,staff", "Echo-X-Authenticated-Scope": "users:read users:write", "X-Seen-Consumer": "user-1"}},
		{"valid API key", func() *http.Request {
			r := httptest.NewRequest("GET", "/x", nil)
			r.Header.Set("X-API-Key", "key-alice")
			return r
		}, 200, nil, map[string]string{"Echo-X-Consumer-Id": "alice", "Echo-X-Consumer-Groups": "g1,g2", "Echo-X-Api-Key": "key-alice"}},
		{"API key in query", func() *http.Request { return httptest.NewRequest("GET", "/x?apikey=key-alice&a=1", nil) }, 200, nil,
			map[string]string{"Echo-X-Consumer-Id": "alice", "Echo-Query": "apikey=key-alice&a=1"}},
		{"invalid JWT decides even with a valid API key", func() *http.Request {
			r := bearer(tok + "x")
			r.Header.Set("X-API-Key", "key-alice")
			return r
		}, 401, []string{`Bearer realm="gateway", error="invalid_token"`}, nil},
		{"expired JWT", func() *http.Request { return bearer(s.sign(t, with(validClaims(), "exp", t0.Unix()-10))) },
			401, []string{`Bearer realm="gateway", error="invalid_token", error_description="token expired"`}, nil},
		{"wrong API key", func() *http.Request {
			r := httptest.NewRequest("GET", "/x", nil)
			r.Header.Set("X-API-Key", "nope")
			return r
		}, 401, []string{`APIKey realm="gateway"`}, nil},
		{"two Authorization headers", func() *http.Request {
			r := bearer(tok)
			r.Header.Add("Authorization", "Bearer "+tok)
			return r
		}, 400, []string{`Bearer realm="gateway", error="invalid_request"`}, nil},
		{"other scheme falls through to no credentials", func() *http.Request {
			r := httptest.NewRequest("GET", "/x", nil)
			r.Header.Set("Authorization", "Digest abc")
			return r
		}, 401, []string{`Bearer realm="gateway"`, `APIKey`}, nil},
		{"spoofed identity headers are replaced or removed", func() *http.Request {
			r := bearer(tok)
			r.Header.Set("X-Consumer-ID", "admin")
			r.Header.Set("X-Consumer-Custom-ID", "admin")
			r.Header.Set("X-Authenticated-Userid", "admin")
			r.Header["x-consumer-groups"] = []string{"root"}
			return r
		}, 200, nil, map[string]string{"Echo-X-Consumer-Id": "user-1", "Echo-X-Consumer-Custom-Id": "", "Echo-X-Authenticated-Userid": "", "Echo-X-Consumer-Groups": "admins,staff"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := tt.req()
			before := r.Header.Clone()
			rec := httptest.NewRecorder()
			g.Handler(okHandler()).ServeHTTP(rec, r)
			require.Equal(t, tt.wantStatus, rec.Code, rec.Body.String())
			assert.Equal(t, before, r.Header, "the inbound header map is never modified")
			got := rec.Header().Values("WWW-Authenticate")
			require.Len(t, got, len(tt.wantAuth), "challenges %q", got)
			for i, want := range tt.wantAuth {
				assert.True(t, strings.HasPrefix(got[i], want), "challenge %q, want prefix %q", got[i], want)
			}
			if tt.wantStatus != 200 {
				assert.Equal(t, "application/problem+json", rec.Header().Get("Content-Type"))
				assert.Contains(t, rec.Body.String(), fmt.Sprintf(`"status":%d`, tt.wantStatus))
			}
			for k, v := range tt.wantHeader {
				assert.Equal(t, v, rec.Header().Get(k), k)
			}
		})
	}
}

func TestRequireStripsCredentialsAndCustomHeaders(t *testing.T) {
	t.Parallel()
	g, s, _ := testGuard(t, Config{StripCredentials: true, Headers: Headers{ConsumerID: "X-User", Scope: "X-Scopes"}})
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		assert.Empty(t, r.Header.Get("Authorization"))
		assert.Empty(t, r.Header.Get("X-API-Key"))
		assert.NotContains(t, r.URL.RawQuery, "apikey")
		assert.NotContains(t, r.RequestURI, "apikey")
		assert.Equal(t, "a=1", r.URL.RawQuery)
		w.Header().Set("X-Got-User", r.Header.Get("X-User"))
		w.Header().Set("X-Got-Scopes", r.Header.Get("X-Scopes"))
		w.Header().Set("X-Got-Default", r.Header.Get("X-Consumer-ID"))
	})
	for _, r := range []*http.Request{bearer(s.sign(t, validClaims())), httptest.NewRequest("GET", "/x?apikey=key-alice&a=1", nil)} {
		if r.URL.RawQuery == "" {
			r.URL.RawQuery = "a=1"
		}
		r.Header.Set("X-API-Key", "")
		r.Header.Del("X-API-Key")
		origURL := r.URL.String()
		rec := httptest.NewRecorder()
		g.Handler(inner).ServeHTTP(rec, r)
		require.Equal(t, 200, rec.Code)
		assert.NotEmpty(t, rec.Header().Get("X-Got-User"))
		assert.NotEmpty(t, rec.Header().Get("X-Got-Scopes"))
		assert.Empty(t, rec.Header().Get("X-Got-Default"))
		assert.Equal(t, origURL, r.URL.String(), "inbound URL untouched")
	}
}

func TestRequireOmitIdentityHeadersAndNilIdentity(t *testing.T) {
	t.Parallel()
	g, s, _ := testGuard(t, Config{OmitIdentityHeaders: true})
	rec := httptest.NewRecorder()
	g.Handler(okHandler()).ServeHTTP(rec, bearer(s.sign(t, validClaims())))
	require.Equal(t, 200, rec.Code)
	assert.Empty(t, rec.Header().Get("Echo-X-Consumer-Id"))
	assert.Equal(t, "user-1", rec.Header().Get("X-Seen-Consumer"))

	broken := AuthenticatorFunc(func(*http.Request) (*Identity, error) { return nil, nil })
	rec = httptest.NewRecorder()
	Require(broken)(okHandler()).ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	assert.Equal(t, 401, rec.Code, "an authenticator returning no identity never admits")

	rec = httptest.NewRecorder()
	Require()(okHandler()).ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	assert.Equal(t, 401, rec.Code, "no authenticators rejects everything")
}

func TestStripIdentity(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		header http.Header
		want   http.Header
	}{
		{"nothing to strip", http.Header{"Accept": {"x"}}, http.Header{"Accept": {"x"}}},
		{"consumer headers", http.Header{"X-Consumer-Id": {"a"}, "X-Authenticated-Scope": {"s"}, "Accept": {"x"}}, http.Header{"Accept": {"x"}}},
		{"non-canonical keys", http.Header{"x-consumer-id": {"a"}, "X-CREDENTIAL-IDENTIFIER": {"c"}, "X-Anonymous-Consumer": {"t"}}, http.Header{}},
		{"similar but allowed", http.Header{"X-Consumers": {"a"}, "X-Auth": {"b"}}, http.Header{"X-Consumers": {"a"}, "X-Auth": {"b"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest("GET", "/", nil)
			r.Header = tt.header.Clone()
			var got http.Header
			StripIdentity(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = r.Header })).ServeHTTP(httptest.NewRecorder(), r)
			assert.Equal(t, tt.want, got)
			assert.Equal(t, tt.header, r.Header, "inbound header untouched")
		})
	}
}

func TestAuthorization(t *testing.T) {
	t.Parallel()
	jwtID := (&Identity{ConsumerID: "u", Method: MethodJWT, Groups: []string{"staff"}, Scopes: []string{"users:read"},
		Claims: map[string]any{"tenant": "acme", "level": jsonNum("3"), "roles": []any{"editor", "viewer"}, "realm": map[string]any{"role": "admin"}, "amr": "pwd mfa"}}).seal()
	keyID := (&Identity{ConsumerID: "k", Method: MethodAPIKey, Groups: []string{"banned", "staff"}}).seal()
	tests := []struct {
		name       string
		mw         func(http.Handler) http.Handler
		id         *Identity
		wantStatus int
		wantAuth   string
	}{
		{"scope present", Scopes("users:read"), jwtID, 200, ""},
		{"scope missing", Scopes("users:read", "users:write"), jwtID, 403, `Bearer error="insufficient_scope", error_description="insufficient scope", scope="users:read users:write"`},
		{"scope missing, API key: no bearer challenge", Scopes("x"), keyID, 403, ""},
		{"no identity", Scopes(), nil, 401, ""},
		{"acl allow", ACL(ACLConfig{Allow: []string{"staff"}}), jwtID, 200, ""},
		{"acl not allowed", ACL(ACLConfig{Allow: []string{"admins"}}), jwtID, 403, ""},
		{"acl deny wins", ACL(ACLConfig{Allow: []string{"staff"}, Deny: []string{"banned"}}), keyID, 403, ""},
		{"acl deny only", ACL(ACLConfig{Deny: []string{"banned"}}), jwtID, 200, ""},
		{"acl no identity", ACL(ACLConfig{}), nil, 401, ""},
		{"claim equals", Match(ClaimEquals("tenant", "acme")), jwtID, 200, ""},
		{"claim equals other", Match(ClaimEquals("tenant", "evil")), jwtID, 403, ""},
		{"claim equals number", Match(ClaimEquals("level", 3)), jwtID, 200, ""},
		{"claim equals number as string", Match(ClaimEquals("level", "3")), jwtID, 403, ""},
		{"claim equals nested path", Match(ClaimEquals("realm.role", "admin")), jwtID, 200, ""},
		{"claim missing", Match(ClaimEquals("nope", "x")), jwtID, 403, ""},
		{"claim contains array", Match(ClaimContains("roles", "editor")), jwtID, 200, ""},
		{"claim contains words", Match(ClaimContains("amr", "mfa")), jwtID, 200, ""},
		{"claim contains absent", Match(ClaimContains("roles", "admin")), jwtID, 403, ""},
		{"claim contains wrong type", Match(ClaimContains("level", "3")), jwtID, 403, ""},
		{"scope includes", Match(ScopeIncludes("users:read")), jwtID, 200, ""},
		{"all matchers must pass", Match(ScopeIncludes("users:read"), ClaimEquals("tenant", "evil")), jwtID, 403, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest("GET", "/", nil)
			if tt.id != nil {
				r = r.WithContext(NewContext(r.Context(), tt.id))
			}
			rec := httptest.NewRecorder()
			tt.mw(okHandler()).ServeHTTP(rec, r)
			assert.Equal(t, tt.wantStatus, rec.Code)
			assert.Equal(t, tt.wantAuth, rec.Header().Get("WWW-Authenticate"))
			if tt.wantStatus != 200 {
				assert.Equal(t, "application/problem+json", rec.Header().Get("Content-Type"))
			}
		})
	}
}

func TestJWTCookieAndStrip(t *testing.T) {
	t.Parallel()
	s := newSigner(t, "EdDSA", "k")
	j, err := NewJWT(JWTConfig{Issuer: testIss, Keys: []Key{s.key()}, Cookie: "session", Clock: newTestClock(t0).Now})
	require.NoError(t, err)
	g := New(Config{Authenticators: []Authenticator{j}, StripCredentials: true})
	r := httptest.NewRequest("GET", "/", nil)
	r.AddCookie(&http.Cookie{Name: "theme", Value: "dark"})
	r.AddCookie(&http.Cookie{Name: "session", Value: s.sign(t, validClaims())})
	var cookies []string
	g.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cookies = r.Header.Values("Cookie")
	})).ServeHTTP(httptest.NewRecorder(), r)
	assert.Equal(t, []string{"theme=dark"}, cookies, "the token cookie is stripped, others kept")
	assert.Contains(t, r.Header.Get("Cookie"), "session=", "inbound request untouched")
}

func TestRequireCustomHeaderNamesCannotBeSpoofed(t *testing.T) {
	t.Parallel()
	keys, err := NewAPIKeys(APIKeyConfig{Keys: []APIKey{{Key: "k", Consumer: Consumer{ID: "c"}}}})
	require.NoError(t, err)
	g := New(Config{Authenticators: []Authenticator{keys}, Headers: Headers{ConsumerID: "X-User", Username: "X-User-Name", Groups: "X-Roles"}})
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("X-API-Key", "k")
	r.Header.Set("X-User-Name", "root") // the consumer has no username: must not pass
	r.Header.Set("X-Roles", "admins")
	var got http.Header
	g.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = r.Header })).ServeHTTP(httptest.NewRecorder(), r)
	assert.Equal(t, "c", got.Get("X-User"))
	assert.Empty(t, got.Values("X-User-Name"))
	assert.Empty(t, got.Values("X-Roles"))
	assert.Equal(t, "root", r.Header.Get("X-User-Name"), "inbound untouched")
}
