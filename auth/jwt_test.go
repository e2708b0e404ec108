package auth

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const testIss = "https://id.example.test/"

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func validClaims() jwt.MapClaims {
	return jwt.MapClaims{
		"iss": testIss, "sub": "user-1", "aud": "api",
		"exp": t0.Add(time.Hour).Unix(), "iat": t0.Add(-time.Minute).Unix(),
		"scope": "users:read users:write", "groups": []string{"admins", "staff"},
		"preferred_username": "ada",
	}
}

func with(c jwt.MapClaims, kv ...any) jwt.MapClaims {
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(c, kv[i].(string))
		} else {
			c[kv[i].(string)] = kv[i+1]
		}
	}
	return c
}

// rawToken builds a token from a literal header and claims, signed by s
// with s's algorithm.
func rawToken(t *testing.T, s *testSigner, header map[string]any, claims any) string {
	t.Helper()
	input := b64json(header) + "." + b64json(claims)
	sig, err := algorithms[s.alg].Sign(input, s.priv)
	require.NoError(t, err)
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func TestJWTBadInput(t *testing.T) {
	t.Parallel()
	rs := newSigner(t, "RS256", "k1")
	es := newSigner(t, "ES256", "k2")
	clock := newTestClock(t0)
	j, err := NewJWT(JWTConfig{
		Issuer: testIss, Audience: "api", Keys: []Key{rs.key(), es.key()},
		Clock: clock.Now, CriticalHeaders: []string{"exp-ext"}, DisableCache: true,
		Issuers: []Issuer{{Issuer: "https://req.test/", Keys: []Key{rs.key()}, RequiredClaims: []string{"tenant"}}},
	})
	require.NoError(t, err)

	pubDER, err := x509.MarshalPKIXPublicKey(rs.pub)
	require.NoError(t, err)
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	hsWithPub := &testSigner{alg: "HS256", kid: "k1", priv: pubPEM}
	hsWithPubNoKid := &testSigner{alg: "HS256", priv: pubPEM}
	psSameKey := &testSigner{alg: "PS256", kid: "k1", priv: rs.priv}
	hdr := func(kv ...any) map[string]any {
		m := map[string]any{"alg": "RS256", "kid": "k1", "typ": "JWT"}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}
	good := rs.sign(t, validClaims())
	parts := strings.Split(good, ".")

	tests := []struct {
		name    string
		token   string
		wantErr error
	}{
		{"valid RS256", good, nil},
		{"valid ES256", es.sign(t, validClaims()), nil},
		{"valid aud array", rs.sign(t, with(validClaims(), "aud", []string{"other", "api"})), nil},
		{"malformed base64 header", "!!!." + parts[1] + "." + parts[2], ErrInvalidToken},
		{"padded base64 segment", parts[0] + "=." + parts[1] + "." + parts[2], ErrInvalidToken},
		{"malformed base64 payload", parts[0] + ".%%%." + parts[2], ErrInvalidToken},
		{"malformed base64 signature", parts[0] + "." + parts[1] + ".***", ErrInvalidToken},
		{"malformed JSON header", base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"RS256",`)) + "." + parts[1] + "." + parts[2], ErrInvalidToken},
		{"malformed JSON payload", rawTokenBytes(t, rs, hdr(), []byte(`{"sub":"x"`)), ErrInvalidToken},
		{"payload is a JSON array", rawToken(t, rs, hdr(), []any{1, 2}), ErrInvalidToken},
		{"payload is null", rawTokenBytes(t, rs, hdr(), []byte(`null`)), ErrInvalidToken},
		{"payload with trailing data", rawTokenBytes(t, rs, hdr(), []byte(`{"sub":"x"} {}`)), ErrInvalidToken},
		{"header alg is a number", rawToken(t, rs, map[string]any{"alg": 256, "kid": "k1"}, validClaims()), ErrInvalidToken},
		{"one segment", parts[0], ErrInvalidToken},
		{"two segments", parts[0] + "." + parts[1], ErrInvalidToken},
		{"four segments", good + ".x", ErrInvalidToken},
		{"five segments (JWE)", good + ".x.y", ErrInvalidToken},
		{"empty signature", parts[0] + "." + parts[1] + ".", ErrInvalidToken},
		{"empty payload", parts[0] + ".." + parts[2], ErrInvalidToken},
		{"over the size cap", rs.sign(t, with(validClaims(), "pad", strings.Repeat("a", DefaultMaxTokenSize))), ErrInvalidToken},
		{"exp of the wrong type", rs.sign(t, with(validClaims(), "exp", "tomorrow")), ErrInvalidToken},
		{"nbf of the wrong type", rs.sign(t, with(validClaims(), "nbf", true)), ErrInvalidToken},
		{"iss of the wrong type", rs.sign(t, with(validClaims(), "iss", 42)), ErrInvalidToken},
		{"aud of the wrong type", rs.sign(t, with(validClaims(), "aud", 42)), ErrInvalidToken},
		{"sub of the wrong type", rs.sign(t, with(validClaims(), "sub", 42)), ErrInvalidToken},
		{"expired", rs.sign(t, with(validClaims(), "exp", t0.Add(-time.Second).Unix())), ErrTokenExpired},
		{"exp equals now", rs.sign(t, with(validClaims(), "exp", t0.Unix())), ErrTokenExpired},
		{"missing exp", rs.sign(t, with(validClaims(), "exp", nil)), ErrInvalidToken},
		{"not yet valid", rs.sign(t, with(validClaims(), "nbf", t0.Add(time.Minute).Unix())), ErrInvalidToken},
		{"issued in the future", rs.sign(t, with(validClaims(), "iat", t0.Add(time.Minute).Unix())), ErrInvalidToken},
		{"wrong audience", rs.sign(t, with(validClaims(), "aud", "other")), ErrInvalidToken},
		{"missing audience", rs.sign(t, with(validClaims(), "aud", nil)), ErrInvalidToken},
		{"wrong issuer", rs.sign(t, with(validClaims(), "iss", "https://evil.test/")), ErrInvalidToken},
		{"missing issuer", rs.sign(t, with(validClaims(), "iss", nil)), ErrInvalidToken},
		{"missing required claim", rs.sign(t, with(validClaims(), "iss", "https://req.test/")), ErrInvalidToken},
		{"required claim present", rs.sign(t, with(validClaims(), "iss", "https://req.test/", "tenant", "t1", "aud", nil)), nil},
		{"unknown kid", newSigner(t, "RS256", "k9").sign(t, validClaims()), ErrUnknownKey},
		{"alg none", b64json(map[string]any{"alg": "none", "kid": "k1"}) + "." + b64json(validClaims()) + ".", ErrInvalidToken},
		{"alg none with signature", b64json(map[string]any{"alg": "none", "kid": "k1"}) + "." + b64json(validClaims()) + ".c2ln", ErrInvalidToken},
		{"alg None (case)", b64json(map[string]any{"alg": "None"}) + "." + b64json(validClaims()) + ".c2ln", ErrInvalidToken},
		{"HS256 signed with the RSA public key", hsWithPub.sign(t, validClaims()), ErrInvalidToken},
		{"HS256 with RSA public key and no kid", hsWithPubNoKid.sign(t, validClaims()), ErrInvalidToken},
		{"PS256 with a key bound to RS256", psSameKey.sign(t, validClaims()), ErrInvalidToken},
		{"jku header", rs.signHeader(t, map[string]any{"jku": "https://evil.test/jwks"}, validClaims()), ErrInvalidToken},
		{"x5u header", rs.signHeader(t, map[string]any{"x5u": "https://evil.test/cert"}, validClaims()), ErrInvalidToken},
		{"embedded jwk header", rs.signHeader(t, map[string]any{"jwk": rs.jwk()}, validClaims()), ErrInvalidToken},
		{"embedded x5c header", rs.signHeader(t, map[string]any{"x5c": []string{"MIIB"}}, validClaims()), ErrInvalidToken},
		{"crit not understood", rs.signHeader(t, map[string]any{"crit": []string{"unknown-ext"}, "unknown-ext": 1}, validClaims()), ErrInvalidToken},
		{"crit understood and present", rs.signHeader(t, map[string]any{"crit": []string{"exp-ext"}, "exp-ext": 1}, validClaims()), nil},
		{"crit understood but absent", rs.signHeader(t, map[string]any{"crit": []string{"exp-ext"}}, validClaims()), ErrInvalidToken},
		{"crit empty", rs.signHeader(t, map[string]any{"crit": []string{}}, validClaims()), ErrInvalidToken},
		{"crit not an array", rs.signHeader(t, map[string]any{"crit": "exp-ext", "exp-ext": 1}, validClaims()), ErrInvalidToken},
		{"crit lists a registered header", rs.signHeader(t, map[string]any{"crit": []string{"alg"}}, validClaims()), ErrInvalidToken},
		{"crit lists b64 (RFC 7797)", rs.signHeader(t, map[string]any{"crit": []string{"b64"}, "b64": false}, validClaims()), ErrInvalidToken},
		{"duplicate claim", rawTokenBytes(t, rs, hdr(), []byte(`{"iss":"`+testIss+`","aud":"api","exp":`+itoa(int(t0.Unix())+60)+`,"sub":"user-1","sub":"admin"}`)), ErrInvalidToken},
		{"duplicate header parameter", rawTokenBytesHeader(t, rs, []byte(`{"alg":"RS256","kid":"k1","kid":"k2"}`), validClaims()), ErrInvalidToken},
		{"uppercase ALG is not alg", rawToken(t, rs, map[string]any{"ALG": "RS256", "kid": "k1"}, validClaims()), ErrInvalidToken},
		{"uppercase ALG none ignored", rawToken(t, rs, hdr("ALG", "none"), validClaims()), nil},
		{"kid of the wrong type", rawToken(t, rs, hdr("kid", 1), validClaims()), ErrInvalidToken},
		{"header is a JSON string", rawTokenBytesHeader(t, rs, []byte(`"RS256"`), validClaims()), ErrInvalidToken},
		{"tampered payload", parts[0] + "." + b64json(with(validClaims(), "sub", "admin")) + "." + parts[2], ErrInvalidToken},
		{"signature of another key", parts[0] + "." + parts[1] + "." + strings.Split(newSigner(t, "ES256", "k2").sign(t, validClaims()), ".")[2], ErrInvalidToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			id, err := j.Authenticate(bearer(tt.token))
			if tt.wantErr == nil {
				require.NoError(t, err)
				assert.Equal(t, "user-1", id.ConsumerID)
				return
			}
			require.Error(t, err)
			assert.ErrorIs(t, err, tt.wantErr, "token %.60s", tt.token)
			assert.Nil(t, id)
		})
	}
}

func rawTokenBytes(t *testing.T, s *testSigner, header map[string]any, payload []byte) string {
	t.Helper()
	input := b64json(header) + "." + base64.RawURLEncoding.EncodeToString(payload)
	sig, err := algorithms[s.alg].Sign(input, s.priv)
	require.NoError(t, err)
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func rawTokenBytesHeader(t *testing.T, s *testSigner, header []byte, claims any) string {
	t.Helper()
	input := base64.RawURLEncoding.EncodeToString(header) + "." + b64json(claims)
	sig, err := algorithms[s.alg].Sign(input, s.priv)
	require.NoError(t, err)
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func TestCountTopLevelKeys(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want int
	}{
		{"empty", `{}`, 0},
		{"flat", `{"a":1,"b":"x"}`, 2},
		{"nested", `{"a":{"b":1,"c":[{"d":2}]},"e":[1,"f,g"]}`, 2},
		{"escaped quotes", `{"a\"b":"c\",\"d","e":{}}`, 2},
		{"escaped backslash before quote", `{"a\\":"\\","b":1}`, 2},
		{"string values with braces", `{"a":"{","b":"}"}`, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.want, countTopLevelKeys([]byte(tt.in)))
		})
	}
}

func TestJWTAllAlgorithms(t *testing.T) {
	t.Parallel()
	for _, alg := range []string{"HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"} {
		t.Run(alg, func(t *testing.T) {
			t.Parallel()
			s := newSigner(t, alg, "kid-"+alg)
			j, err := NewJWT(JWTConfig{Issuer: testIss, Keys: []Key{s.key()}, Clock: newTestClock(t0).Now})
			require.NoError(t, err)
			id, err := j.Authenticate(bearer(s.sign(t, validClaims())))
			require.NoError(t, err)
			assert.Equal(t, "user-1", id.ConsumerID)
			assert.Equal(t, "ada", id.Username)
			assert.Equal(t, []string{"admins", "staff"}, id.Groups)
			assert.Equal(t, []string{"users:read", "users:write"}, id.Scopes)
			assert.Equal(t, MethodJWT, id.Method)
			assert.Equal(t, t0.Add(time.Hour).Unix(), id.ExpiresAt.Unix())

			// Without a kid the key is chosen by the bound algorithm.
			noKid := &testSigner{alg: alg, priv: s.priv}
			_, err = j.Authenticate(bearer(noKid.sign(t, validClaims())))
			require.NoError(t, err)
		})
	}
}

func TestJWTLeeway(t *testing.T) {
	t.Parallel()
	s := newSigner(t, "ES256", "k")
	clock := newTestClock(t0)
	j, err := NewJWT(JWTConfig{Issuer: testIss, Keys: []Key{s.key()}, Clock: clock.Now, Leeway: 30 * time.Second, DisableCache: true})
	require.NoError(t, err)
	tests := []struct {
		name    string
		claims  jwt.MapClaims
		wantErr error
	}{
		{"expired within leeway", with(validClaims(), "exp", t0.Add(-20*time.Second).Unix()), nil},
		{"expired beyond leeway", with(validClaims(), "exp", t0.Add(-40*time.Second).Unix()), ErrTokenExpired},
		{"nbf within leeway", with(validClaims(), "nbf", t0.Add(20*time.Second).Unix()), nil},
		{"nbf beyond leeway", with(validClaims(), "nbf", t0.Add(40*time.Second).Unix()), ErrInvalidToken},
		{"iat within leeway", with(validClaims(), "iat", t0.Add(20*time.Second).Unix()), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := j.Authenticate(bearer(s.sign(t, tt.claims)))
			if tt.wantErr == nil {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, tt.wantErr)
			}
		})
	}
}

func TestNewJWTConfigErrors(t *testing.T) {
	t.Parallel()
	rs := newSigner(t, "RS256", "k")
	es := newSigner(t, "ES256", "k")
	tests := []struct {
		name string
		cfg  JWTConfig
	}{
		{"no issuer", JWTConfig{}},
		{"no key source", JWTConfig{Issuers: []Issuer{{Issuer: testIss}}}},
		{"unknown algorithm", JWTConfig{Issuer: testIss, Keys: []Key{{Algorithm: "none", Key: []byte("x")}}}},
		{"RSA key bound to HS256", JWTConfig{Issuer: testIss, Keys: []Key{{Algorithm: "HS256", Key: rs.pub}}}},
		{"secret bound to RS256", JWTConfig{Issuer: testIss, Keys: []Key{{Algorithm: "RS256", Key: []byte(strings.Repeat("k", 64))}}}},
		{"short HS256 secret", JWTConfig{Issuer: testIss, Keys: []Key{{Algorithm: "HS256", Key: []byte("short")}}}},
		{"P-256 key bound to ES384", JWTConfig{Issuer: testIss, Keys: []Key{{Algorithm: "ES384", Key: es.pub}}}},
		{"key outside the allowlist", JWTConfig{Issuer: testIss, Algorithms: []string{"ES256"}, Keys: []Key{rs.key()}}},
		{"HS256 allowed from a JWKS", JWTConfig{Issuer: testIss, JWKSURL: "https://id.test/jwks", Algorithms: []string{"HS256"}}},
		{"keys and JWKS together", JWTConfig{Issuer: testIss, JWKSURL: "https://id.test/jwks", Keys: []Key{rs.key()}}},
		{"JWKS URL not http", JWTConfig{Issuer: testIss, JWKSURL: "file:///etc/jwks"}},
		{"duplicate key ID", JWTConfig{Issuer: testIss, Keys: []Key{rs.key(), {ID: "k", Algorithm: "ES256", Key: es.pub}}}},
		{"duplicate issuer", JWTConfig{Issuer: testIss, Keys: []Key{rs.key()}, Issuers: []Issuer{{Issuer: testIss, Keys: []Key{rs.key()}}}}},
		{"wildcard issuer with another", JWTConfig{Keys: []Key{rs.key()}, Issuers: []Issuer{{Issuer: testIss, Keys: []Key{rs.key()}}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := NewJWT(tt.cfg)
			require.ErrorIs(t, err, ErrConfig)
		})
	}
}

func TestJWTCache(t *testing.T) {
	t.Parallel()
	s := newSigner(t, "ES256", "k")
	clock := newTestClock(t0)
	j, err := NewJWT(JWTConfig{Issuer: testIss, Keys: []Key{s.key()}, Clock: clock.Now, CacheMaxAge: time.Hour})
	require.NoError(t, err)
	tok := s.sign(t, with(validClaims(), "exp", t0.Add(10*time.Minute).Unix()))

	id1, err := j.Verify(context.Background(), tok)
	require.NoError(t, err)
	id2, err := j.Verify(context.Background(), tok)
	require.NoError(t, err)
	assert.Same(t, id1, id2, "second check must be served from the cache")

	clock.Advance(10 * time.Minute) // exactly exp: the cache must not outlive the token
	_, err = j.Verify(context.Background(), tok)
	require.ErrorIs(t, err, ErrTokenExpired)

	// A token differing only in its signature is not a cache hit.
	parts := strings.Split(tok, ".")
	clock.ns.Store(t0.UnixNano())
	_, err = j.Verify(context.Background(), tok)
	require.NoError(t, err)
	_, err = j.Verify(context.Background(), parts[0]+"."+parts[1]+".AAAA")
	require.ErrorIs(t, err, ErrInvalidToken)
}

func TestIdentityCacheBounds(t *testing.T) {
	t.Parallel()
	c := newIdentityCache(64, 1<<30)
	id := &Identity{ConsumerID: "c"}
	for i := range 1000 {
		c.put(strings.Repeat("x", i%7)+itoa(i), id, 1e18, 0, 0)
	}
	n, _ := c.len()
	assert.LessOrEqual(t, n, 64, "entries bounded")

	cb := newIdentityCache(1_000_000, 16*4096)
	for i := range 1000 {
		cb.put(itoa(i)+strings.Repeat("y", 2000), id, 1e18, 0, 0)
	}
	_, bytes := cb.len()
	assert.LessOrEqual(t, bytes, int64(16*4096), "bytes bounded")
	assert.Nil(t, cb.get("missing", 0))
	assert.Nil(t, c.get(itoa(999), 1e18), "expired entry is a miss")
}

func TestJWTErrorsAreClassified(t *testing.T) {
	t.Parallel()
	for _, e := range []error{ErrInvalidToken, ErrTokenExpired, ErrUnknownKey, ErrInvalidCredentials, ErrNoCredentials} {
		assert.Equal(t, http.StatusUnauthorized, classify(e).status, e.Error())
	}
	assert.Equal(t, http.StatusServiceUnavailable, classify(errors.Join(errors.New("x"), ErrUnavailable)).status)
	assert.Equal(t, http.StatusForbidden, classify(ErrInsufficientScope).status)
}

// TestAlgorithmConfusionWithMixedKeys: even when the issuer allows HS256
// (it has an HMAC key), a token "signed" with the RSA public key as an HMAC
// secret fails, because the RSA key is bound to RS256 and the HMAC check
// only ever uses the configured secret.
func TestAlgorithmConfusionWithMixedKeys(t *testing.T) {
	t.Parallel()
	rs := newSigner(t, "RS256", "rsa")
	hs := newSigner(t, "HS256", "hmac")
	j, err := NewJWT(JWTConfig{Issuer: testIss, Keys: []Key{rs.key(), hs.key()}, Clock: newTestClock(t0).Now})
	require.NoError(t, err)
	der, err := x509.MarshalPKIXPublicKey(rs.pub)
	require.NoError(t, err)
	for _, pubBytes := range [][]byte{der, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})} {
		for _, kid := range []string{"rsa", "hmac", ""} {
			forged := &testSigner{alg: "HS256", kid: kid, priv: pubBytes}
			_, err := j.Authenticate(bearer(forged.sign(t, validClaims())))
			require.ErrorIs(t, err, ErrInvalidToken, "kid %q", kid)
		}
	}
	_, err = j.Authenticate(bearer(hs.sign(t, validClaims())))
	require.NoError(t, err, "the real HMAC key still works")
}
