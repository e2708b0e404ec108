package auth

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/crypto/bcrypt"
)

var benchAlgs = []string{"HS256", "RS256", "PS256", "ES256", "ES384", "EdDSA"}

func benchJWT(b *testing.B, alg string, disableCache bool) (*JWT, *testSigner, string) {
	b.Helper()
	s := newSigner(b, alg, "bench")
	j, err := NewJWT(JWTConfig{Issuer: testIss, Audience: "api", Keys: []Key{s.key()}, Clock: newTestClock(t0).Now, DisableCache: disableCache})
	if err != nil {
		b.Fatal(err)
	}
	return j, s, s.sign(b, validClaims())
}

// BenchmarkJWTCachedHit measures a token check answered by the
// verified-token cache (the hot path of a busy client).
func BenchmarkJWTCachedHit(b *testing.B) {
	j, _, tok := benchJWT(b, "RS256", false)
	ctx := context.Background()
	if _, err := j.Verify(ctx, tok); err != nil {
		b.Fatal(err)
	}
	b.Run("Verify", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := j.Verify(ctx, tok); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Authenticate", func(b *testing.B) {
		r := bearer(tok)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := j.Authenticate(r); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := j.Verify(ctx, tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
}

// BenchmarkRequire measures the whole middleware with a cached JWT: token
// check, Identity in context (request shallow copy) and identity headers
// (header copy).
func BenchmarkRequire(b *testing.B) {
	j, _, tok := benchJWT(b, "ES256", false)
	next := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"IdentityHeaders", Config{Authenticators: []Authenticator{j}}},
		{"ContextOnly", Config{Authenticators: []Authenticator{j}, OmitIdentityHeaders: true}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			h := New(tc.cfg).Handler(next)
			r := bearer(tok)
			r.Header.Set("Accept", "application/json")
			r.Header.Set("User-Agent", "bench")
			w := httptest.NewRecorder()
			b.ReportAllocs()
			for b.Loop() {
				h.ServeHTTP(w, r)
			}
		})
	}
}

// BenchmarkJWTVerifyUncached compares a full verification per algorithm
// with golang-jwt's own jwt.Parse of the same token in the same run.
func BenchmarkJWTVerifyUncached(b *testing.B) {
	ctx := context.Background()
	for _, alg := range benchAlgs {
		j, s, tok := benchJWT(b, alg, true)
		b.Run(alg+"/gatewaykit", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := j.Verify(ctx, tok); err != nil {
					b.Fatal(err)
				}
			}
		})
		p := jwt.NewParser(jwt.WithValidMethods([]string{alg}), jwt.WithIssuer(testIss), jwt.WithAudience("api"),
			jwt.WithExpirationRequired(), jwt.WithIssuedAt(), jwt.WithTimeFunc(func() time.Time { return t0 }))
		keyfunc := func(*jwt.Token) (any, error) { return s.pub, nil }
		b.Run(alg+"/golang-jwt.Parse", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := p.Parse(tok, keyfunc); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(alg+"/cached", func(b *testing.B) {
			jc, _, _ := benchJWT(b, alg, false)
			jc.issuers[testIss].keys = j.issuers[testIss].keys
			if _, err := jc.Verify(ctx, tok); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := jc.Verify(ctx, tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkAPIKey measures a key lookup; known and unknown keys should
// cost the same.
func BenchmarkAPIKey(b *testing.B) {
	k, err := NewAPIKeys(APIKeyConfig{Keys: []APIKey{{Key: "0123456789abcdef0123456789abcdef", Consumer: Consumer{ID: "c"}}}})
	if err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct{ name, key string }{
		{"known", "0123456789abcdef0123456789abcdef"},
		{"unknown", "fedcba9876543210fedcba9876543210"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			r := httptest.NewRequest("GET", "/", nil)
			r.Header.Set("X-API-Key", tc.key)
			b.ReportAllocs()
			for b.Loop() {
				_, _ = k.Authenticate(r)
			}
		})
	}
}

// BenchmarkBasicCached measures Basic auth for a client whose credentials
// were checked recently (bcrypt skipped).
func BenchmarkBasicCached(b *testing.B) {
	hash, _ := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	bs, err := NewBasic(BasicConfig{Users: []BasicUser{{Username: "u", PasswordHash: string(hash)}}})
	if err != nil {
		b.Fatal(err)
	}
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("u:pw")))
	if _, err := bs.Authenticate(r); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := bs.Authenticate(r); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStripIdentity measures the public-route header scrub.
func BenchmarkStripIdentity(b *testing.B) {
	h := StripIdentity(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	for _, tc := range []struct {
		name  string
		spoof bool
	}{{"clean", false}, {"spoofed", true}} {
		b.Run(tc.name, func(b *testing.B) {
			r := httptest.NewRequest("GET", "/", nil)
			r.Header.Set("Accept", "*/*")
			r.Header.Set("User-Agent", "bench")
			if tc.spoof {
				r.Header.Set("X-Consumer-ID", "admin")
			}
			w := httptest.NewRecorder()
			b.ReportAllocs()
			for b.Loop() {
				h.ServeHTTP(w, r)
			}
		})
	}
}
