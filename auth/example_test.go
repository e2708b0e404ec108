package auth_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log"
	"math/big"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/crypto/bcrypt"

	"github.com/gatewaykit/gateway/auth"
)

// echo is a stand-in upstream that prints what reaches it.
var echo = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	id, _ := auth.FromContext(r.Context())
	fmt.Fprintf(w, "consumer=%s header=%s", id.ConsumerID, r.Header.Get("X-Consumer-ID"))
})

func show(h http.Handler, r *http.Request) {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	if c := rec.Header().Get("WWW-Authenticate"); c != "" {
		fmt.Println(rec.Code, c)
	} else {
		fmt.Println(rec.Code)
	}
	if rec.Code == http.StatusOK {
		fmt.Println(rec.Body.String())
	}
}

// A JWT authenticator with a static HS256 key, guarding a handler.
func ExampleNewJWT() {
	secret := []byte("0123456789abcdef0123456789abcdef") // at least 32 bytes for HS256
	j, err := auth.NewJWT(auth.JWTConfig{
		Issuer:   "https://id.example.com/",
		Audience: "api",
		Keys:     []auth.Key{{ID: "2026-01", Algorithm: "HS256", Key: secret}},
	})
	if err != nil {
		log.Fatal(err)
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"iss": "https://id.example.com/", "aud": "api", "sub": "user-42",
		"exp": time.Now().Add(time.Hour).Unix(), "scope": "orders:read",
	})
	tok.Header["kid"] = "2026-01"
	signed, _ := tok.SignedString(secret)

	h := auth.Require(j)(echo)
	r := httptest.NewRequest("GET", "/orders", nil)
	r.Header.Set("Authorization", "Bearer "+signed)
	show(h, r)
	show(h, httptest.NewRequest("GET", "/orders", nil))
	r.Header.Set("Authorization", "Bearer "+signed+"x")
	show(h, r)
	// Output:
	// 200
	// consumer=user-42 header=user-42
	// 401 Bearer realm="gateway"
	// 401 Bearer realm="gateway", error="invalid_token", error_description="invalid token"
}

// Keys fetched from an identity provider's JWKS endpoint (here an
// httptest server). Run keeps the set fresh in the background.
func ExampleNewJWT_jwks() {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pub, _ := key.PublicKey.Bytes()
	jwks, _ := json.Marshal(map[string]any{"keys": []any{map[string]any{
		"kty": "EC", "crv": "P-256", "kid": "k1", "alg": "ES256", "use": "sig",
		"x": base64.RawURLEncoding.EncodeToString(pub[1:33]),
		"y": base64.RawURLEncoding.EncodeToString(pub[33:]),
	}}})
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=3600")
		_, _ = w.Write(jwks)
	}))
	defer idp.Close()

	j, err := auth.NewJWT(auth.JWTConfig{Issuer: idp.URL, JWKSURL: idp.URL + "/jwks.json"})
	if err != nil {
		log.Fatal(err)
	}
	// In main: go j.Run(ctx) (or gw.Run); here the first request fetches.
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{"iss": idp.URL, "sub": "svc", "exp": time.Now().Add(time.Minute).Unix()})
	tok.Header["kid"] = "k1"
	signed, _ := tok.SignedString(key)
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Authorization", "Bearer "+signed)
	show(auth.Require(j)(echo), r)
	fmt.Println("fetches:", j.Fetches())
	// Output:
	// 200
	// consumer=svc header=svc
	// fetches: 1
}

// API keys with two keys for one consumer (rotation), one given only as
// its SHA-256 hash.
func ExampleNewAPIKeys() {
	keys, err := auth.NewAPIKeys(auth.APIKeyConfig{Keys: []auth.APIKey{
		{Key: "new-key", Consumer: auth.Consumer{ID: "acme"}},
		{Hash: auth.HashAPIKey("old-key"), Consumer: auth.Consumer{ID: "acme"}},
	}})
	if err != nil {
		log.Fatal(err)
	}
	h := auth.Require(keys)(echo)
	for _, k := range []string{"new-key", "old-key", "guess"} {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("X-API-Key", k)
		show(h, r)
	}
	// Output:
	// 200
	// consumer=acme header=acme
	// 200
	// consumer=acme header=acme
	// 401 APIKey realm="gateway", header="X-API-Key"
}

// Basic auth for an internal tool, with bcrypt hashes.
func ExampleNewBasic() {
	hash, _ := bcrypt.GenerateFromPassword([]byte("correct horse"), bcrypt.MinCost)
	b, err := auth.NewBasic(auth.BasicConfig{Realm: "admin", Users: []auth.BasicUser{{Username: "ops", PasswordHash: string(hash)}}})
	if err != nil {
		log.Fatal(err)
	}
	h := auth.Require(b)(echo)
	r := httptest.NewRequest("GET", "/", nil)
	r.SetBasicAuth("ops", "correct horse")
	show(h, r)
	r.SetBasicAuth("ops", "wrong")
	show(h, r)
	// Output:
	// 200
	// consumer=ops header=ops
	// 401 Basic realm="admin", charset="UTF-8"
}

