package gatewaytest

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/gatewaykit/gateway/auth"
)

// Signer mints JSON Web Tokens for tests with a freshly generated key bound
// to one algorithm. A Signer is safe for simultaneous use by multiple
// goroutines.
type Signer struct {
	// Alg is the JWS algorithm (HS256 ... EdDSA).
	Alg string
	// KeyID is the kid put in every token's header and in the JWK.
	KeyID string

	method jwt.SigningMethod
	priv   any
	pub    any
}

// NewSigner generates a key for alg (a 64-byte secret for HS*, a 2048-bit
// RSA key for RS* and PS*, a key on the matching curve for ES*, an Ed25519
// key for EdDSA) with a random key ID. It fails the test for an unknown
// algorithm.
func NewSigner(t testing.TB, alg string) *Signer {
	t.Helper()
	method := jwt.GetSigningMethod(alg)
	if method == nil || alg == "none" {
		t.Fatalf("gatewaytest: unsupported algorithm %q", alg)
	}
	var kid [4]byte
	_, _ = rand.Read(kid[:])
	s := &Signer{Alg: alg, KeyID: strings.ToLower(alg) + "-" + hex.EncodeToString(kid[:]), method: method}
	var err error
	switch {
	case strings.HasPrefix(alg, "HS"):
		secret := make([]byte, 64)
		_, _ = rand.Read(secret)
		s.priv, s.pub = secret, secret
	case strings.HasPrefix(alg, "RS"), strings.HasPrefix(alg, "PS"):
		var k *rsa.PrivateKey
		k, err = rsa.GenerateKey(rand.Reader, 2048)
		if err == nil {
			s.priv, s.pub = k, &k.PublicKey
		}
	case strings.HasPrefix(alg, "ES"):
		curve := map[string]elliptic.Curve{"ES256": elliptic.P256(), "ES384": elliptic.P384(), "ES512": elliptic.P521()}[alg]
		var k *ecdsa.PrivateKey
		k, err = ecdsa.GenerateKey(curve, rand.Reader)
		if err == nil {
			s.priv, s.pub = k, &k.PublicKey
		}
	case alg == "EdDSA":
		var pub ed25519.PublicKey
		var priv ed25519.PrivateKey
		pub, priv, err = ed25519.GenerateKey(rand.Reader)
		s.priv, s.pub = priv, pub
	default:
		t.Fatalf("gatewaytest: unsupported algorithm %q", alg)
	}
	if err != nil {
		t.Fatalf("gatewaytest: generate %s key: %v", alg, err)
	}
	return s
}

// Key returns the verification key for [auth.JWTConfig.Keys], bound to the
// Signer's algorithm and key ID.
func (s *Signer) Key() auth.Key {
	return auth.Key{ID: s.KeyID, Algorithm: s.Alg, Key: s.pub}
}

// PrivateKey returns the signing key ([]byte, *rsa.PrivateKey,
// *ecdsa.PrivateKey or ed25519.PrivateKey), for tests that build tokens by
// hand.
func (s *Signer) PrivateKey() any { return s.priv }

// Sign returns a compact JWS of claims with the Signer's alg and kid.
func (s *Signer) Sign(t testing.TB, claims jwt.MapClaims) string {
	t.Helper()
	return s.SignWithHeader(t, nil, claims)
}

// SignWithHeader is like Sign with extra header parameters; a nil value
// removes a parameter (for example "kid"). It lets tests mint hostile
// tokens (jku, crit, embedded jwk) that a gateway must refuse.
func (s *Signer) SignWithHeader(t testing.TB, header map[string]any, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(s.method, claims)
	tok.Header["kid"] = s.KeyID
	for k, v := range header {
		if v == nil {
			delete(tok.Header, k)
		} else {
			tok.Header[k] = v
		}
	}
	out, err := tok.SignedString(s.priv)
	if err != nil {
		t.Fatalf("gatewaytest: sign: %v", err)
	}
	return out
}

