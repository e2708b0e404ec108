package gatewaytest_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatewaykit/gateway/auth"
	"github.com/gatewaykit/gateway/gatewaytest"
)

func TestSignerEveryAlgorithm(t *testing.T) {
	t.Parallel()
	for _, alg := range []string{"HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"} {
		t.Run(alg, func(t *testing.T) {
			t.Parallel()
			s := gatewaytest.NewSigner(t, alg)
			j, err := auth.NewJWT(auth.JWTConfig{Issuer: "https://id.test", Audience: "api", Keys: []auth.Key{s.Key()}})
			require.NoError(t, err)
			id, err := j.Verify(context.Background(), s.Sign(t, gatewaytest.Claims("https://id.test", "u1", "api", time.Minute)))
			require.NoError(t, err)
			assert.Equal(t, "u1", id.ConsumerID)
			if alg[:2] == "HS" {
				assert.Nil(t, s.JWK(), "secrets are never published")
			} else {
				assert.Equal(t, s.KeyID, s.JWK()["kid"])
			}
		})
	}
}

func TestJWKSServer(t *testing.T) {
	t.Parallel()
	a := gatewaytest.NewSigner(t, "ES256")
	b := gatewaytest.NewSigner(t, "EdDSA")
	idp := gatewaytest.NewJWKSServer(t, a)
	idp.SetCacheControl("max-age=600")
	j, err := auth.NewJWT(auth.JWTConfig{Issuer: idp.Issuer, Discover: true,
		JWKS: auth.JWKSConfig{UnknownKeyInterval: time.Nanosecond}})
	require.NoError(t, err)
	claims := func() map[string]any { return gatewaytest.Claims(idp.Issuer, "u", "", time.Minute) }

	_, err = j.Verify(context.Background(), a.Sign(t, claims()))
	require.NoError(t, err)
	assert.Equal(t, int64(1), idp.Fetches())

	idp.SetKeys(a, b) // rotation: b's kid is unknown, so the set is refreshed
	_, err = j.Verify(context.Background(), b.Sign(t, claims()))
	require.NoError(t, err)
	assert.Equal(t, int64(2), idp.Fetches())

	// Hostile headers minted by the helper are refused.
	_, err = j.Verify(context.Background(), a.SignWithHeader(t, map[string]any{"jku": idp.JWKSURL}, claims()))
	require.ErrorIs(t, err, auth.ErrInvalidToken)

	idp.SetFailing(true)
	c := gatewaytest.NewSigner(t, "ES256")
	_, err = j.Verify(context.Background(), c.Sign(t, claims()))
	require.ErrorIs(t, err, auth.ErrUnavailable)
}

func TestWithIdentity(t *testing.T) {
	t.Parallel()
	h := auth.Scopes("orders:write")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	tests := []struct {
		name string
		id   *auth.Identity
		want int
	}{
		{"scope granted", gatewaytest.NewIdentity("c1", "orders:write"), http.StatusOK},
		{"scope missing", gatewaytest.NewIdentity("c1", "orders:read"), http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, gatewaytest.WithIdentity(httptest.NewRequest("POST", "/orders", nil), tt.id))
			assert.Equal(t, tt.want, rec.Code)
		})
	}
}

// TestMintAndServeUsage shows the typical use: mint a token, serve its key
// from a test identity provider, and exercise a JWT-protected handler.
func TestMintAndServeUsage(t *testing.T) {
	t.Parallel()
	signer := gatewaytest.NewSigner(t, "ES256")
	idp := gatewaytest.NewJWKSServer(t, signer)

	j, err := auth.NewJWT(auth.JWTConfig{Issuer: idp.Issuer, JWKSURL: idp.JWKSURL, Audience: "api"})
	require.NoError(t, err)
	token := signer.Sign(t, gatewaytest.Claims(idp.Issuer, "user-1", "api", time.Hour))

	r := httptest.NewRequest("GET", "/orders", nil)
	r.Header.Set("Authorization", "Bearer "+token)
	rec := httptest.NewRecorder()
	auth.Require(j)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _ := auth.FromContext(r.Context())
		fmt.Fprint(w, id.ConsumerID)
	})).ServeHTTP(rec, r)
	assert.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, "user-1", rec.Body.String())
	assert.Equal(t, int64(1), idp.Fetches())
}