// OAuth 2.0 token introspection against an authorization server.
func ExampleNewIntrospection() {
	as := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if id, secret, _ := r.BasicAuth(); id != "gateway" || secret != "s3cret" {
			http.Error(w, "", http.StatusUnauthorized)
			return
		}
		active := r.PostFormValue("token") == "opaque-123"
		_ = json.NewEncoder(w).Encode(map[string]any{"active": active, "sub": "client-9", "scope": "read"})
	}))
	defer as.Close()
	in, err := auth.NewIntrospection(auth.IntrospectionConfig{URL: as.URL, ClientID: "gateway", ClientSecret: "s3cret"})
	if err != nil {
		log.Fatal(err)
	}
	h := auth.Require(in)(echo)
	for _, tok := range []string{"opaque-123", "revoked"} {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Authorization", "Bearer "+tok)
		show(h, r)
	}
	// Output:
	// 200
	// consumer=client-9 header=client-9
	// 401 Bearer realm="gateway", error="invalid_token", error_description="invalid token"
}

// Forward auth: an external service decides; its denial reaches the client.
func ExampleNewForward() {
	svc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Cookie") == "session=ok" {
			w.Header().Set("X-Auth-User", "web-user")
			return
		}
		w.Header().Set("WWW-Authenticate", `Session realm="web"`)
		w.WriteHeader(http.StatusUnauthorized)
	}))
	defer svc.Close()
	f, err := auth.NewForward(auth.ForwardConfig{URL: svc.URL + "/verify"})
	if err != nil {
		log.Fatal(err)
	}
	h := auth.Require(f)(echo)
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Cookie", "session=ok")
	show(h, r)
	show(h, httptest.NewRequest("GET", "/", nil))
	// Output:
	// 200
	// consumer=web-user header=web-user
	// 401 Session realm="web"
}

// mTLS identity: the verified client certificate's CN maps to a consumer.
// (A real server fills r.TLS during the handshake; see tls.Config
// ClientAuth.)
func ExampleNewMTLS() {
	m, err := auth.NewMTLS(auth.MTLSConfig{Consumers: map[string]auth.Consumer{"billing": {ID: "svc-billing"}}})
	if err != nil {
		log.Fatal(err)
	}
	cert := &x509.Certificate{Subject: pkix.Name{CommonName: "billing"}, SerialNumber: big.NewInt(1)}
	r := httptest.NewRequest("GET", "/", nil)
	r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{cert}, VerifiedChains: [][]*x509.Certificate{{cert}}}
	show(auth.Require(m)(echo), r)
	r.TLS.VerifiedChains = nil // presented but not verified: refused
	show(auth.Require(m)(echo), r)
	// Output:
	// 200
	// consumer=svc-billing header=svc-billing
	// 401
}

// Per-route authorization after authentication: scopes, groups and
// claims.
func ExampleScopes() {
	keys, _ := auth.NewAPIKeys(auth.APIKeyConfig{Keys: []auth.APIKey{
		{Key: "k", Consumer: auth.Consumer{ID: "acme", Groups: []string{"partners"}, Scopes: []string{"users:read"}}},
	}})
	authn := auth.Require(keys)
	read := authn(auth.Scopes("users:read")(echo))
	write := authn(auth.Scopes("users:write")(echo))
	staff := authn(auth.ACL(auth.ACLConfig{Allow: []string{"staff"}})(echo))
	for _, h := range []http.Handler{read, write, staff} {
		r := httptest.NewRequest("PATCH", "/users/1", nil)
		r.Header.Set("X-API-Key", "k")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		fmt.Println(rec.Code)
	}
	// Output:
	// 200
	// 403
	// 403
}

// Several authenticators: the first whose credential is present decides;
// with none present, every challenge is sent. Identity headers from
// clients are replaced.
func ExampleNew() {
	keys, _ := auth.NewAPIKeys(auth.APIKeyConfig{Keys: []auth.APIKey{{Key: "k", Consumer: auth.Consumer{ID: "acme"}}}})
	j, _ := auth.NewJWT(auth.JWTConfig{Keys: []auth.Key{{Algorithm: "HS256", Key: make([]byte, 32)}}})
	g := auth.New(auth.Config{Authenticators: []auth.Authenticator{j, keys}, StripCredentials: true})
	h := g.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Printf("upstream sees X-Consumer-ID=%q X-API-Key=%q\n", r.Header.Get("X-Consumer-ID"), r.Header.Get("X-API-Key"))
	}))
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("X-API-Key", "k")
	r.Header.Set("X-Consumer-ID", "admin") // spoofing attempt
	h.ServeHTTP(httptest.NewRecorder(), r)

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	fmt.Println(rec.Code, rec.Header().Values("WWW-Authenticate"))
	// Output:
	// upstream sees X-Consumer-ID="acme" X-API-Key=""
	// 401 [Bearer realm="gateway" APIKey realm="gateway", header="X-API-Key"]
}

// Public routes still drop identity headers sent by clients.
func ExampleStripIdentity() {
	h := auth.StripIdentity(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Printf("%q\n", r.Header.Get("X-Consumer-ID"))
	}))
	r := httptest.NewRequest("GET", "/catalog", nil)
	r.Header.Set("X-Consumer-ID", "admin")
	h.ServeHTTP(httptest.NewRecorder(), r)
	// Output:
	// ""
}

// Claim matchers per route.
func ExampleMatch() {
	id := &auth.Identity{ConsumerID: "u", Claims: map[string]any{"tenant": "acme", "roles": []any{"editor"}}}
	h := auth.Match(auth.ClaimEquals("tenant", "acme"), auth.ClaimContains("roles", "editor"))(echo)
	r := httptest.NewRequest("GET", "/", nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r.WithContext(auth.NewContext(r.Context(), id)))
	fmt.Println(rec.Code)
	// Output:
	// 200
}