// JWK returns the Signer's public key as a JSON Web Key (RFC 7517) with
// kid, alg and use "sig". For HS* it returns nil: secrets are never
// published in a JWKS.
func (s *Signer) JWK() map[string]any {
	enc := base64.RawURLEncoding.EncodeToString
	m := map[string]any{"kid": s.KeyID, "alg": s.Alg, "use": "sig"}
	switch k := s.pub.(type) {
	case *rsa.PublicKey:
		m["kty"], m["n"], m["e"] = "RSA", enc(k.N.Bytes()), enc(big.NewInt(int64(k.E)).Bytes())
	case *ecdsa.PublicKey:
		b, err := k.Bytes()
		if err != nil {
			return nil
		}
		size := (k.Curve.Params().BitSize + 7) / 8
		m["kty"], m["crv"], m["x"], m["y"] = "EC", k.Curve.Params().Name, enc(b[1:1+size]), enc(b[1+size:])
	case ed25519.PublicKey:
		m["kty"], m["crv"], m["x"] = "OKP", "Ed25519", enc(k)
	default:
		return nil
	}
	return m
}

// Claims returns registered claims for a token from issuer about subject,
// issued now and expiring after ttl, with audience aud when not empty. Add
// more claims to the map as needed.
func Claims(issuer, subject, aud string, ttl time.Duration) jwt.MapClaims {
	now := time.Now()
	c := jwt.MapClaims{"iss": issuer, "sub": subject, "iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(ttl).Unix()}
	if aud != "" {
		c["aud"] = aud
	}
	return c
}

// JWKSServer is an identity provider for tests: it serves the public keys
// of its Signers as a JWKS at JWKSURL and an OpenID Connect discovery
// document at Issuer + "/.well-known/openid-configuration", and counts the
// JWKS fetches. It is closed when the test ends.
type JWKSServer struct {
	*httptest.Server
	// Issuer is the server's URL, also the issuer in its discovery document.
	Issuer string
	// JWKSURL is the URL of the key set.
	JWKSURL string

	mu sync.Mutex
	// protects the fields below
	keys         []map[string]any
	cacheControl string
	failing      bool

	fetches atomic.Int64
}

// NewJWKSServer starts a JWKSServer publishing the keys of signers.
func NewJWKSServer(t testing.TB, signers ...*Signer) *JWKSServer {
	t.Helper()
	js := &JWKSServer{}
	js.SetKeys(signers...)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /jwks.json", func(w http.ResponseWriter, r *http.Request) {
		js.fetches.Add(1)
		js.mu.Lock()
		failing, cc := js.failing, js.cacheControl
		body, _ := json.Marshal(map[string]any{"keys": js.keys})
		js.mu.Unlock()
		if failing {
			http.Error(w, "identity provider down", http.StatusServiceUnavailable)
			return
		}
		if cc != "" {
			w.Header().Set("Cache-Control", cc)
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		_, _ = w.Write(body)
	})
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"issuer": js.Issuer, "jwks_uri": js.JWKSURL})
	})
	js.Server = httptest.NewServer(mux)
	js.Issuer = js.URL
	js.JWKSURL = js.URL + "/jwks.json"
	t.Cleanup(js.Close)
	return js
}

// SetKeys replaces the published keys (for key-rotation tests).
func (js *JWKSServer) SetKeys(signers ...*Signer) {
	js.mu.Lock()
	defer js.mu.Unlock()
	js.keys = js.keys[:0:0]
	for _, s := range signers {
		if k := s.JWK(); k != nil {
			js.keys = append(js.keys, k)
		}
	}
}

// SetCacheControl sets the Cache-Control header of JWKS responses; empty
// sends none.
func (js *JWKSServer) SetCacheControl(v string) {
	js.mu.Lock()
	js.cacheControl = v
	js.mu.Unlock()
}

// SetFailing makes the JWKS endpoint answer 503 (true) or recover (false).
func (js *JWKSServer) SetFailing(failing bool) {
	js.mu.Lock()
	js.failing = failing
	js.mu.Unlock()
}

// Fetches returns how many JWKS requests the server has received.
func (js *JWKSServer) Fetches() int64 { return js.fetches.Load() }

// NewIdentity returns an [auth.Identity] for consumerID with the given
// scopes, as an authenticator would produce, for testing per-route
// policies without credentials.
func NewIdentity(consumerID string, scopes ...string) *auth.Identity {
	return &auth.Identity{ConsumerID: consumerID, Username: consumerID, Scopes: scopes, Method: "test"}
}

// WithIdentity returns a shallow copy of r whose context carries id, as
// auth.Require would pass it on.
func WithIdentity(r *http.Request, id *auth.Identity) *http.Request {
	return r.WithContext(auth.NewContext(r.Context(), id))
}
