package auth

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"
)

// testSigner holds a private key bound to one algorithm.
type testSigner struct {
	alg  string
	kid  string
	priv any
	pub  any
}

var (
	rsaOnce sync.Once
	rsaKey  *rsa.PrivateKey
)

// sharedRSA returns one 2048-bit key for the whole test binary (generation
// is slow).
func sharedRSA(t testing.TB) *rsa.PrivateKey {
	rsaOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		rsaKey = k
	})
	return rsaKey
}

func newSigner(t testing.TB, alg, kid string) *testSigner {
	t.Helper()
	s := &testSigner{alg: alg, kid: kid}
	switch alg[:2] {
	case "HS":
		b := make([]byte, 64)
		_, _ = rand.Read(b)
		s.priv, s.pub = b, b
	case "RS", "PS":
		k := sharedRSA(t)
		s.priv, s.pub = k, &k.PublicKey
	case "ES":
		k, err := ecdsa.GenerateKey(curveFor(alg), rand.Reader)
		require.NoError(t, err)
		s.priv, s.pub = k, &k.PublicKey
	case "Ed":
		pub, priv, err := ed25519.GenerateKey(rand.Reader)
		require.NoError(t, err)
		s.priv, s.pub = priv, pub
	}
	return s
}

func (s *testSigner) key() Key { return Key{ID: s.kid, Algorithm: s.alg, Key: s.pub} }

func (s *testSigner) sign(t testing.TB, claims jwt.MapClaims) string {
	t.Helper()
	return s.signHeader(t, nil, claims)
}

func (s *testSigner) signHeader(t testing.TB, extra map[string]any, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(algorithms[s.alg], claims)
	if s.kid != "" {
		tok.Header["kid"] = s.kid
	}
	for k, v := range extra {
		if v == nil {
			delete(tok.Header, k)
		} else {
			tok.Header[k] = v
		}
	}
	out, err := tok.SignedString(s.priv)
	require.NoError(t, err)
	return out
}

func (s *testSigner) jwk() map[string]any {
	m := map[string]any{"kid": s.kid, "alg": s.alg, "use": "sig"}
	enc := base64.RawURLEncoding.EncodeToString
	switch k := s.pub.(type) {
	case *rsa.PublicKey:
		m["kty"] = "RSA"
		m["n"] = enc(k.N.Bytes())
		m["e"] = enc(big.NewInt(int64(k.E)).Bytes())
	case *ecdsa.PublicKey:
		m["kty"] = "EC"
		m["crv"] = k.Curve.Params().Name
		b, _ := k.Bytes()
		size := (k.Curve.Params().BitSize + 7) / 8
		m["x"] = enc(b[1 : 1+size])
		m["y"] = enc(b[1+size:])
	case ed25519.PublicKey:
		m["kty"] = "OKP"
		m["crv"] = "Ed25519"
		m["x"] = enc(k)
	}
	return m
}

// jwksServer serves a JWKS and an OIDC discovery document, counting
// fetches.
type jwksServer struct {
	*httptest.Server
	mu sync.Mutex
	// protects keys and cacheControl
	keys         []map[string]any
	cacheControl string
	failing      atomic.Bool
	hang         chan struct{} // when non-nil, JWKS requests block until it is closed
	entered      chan struct{} // when non-nil, receives one value per JWKS request (buffered)
	jwksFetches  atomic.Int64
	discoFetches atomic.Int64
}

func newJWKSServer(t testing.TB, signers ...*testSigner) *jwksServer {
	t.Helper()
	js := &jwksServer{}
	for _, s := range signers {
		js.keys = append(js.keys, s.jwk())
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /jwks.json", func(w http.ResponseWriter, r *http.Request) {
		js.jwksFetches.Add(1)
		if js.entered != nil {
			js.entered <- struct{}{}
		}
		if js.hang != nil {
			select {
			case <-js.hang:
			case <-r.Context().Done():
				return
			}
		}
		if js.failing.Load() {
			http.Error(w, "down", http.StatusInternalServerError)
			return
		}
		js.mu.Lock()
		body, _ := json.Marshal(map[string]any{"keys": js.keys})
		cc := js.cacheControl
		js.mu.Unlock()
		if cc != "" {
			w.Header().Set("Cache-Control", cc)
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	})
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		js.discoFetches.Add(1)
		_ = json.NewEncoder(w).Encode(map[string]any{"issuer": js.URL, "jwks_uri": js.URL + "/jwks.json"})
	})
	js.Server = httptest.NewServer(mux)
	t.Cleanup(js.Close)
	return js
}

func (js *jwksServer) setKeys(signers ...*testSigner) {
	js.mu.Lock()
	defer js.mu.Unlock()
	js.keys = nil
	for _, s := range signers {
		js.keys = append(js.keys, s.jwk())
	}
}

// testClock is a settable clock.
type testClock struct{ ns atomic.Int64 }

func newTestClock(t time.Time) *testClock {
	c := &testClock{}
	c.ns.Store(t.UnixNano())
	return c
}

func (c *testClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *testClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

func bearer(tok string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/resource", nil)
	r.Header.Set("Authorization", "Bearer "+tok)
	return r
}

func b64json(v any) string {
	b, _ := json.Marshal(v)
	return base64.RawURLEncoding.EncodeToString(b)
}

// handlerTransport serves requests in memory with a handler (for
// testing/synctest bubbles, where real sockets cannot be waited on).
type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if err := r.Context().Err(); err != nil {
		return nil, err
	}
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, r)
	return rec.Result(), nil
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func jsonNum(s string) json.Number { return json.Number(s) }
