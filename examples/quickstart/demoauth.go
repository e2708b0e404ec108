package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/hex"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/gatewaykit/gateway/auth"
)

// demoAuth holds the quickstart's authenticators and the credentials it
// prints for a newcomer to try.
type demoAuth struct {
	jwt    *auth.JWT
	keys   *auth.APIKeys
	token  string
	apiKey string
}

// newDemoAuth makes a fresh ES256 key and API key on every start: the demo
// credentials are valid only for this process.
func newDemoAuth() (*demoAuth, error) {
	const issuer, audience = "https://quickstart.local/", "demo"
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	jwtAuth, err := auth.NewJWT(auth.JWTConfig{
		Issuer:   issuer,
		Audience: audience,
		Keys:     []auth.Key{{ID: "demo", Algorithm: "ES256", Key: &key.PublicKey}},
	})
	if err != nil {
		return nil, err
	}
	raw := make([]byte, 16)
	if _, err := rand.Read(raw); err != nil {
		return nil, err
	}
	apiKey := "demo_" + hex.EncodeToString(raw)
	keys, err := auth.NewAPIKeys(auth.APIKeyConfig{Keys: []auth.APIKey{{
		Key:      apiKey,
		Consumer: auth.Consumer{ID: "demo-app", Scopes: []string{"orders:read"}},
	}}})
	if err != nil {
		return nil, err
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{
		"iss": issuer, "aud": audience, "sub": "demo-user",
		"scope": "orders:read orders:write",
		"exp":   time.Now().Add(24 * time.Hour).Unix(),
	})
	tok.Header["kid"] = "demo"
	token, err := tok.SignedString(key)
	if err != nil {
		return nil, err
	}
	return &demoAuth{jwt: jwtAuth, keys: keys, token: token, apiKey: apiKey}, nil
}
