package auth

import (
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"
)

func TestAPIKeys(t *testing.T) {
	t.Parallel()
	bob := Consumer{ID: "bob", Groups: []string{"partners"}}
	k, err := NewAPIKeys(APIKeyConfig{Query: "api_key", Cookie: "key", Keys: []APIKey{
		{Key: "alice-key-1", Consumer: Consumer{ID: "alice"}},
		{Key: "alice-key-2", Consumer: Consumer{ID: "alice"}},
		{Hash: "sha256:" + HashAPIKey("bob-key"), Consumer: bob},
	}})
	require.NoError(t, err)
	req := func(mod func(r *http.Request)) *http.Request {
		r := httptest.NewRequest("GET", "/", nil)
		mod(r)
		return r
	}
	tests := []struct {
		name     string
		r        *http.Request
		consumer string
		wantErr  error
	}{
		{"header", req(func(r *http.Request) { r.Header.Set("X-API-Key", "alice-key-1") }), "alice", nil},
		{"rotated second key", req(func(r *http.Request) { r.Header.Set("X-API-Key", "alice-key-2") }), "alice", nil},
		{"hashed config", req(func(r *http.Request) { r.Header.Set("X-API-Key", "bob-key") }), "bob", nil},
		{"query", httptest.NewRequest("GET", "/?api_key=bob-key", nil), "bob", nil},
		{"cookie", req(func(r *http.Request) { r.AddCookie(&http.Cookie{Name: "key", Value: "bob-key"}) }), "bob", nil},
		{"header wins over query", func() *http.Request {
			r := httptest.NewRequest("GET", "/?api_key=bob-key", nil)
			r.Header.Set("X-API-Key", "alice-key-1")
			return r
		}(), "alice", nil},
		{"absent", req(func(*http.Request) {}), "", ErrNoCredentials},
		{"unknown key", req(func(r *http.Request) { r.Header.Set("X-API-Key", "nobody") }), "", ErrInvalidCredentials},
		{"wrong key (prefix of a real one)", req(func(r *http.Request) { r.Header.Set("X-API-Key", "alice-key-") }), "", ErrInvalidCredentials},
		{"key with different case", req(func(r *http.Request) { r.Header.Set("X-API-Key", "ALICE-KEY-1") }), "", ErrInvalidCredentials},
		{"empty header", req(func(r *http.Request) { r.Header.Set("X-API-Key", "") }), "", ErrInvalidCredentials},
		{"repeated header", req(func(r *http.Request) {
			r.Header.Add("X-API-Key", "alice-key-1")
			r.Header.Add("X-API-Key", "bob-key")
		}), "", ErrInvalidRequest},
		{"repeated query parameter", httptest.NewRequest("GET", "/?api_key=bob-key&api_key=alice-key-1", nil), "", ErrInvalidRequest},
		{"empty query parameter", httptest.NewRequest("GET", "/?api_key=", nil), "", ErrInvalidCredentials},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			id, err := k.Authenticate(tt.r)
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.consumer, id.ConsumerID)
			assert.Equal(t, MethodAPIKey, id.Method)
		})
	}

	// Rotation keys share one Identity; unknown and wrong keys get the very
	// same error value.
	a1, _ := k.lookup("alice-key-1")
	a2, _ := k.lookup("alice-key-2")
	assert.Same(t, a1, a2)
	_, e1 := k.lookup("nobody")
	_, e2 := k.lookup("alice-key-")
	assert.Equal(t, e1, e2)
}

func TestAPIKeysSameResponseUnknownAndWrong(t *testing.T) {
	t.Parallel()
	k, err := NewAPIKeys(APIKeyConfig{Keys: []APIKey{{Key: "secret-1", Consumer: Consumer{ID: "c"}}}})
	require.NoError(t, err)
	bodies := map[string]string{}
	for _, key := range []string{"unknown", "secret-2"} {
		r := httptest.NewRequest("GET", "/p", nil)
		r.Header.Set("X-API-Key", key)
		rec := httptest.NewRecorder()
		Require(k)(okHandler()).ServeHTTP(rec, r)
		require.Equal(t, 401, rec.Code)
		bodies[key] = rec.Header().Get("WWW-Authenticate") + rec.Body.String()
		assert.NotContains(t, rec.Body.String(), key, "the key is never echoed")
	}
	assert.Equal(t, bodies["unknown"], bodies["secret-2"])
}

func TestNewAPIKeysErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		keys []APIKey
	}{
		{"no consumer", []APIKey{{Key: "k"}}},
		{"no key", []APIKey{{Consumer: Consumer{ID: "c"}}}},
		{"key and hash", []APIKey{{Key: "k", Hash: HashAPIKey("k"), Consumer: Consumer{ID: "c"}}}},
		{"bad hash", []APIKey{{Hash: "abc", Consumer: Consumer{ID: "c"}}}},
		{"duplicate", []APIKey{{Key: "k", Consumer: Consumer{ID: "a"}}, {Hash: HashAPIKey("k"), Consumer: Consumer{ID: "b"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := NewAPIKeys(APIKeyConfig{Keys: tt.keys})
			require.ErrorIs(t, err, ErrConfig)
		})
	}
}

func TestBasic(t *testing.T) {
	t.Parallel()
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret:with:colons"), bcrypt.MinCost)
	require.NoError(t, err)
	clock := newTestClock(t0)
	b, err := NewBasic(BasicConfig{Realm: "tools", Clock: clock.Now, Users: []BasicUser{
		{Username: "ops", PasswordHash: string(hash), Consumer: Consumer{Groups: []string{"ops"}}},
	}})
	require.NoError(t, err)
	basic := func(s string) *http.Request {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(s)))
		return r
	}
	raw := func(v string) *http.Request {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Authorization", v)
		return r
	}
	tests := []struct {
		name    string
		r       *http.Request
		wantErr error
	}{
		{"valid", basic("ops:s3cret:with:colons"), nil},
		{"lowercase scheme", raw("basic " + base64.StdEncoding.EncodeToString([]byte("ops:s3cret:with:colons"))), nil},
		{"wrong password", basic("ops:nope"), ErrInvalidCredentials},
		{"unknown user", basic("root:s3cret:with:colons"), ErrInvalidCredentials},
		{"malformed base64", raw("Basic %%%"), ErrInvalidCredentials},
		{"no colon", basic("ops"), ErrInvalidCredentials},
		{"empty", raw("Basic "), ErrInvalidCredentials},
		{"bearer scheme", raw("Bearer abc"), ErrNoCredentials},
		{"no header", httptest.NewRequest("GET", "/", nil), ErrNoCredentials},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			id, err := b.Authenticate(tt.r)
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, "ops", id.ConsumerID)
			assert.Equal(t, []string{"ops"}, id.Groups)
		})
	}

	rec := httptest.NewRecorder()
	Require(b)(okHandler()).ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	assert.Equal(t, 401, rec.Code)
	assert.Equal(t, `Basic realm="tools", charset="UTF-8"`, rec.Header().Get("WWW-Authenticate"))

	_, err = NewBasic(BasicConfig{Users: []BasicUser{{Username: "x", PasswordHash: "plaintext"}}})
	require.ErrorIs(t, err, ErrConfig)
	_, err = NewBasic(BasicConfig{Users: []BasicUser{{Username: "a:b", PasswordHash: string(hash)}}})
	require.ErrorIs(t, err, ErrConfig)
}
