package auth

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// authServer is an RFC 7662 introspection endpoint with a fixed token table.
type authServer struct {
	*httptest.Server
	calls   atomic.Int64
	hang    chan struct{}
	entered chan struct{}
	mode    atomic.Value // "", "500", "garbage"
}

func newAuthServer(t *testing.T, tokens map[string]map[string]any) *authServer {
	t.Helper()
	as := &authServer{}
	as.mode.Store("")
	as.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		as.calls.Add(1)
		if as.entered != nil {
			as.entered <- struct{}{}
		}
		if as.hang != nil {
			select {
			case <-as.hang:
			case <-r.Context().Done():
				return
			}
		}
		user, pass, ok := r.BasicAuth()
		if !ok || user != "gateway" || pass != "s3cret" || r.Method != http.MethodPost ||
			r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
			http.Error(w, `{"error":"invalid_client"}`, http.StatusUnauthorized)
			return
		}
		switch as.mode.Load() {
		case "500":
			http.Error(w, "boom", http.StatusInternalServerError)
			return
		case "garbage":
			_, _ = w.Write([]byte(`<html>`))
			return
		}
		resp, ok := tokens[r.PostFormValue("token")]
		if !ok {
			resp = map[string]any{"active": false}
		}
		_ = json.NewEncoder(w).Encode(resp)
	}))
	t.Cleanup(as.Close)
	return as
}

func TestIntrospection(t *testing.T) {
	t.Parallel()
	exp := t0.Add(30 * time.Minute).Unix()
	tokens := map[string]map[string]any{
		"good":     {"active": true, "sub": "svc-1", "scope": "orders:read orders:write", "exp": exp, "aud": []string{"api"}, "iss": "https://as.test"},
		"client":   {"active": true, "client_id": "cli", "exp": exp, "aud": "api", "iss": "https://as.test"},
		"expired":  {"active": true, "sub": "svc-1", "exp": t0.Add(-time.Minute).Unix(), "aud": "api", "iss": "https://as.test"},
		"otheraud": {"active": true, "sub": "svc-1", "exp": exp, "aud": "web", "iss": "https://as.test"},
		"noactive": {"sub": "svc-1"},
		"badtype":  {"active": "yes", "sub": "svc-1"},
		"expstr":   {"active": true, "sub": "svc-1", "exp": "soon", "aud": "api", "iss": "https://as.test"},
	}
	tests := []struct {
		name     string
		token    string
		consumer string
		wantErr  error
	}{
		{"active", "good", "svc-1", nil},
		{"client credentials token", "client", "cli", nil},
		{"inactive", "revoked", "", ErrInvalidToken},
		{"expired although active", "expired", "", ErrTokenExpired},
		{"wrong audience", "otheraud", "", ErrInvalidToken},
		{"active missing", "noactive", "", ErrUnavailable},
		{"active of the wrong type", "badtype", "", ErrUnavailable},
		{"exp of the wrong type", "expstr", "", ErrInvalidToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			as := newAuthServer(t, tokens)
			in, err := NewIntrospection(IntrospectionConfig{URL: as.URL, ClientID: "gateway", ClientSecret: "s3cret",
				Audience: "api", Issuer: "https://as.test", Clock: newTestClock(t0).Now})
			require.NoError(t, err)
			for i := range 3 {
				id, err := in.Authenticate(bearer(tt.token))
				if tt.wantErr != nil && i > 0 && tt.wantErr != ErrUnavailable {
					require.ErrorIs(t, err, ErrInvalidToken, "negatively cached")
					continue
				}
				if tt.wantErr != nil {
					require.ErrorIs(t, err, tt.wantErr)
					continue
				}
				require.NoError(t, err)
				assert.Equal(t, tt.consumer, id.ConsumerID)
				assert.Equal(t, MethodIntrospection, id.Method)
			}
			if tt.wantErr == nil || tt.wantErr == ErrInvalidToken || tt.wantErr == ErrTokenExpired {
				assert.Equal(t, int64(1), as.calls.Load(), "answers are cached (positive and negative)")
			}
		})
	}
}

func TestIntrospectionCacheExpiry(t *testing.T) {
	t.Parallel()
	tokens := map[string]map[string]any{"good": {"active": true, "sub": "s", "scope": "a b", "exp": t0.Add(2 * time.Minute).Unix()}}
	as := newAuthServer(t, tokens)
	clock := newTestClock(t0)
	in, err := NewIntrospection(IntrospectionConfig{URL: as.URL, ClientID: "gateway", ClientSecret: "s3cret", Clock: clock.Now,
		CacheTTL: time.Hour, NegativeTTL: 10 * time.Second})
	require.NoError(t, err)
	id, err := in.Authenticate(bearer("good"))
	require.NoError(t, err)
	assert.Equal(t, []string{"a", "b"}, id.Scopes)
	clock.Advance(time.Minute)
	_, err = in.Authenticate(bearer("good"))
	require.NoError(t, err)
	assert.Equal(t, int64(1), as.calls.Load())
	clock.Advance(time.Minute) // at exp: the cache entry is gone, the server answers expired
	_, err = in.Authenticate(bearer("good"))
	require.ErrorIs(t, err, ErrTokenExpired)
	assert.Equal(t, int64(2), as.calls.Load())

	_, err = in.Authenticate(bearer("bad"))
	require.ErrorIs(t, err, ErrInvalidToken)
	clock.Advance(11 * time.Second) // negative cache is short
	_, err = in.Authenticate(bearer("bad"))
	require.ErrorIs(t, err, ErrInvalidToken)
	assert.Equal(t, int64(4), as.calls.Load())
}

func TestIntrospectionServerFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		setup func(as *authServer) IntrospectionConfig
	}{
		{"hanging server times out", func(as *authServer) IntrospectionConfig {
			as.hang = make(chan struct{})
			return IntrospectionConfig{URL: as.URL, ClientID: "gateway", ClientSecret: "s3cret", Timeout: 50 * time.Millisecond}
		}},
		{"server error", func(as *authServer) IntrospectionConfig {
			as.mode.Store("500")
			return IntrospectionConfig{URL: as.URL, ClientID: "gateway", ClientSecret: "s3cret"}
		}},
		{"garbage answer", func(as *authServer) IntrospectionConfig {
			as.mode.Store("garbage")
			return IntrospectionConfig{URL: as.URL, ClientID: "gateway", ClientSecret: "s3cret"}
		}},
		{"wrong client credentials", func(as *authServer) IntrospectionConfig {
			return IntrospectionConfig{URL: as.URL, ClientID: "gateway", ClientSecret: "wrong"}
		}},
		{"unreachable", func(as *authServer) IntrospectionConfig {
			as.Close()
			return IntrospectionConfig{URL: as.URL}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			as := newAuthServer(t, nil)
			in, err := NewIntrospection(tt.setup(as))
			require.NoError(t, err)
			rec := httptest.NewRecorder()
			Require(in)(okHandler()).ServeHTTP(rec, bearer("tok"))
			assert.Equal(t, http.StatusServiceUnavailable, rec.Code, "an unreachable authorization server is a 503, not a 401")
			assert.Empty(t, rec.Header().Get("WWW-Authenticate"))
			if as.hang != nil {
				close(as.hang)
			}
		})
	}
}

func TestIntrospectionCollapsesConcurrentCalls(t *testing.T) {
	t.Parallel()
	as := newAuthServer(t, map[string]map[string]any{"tok": {"active": true, "sub": "s"}})
	as.hang = make(chan struct{})
	as.entered = make(chan struct{}, 64)
	in, err := NewIntrospection(IntrospectionConfig{URL: as.URL, ClientID: "gateway", ClientSecret: "s3cret"})
	require.NoError(t, err)
	var wg sync.WaitGroup
	var ok atomic.Int64
	for range 20 {
		wg.Go(func() {
			if _, err := in.Introspect(context.Background(), "tok"); err == nil {
				ok.Add(1)
			}
		})
	}
	<-as.entered
	close(as.hang)
	wg.Wait()
	assert.Equal(t, int64(20), ok.Load())
	// Callers that arrived after the first call finished hit the cache.
	assert.Equal(t, int64(1), as.calls.Load())
}

func TestJWTThenIntrospection(t *testing.T) {
	t.Parallel()
	as := newAuthServer(t, map[string]map[string]any{"opaque-1": {"active": true, "sub": "svc-opaque"}})
	in, err := NewIntrospection(IntrospectionConfig{URL: as.URL, ClientID: "gateway", ClientSecret: "s3cret"})
	require.NoError(t, err)
	s := newSigner(t, "ES256", "k")
	j, err := NewJWT(JWTConfig{Issuer: testIss, Keys: []Key{s.key()}, Clock: newTestClock(t0).Now, PassOpaqueTokens: true})
	require.NoError(t, err)
	h := Require(j, in)(okHandler())
	tests := []struct {
		name     string
		token    string
		status   int
		consumer string
	}{
		{"JWT goes to the JWT check", s.sign(t, validClaims()), 200, "user-1"},
		{"opaque token goes to introspection", "opaque-1", 200, "svc-opaque"},
		{"bad JWT is not introspected", s.sign(t, validClaims()) + "x", 401, ""},
		{"unknown opaque token", "opaque-2", 401, ""},
	}
	for _, tt := range tests {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, bearer(tt.token))
		assert.Equal(t, tt.status, rec.Code, tt.name)
		assert.Equal(t, tt.consumer, rec.Header().Get("X-Seen-Consumer"), tt.name)
	}
	assert.Equal(t, int64(2), as.calls.Load(), "only opaque tokens reach the authorization server")
}
