package auth

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func remoteJWT(t *testing.T, js *jwksServer, clock *testClock, mod func(*JWTConfig)) *JWT {
	t.Helper()
	cfg := JWTConfig{
		Issuer: js.URL, JWKSURL: js.URL + "/jwks.json", Clock: clock.Now, DisableCache: true,
		Logger: slog.New(slog.DiscardHandler),
		JWKS:   JWKSConfig{UnknownKeyInterval: time.Minute, MinRefresh: time.Minute, MaxRefresh: time.Hour},
	}
	if mod != nil {
		mod(&cfg)
	}
	j, err := NewJWT(cfg)
	require.NoError(t, err)
	return j
}

func claimsFor(iss string) jwt.MapClaims { return with(validClaims(), "iss", iss, "aud", nil) }

func TestJWKSFetchesOnceAndCaches(t *testing.T) {
	t.Parallel()
	s := newSigner(t, "RS256", "a")
	js := newJWKSServer(t, s)
	clock := newTestClock(t0)
	j := remoteJWT(t, js, clock, nil)
	for range 20 {
		_, err := j.Authenticate(bearer(s.sign(t, claimsFor(js.URL))))
		require.NoError(t, err)
	}
	assert.Equal(t, int64(1), js.jwksFetches.Load())
	assert.Equal(t, int64(1), j.Fetches())
}

func TestJWKSRandomKidsNoFetchStorm(t *testing.T) {
	t.Parallel()
	s := newSigner(t, "ES256", "good")
	js := newJWKSServer(t, s)
	clock := newTestClock(t0)
	j := remoteJWT(t, js, clock, nil)
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for i := range 200 {
		wg.Go(func() {
			bad := &testSigner{alg: "ES256", kid: fmt.Sprintf("random-%d", i), priv: s.priv}
			_, err := j.Authenticate(bearer(bad.sign(t, claimsFor(js.URL))))
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.ErrorIs(t, err, ErrUnknownKey)
	}
	assert.Equal(t, int64(1), js.jwksFetches.Load(), "200 random kids within the interval cause one fetch")

	clock.Advance(time.Minute)
	for i := range 50 {
		bad := &testSigner{alg: "ES256", kid: fmt.Sprintf("again-%d", i), priv: s.priv}
		_, err := j.Authenticate(bearer(bad.sign(t, claimsFor(js.URL))))
		require.ErrorIs(t, err, ErrUnknownKey)
	}
	assert.Equal(t, int64(2), js.jwksFetches.Load(), "one more fetch per interval")
}

func TestJWKSConcurrentRefreshCollapses(t *testing.T) {
	t.Parallel()
	s := newSigner(t, "ES256", "k")
	js := newJWKSServer(t, s)
	js.hang = make(chan struct{})
	js.entered = make(chan struct{}, 100)
	clock := newTestClock(t0)
	j := remoteJWT(t, js, clock, nil)
	tok := s.sign(t, claimsFor(js.URL))
	var wg sync.WaitGroup
	results := make(chan error, 50)
	for range 50 {
		wg.Go(func() {
			_, err := j.Authenticate(bearer(tok))
			results <- err
		})
	}
	// Every caller either joins the one flight or finds it started within
	// the interval and joins it; release the server once it was reached.
	<-js.entered
	close(js.hang)
	wg.Wait()
	close(results)
	for err := range results {
		require.NoError(t, err)
	}
	assert.Equal(t, int64(1), js.jwksFetches.Load())
}

func TestJWKSKeyRotation(t *testing.T) {
	t.Parallel()
	old := newSigner(t, "ES256", "old")
	next := newSigner(t, "ES256", "next")
	js := newJWKSServer(t, old)
	clock := newTestClock(t0)
	j := remoteJWT(t, js, clock, nil)
	_, err := j.Authenticate(bearer(old.sign(t, claimsFor(js.URL))))
	require.NoError(t, err)

	js.setKeys(old, next)
	// Within the unknown-kid interval the new key is not fetched yet.
	_, err = j.Authenticate(bearer(next.sign(t, claimsFor(js.URL))))
	require.ErrorIs(t, err, ErrUnknownKey)
	clock.Advance(time.Minute)
	_, err = j.Authenticate(bearer(next.sign(t, with(claimsFor(js.URL), "exp", t0.Add(2*time.Hour).Unix()))))
	require.NoError(t, err)
	assert.Equal(t, int64(2), js.jwksFetches.Load())
}

func TestJWKSKeepsLastGoodSetAndAnswers503(t *testing.T) {
	t.Parallel()
	s := newSigner(t, "EdDSA", "k")
	js := newJWKSServer(t, s)
	clock := newTestClock(t0)
	j := remoteJWT(t, js, clock, nil)
	tok := s.sign(t, with(claimsFor(js.URL), "exp", t0.Add(48*time.Hour).Unix()))
	_, err := j.Authenticate(bearer(tok))
	require.NoError(t, err)

	js.failing.Store(true)
	clock.Advance(2 * time.Hour) // past the set's lifetime (MaxRefresh 1h)
	_, err = j.Authenticate(bearer(tok))
	require.NoError(t, err, "a known key keeps working while the JWKS endpoint fails")

	unknown := &testSigner{alg: "EdDSA", kid: "rotated", priv: s.priv}
	clock.Advance(time.Minute)
	_, err = j.Authenticate(bearer(unknown.sign(t, with(claimsFor(js.URL), "exp", t0.Add(48*time.Hour).Unix()))))
	require.ErrorIs(t, err, ErrUnavailable, "unknown kid while the key source fails is the provider's fault")

	rec := httptest.NewRecorder()
	Require(j)(okHandler()).ServeHTTP(rec, bearer(unknown.sign(t, with(claimsFor(js.URL), "exp", t0.Add(48*time.Hour).Unix()))))
	assert.Equal(t, http.StatusServiceUnavailable, rec.Code)
	assert.Equal(t, "1", rec.Header().Get("Retry-After"))
}

func TestJWKSUnreachableOrSlow(t *testing.T) {
	t.Parallel()
	s := newSigner(t, "RS256", "k")
	tests := []struct {
		name  string
		setup func(js *jwksServer)
	}{
		{"unreachable", func(js *jwksServer) { js.Close() }},
		{"server error", func(js *jwksServer) { js.failing.Store(true) }},
		{"slow beyond FetchTimeout", func(js *jwksServer) { js.hang = make(chan struct{}) }},
		{"no usable keys", func(js *jwksServer) { js.setKeys() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			js := newJWKSServer(t, s)
			tt.setup(js)
			j := remoteJWT(t, js, newTestClock(t0), func(c *JWTConfig) { c.JWKS.FetchTimeout = 50 * time.Millisecond })
			_, err := j.Authenticate(bearer(s.sign(t, claimsFor(js.URL))))
			require.ErrorIs(t, err, ErrUnavailable)
			// Within the retry interval no second fetch is attempted.
			_, err = j.Authenticate(bearer(s.sign(t, claimsFor(js.URL))))
			require.ErrorIs(t, err, ErrUnavailable)
			if js.hang != nil {
				close(js.hang)
			}
		})
	}
}

func TestJWKSRequestContextEnds(t *testing.T) {
	t.Parallel()
	s := newSigner(t, "RS256", "k")
	js := newJWKSServer(t, s)
	js.hang = make(chan struct{})
	defer close(js.hang)
	j := remoteJWT(t, js, newTestClock(t0), nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := j.Verify(ctx, s.sign(t, claimsFor(js.URL)))
	require.ErrorIs(t, err, ErrUnavailable)
	require.ErrorIs(t, err, context.Canceled)
}

func TestJWKSDiscoveryAndMultipleIssuers(t *testing.T) {
	t.Parallel()
	a := newSigner(t, "RS256", "a")
	b := newSigner(t, "ES384", "b")
	jsA := newJWKSServer(t, a)
	jsB := newJWKSServer(t, b)
	clock := newTestClock(t0)
	j, err := NewJWT(JWTConfig{
		Clock: clock.Now,
		Issuers: []Issuer{
			{Issuer: jsA.URL, Discover: true},
			{Issuer: jsB.URL, JWKSURL: jsB.URL + "/jwks.json", Algorithms: []string{"ES384"}},
		},
	})
	require.NoError(t, err)
	_, err = j.Authenticate(bearer(a.sign(t, claimsFor(jsA.URL))))
	require.NoError(t, err)
	_, err = j.Authenticate(bearer(b.sign(t, claimsFor(jsB.URL))))
	require.NoError(t, err)
	assert.Equal(t, int64(1), jsA.discoFetches.Load())
	assert.Equal(t, int64(1), jsA.jwksFetches.Load())

	// A token claiming issuer B but signed with A's key (kid "a") fails:
	// each issuer only trusts its own key set.
	_, err = j.Authenticate(bearer(a.sign(t, claimsFor(jsB.URL))))
	require.Error(t, err)
	assert.NotErrorIs(t, err, ErrUnavailable)
}

func TestJWKSDiscoveryIssuerMismatch(t *testing.T) {
	t.Parallel()
	s := newSigner(t, "RS256", "k")
	js := newJWKSServer(t, s)
	j, err := NewJWT(JWTConfig{Issuer: js.URL + "/other", Discover: true, Clock: newTestClock(t0).Now})
	require.NoError(t, err)
	_, err = j.Authenticate(bearer(s.sign(t, claimsFor(js.URL+"/other"))))
	require.ErrorIs(t, err, ErrUnavailable)
	assert.Equal(t, int64(0), js.jwksFetches.Load(), "no JWKS fetched from an unverified discovery document")
}

func TestJWKSSkipsUnusableKeys(t *testing.T) {
	t.Parallel()
	good := newSigner(t, "ES256", "good")
	js := newJWKSServer(t, good)
	js.mu.Lock()
	js.keys = append(js.keys,
		map[string]any{"kty": "oct", "kid": "secret", "k": "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0", "alg": "HS256"},
		map[string]any{"kty": "EC", "kid": "offcurve", "crv": "P-256", "x": "AAAA", "y": "AAAA"},
		map[string]any{"kty": "RSA", "kid": "enc", "use": "enc", "n": "AQAB", "e": "AQAB"},
	)
	js.mu.Unlock()
	hs := &testSigner{alg: "HS256", kid: "secret", priv: []byte("secretsecretsecretsecret")}
	j := remoteJWT(t, js, newTestClock(t0), nil)
	_, err := j.Authenticate(bearer(good.sign(t, claimsFor(js.URL))))
	require.NoError(t, err)
	_, err = j.Authenticate(bearer(hs.sign(t, claimsFor(js.URL))))
	require.ErrorIs(t, err, ErrInvalidToken, "HS256 is never accepted from a JWKS")
}

func TestCacheLifetime(t *testing.T) {
	t.Parallel()
	now := t0
	tests := []struct {
		name   string
		header http.Header
		want   time.Duration
	}{
		{"max-age", http.Header{"Cache-Control": {"public, max-age=600"}}, 10 * time.Minute},
		{"max-age under the floor", http.Header{"Cache-Control": {"max-age=5"}}, time.Minute},
		{"max-age over the ceiling", http.Header{"Cache-Control": {"max-age=999999"}}, time.Hour},
		{"no-cache", http.Header{"Cache-Control": {"no-cache"}}, time.Minute},
		{"no-store with max-age", http.Header{"Cache-Control": {"max-age=600, no-store"}}, time.Minute},
		{"Expires", http.Header{"Expires": {now.Add(30 * time.Minute).Format(http.TimeFormat)}}, 30 * time.Minute},
		{"none", http.Header{}, 15 * time.Minute},
		{"garbage", http.Header{"Cache-Control": {"max-age=abc"}}, 15 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.want, cacheLifetime(tt.header, now, time.Minute, time.Hour))
		})
	}
}

func TestJWKSRunRefreshesBeforeExpiry(t *testing.T) {
	s := newSigner(t, "ES256", "k")
	synctest.Test(t, func(t *testing.T) {
		js := &jwksServer{}
		js.keys = []map[string]any{s.jwk()}
		js.cacheControl = "max-age=100"
		mux := http.NewServeMux()
		mux.HandleFunc("GET /jwks.json", func(w http.ResponseWriter, r *http.Request) {
			js.jwksFetches.Add(1)
			if js.failing.Load() {
				http.Error(w, "down", http.StatusBadGateway)
				return
			}
			w.Header().Set("Cache-Control", js.cacheControl)
			fmt.Fprintf(w, `{"keys":[%s]}`, mustJSON(s.jwk()))
		})
		j, err := NewJWT(JWTConfig{
			Issuer: "https://id.test", JWKSURL: "https://id.test/jwks.json",
			JWKS: JWKSConfig{HTTPClient: &http.Client{Transport: handlerTransport{mux}}, MinRefresh: 10 * time.Second},
		})
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- j.Run(ctx) }()
		synctest.Wait()
		assert.Equal(t, int64(1), js.jwksFetches.Load(), "Run fetches at once")

		time.Sleep(79 * time.Second)
		synctest.Wait()
		assert.Equal(t, int64(1), js.jwksFetches.Load(), "no refresh before 80% of max-age")
		time.Sleep(2 * time.Second)
		synctest.Wait()
		assert.Equal(t, int64(2), js.jwksFetches.Load(), "refreshed before the 100s lifetime ends")

		js.failing.Store(true)
		time.Sleep(80 * time.Second) // next refresh fails, then retries back off 1s, 2s, 4s, 8s, 10s...
		synctest.Wait()
		failedAt := js.jwksFetches.Load()
		time.Sleep(3 * time.Second)
		synctest.Wait()
		assert.Greater(t, js.jwksFetches.Load(), failedAt, "failures are retried")
		now := time.Now()
		_, err = j.Verify(context.Background(), s.sign(t, with(claimsFor("https://id.test"), "iat", now.Unix(), "exp", now.Add(time.Hour).Unix())))
		require.NoError(t, err, "last good set still serves")

		cancel()
		require.NoError(t, <-done)
	})
}

func okHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, ok := FromContext(r.Context())
		if ok {
			w.Header().Set("X-Seen-Consumer", id.ConsumerID)
		}
		for _, h := range []string{"X-Consumer-ID", "X-Consumer-Username", "X-Consumer-Groups", "X-Authenticated-Scope", "Authorization", "X-API-Key", "X-Consumer-Custom-ID", "X-Authenticated-Userid"} {
			if v := r.Header.Values(h); len(v) > 0 {
				w.Header()[http.CanonicalHeaderKey("Echo-"+h)] = v
			}
		}
		w.Header().Set("Echo-Query", r.URL.RawQuery)
		w.WriteHeader(http.StatusOK)
	})
}
