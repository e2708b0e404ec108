package middleware

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCORSActual(t *testing.T) {
	t.Parallel()
	strict := CORSConfig{
		AllowedOrigins: []string{"https://app.example.com", "https://*.example.org"},
		ExposedHeaders: []string{"X-Total-Count"},
	}
	tests := []struct {
		name       string
		cfg        CORSConfig
		origin     []string
		wantACAO   string
		wantCreds  string
		wantExpose string
		wantVary   bool
	}{
		{name: "no origin still varies", cfg: strict, wantVary: true},
		{name: "exact allowed", cfg: strict, origin: []string{"https://app.example.com"}, wantACAO: "https://app.example.com", wantExpose: "X-Total-Count", wantVary: true},
		{name: "case-insensitive", cfg: strict, origin: []string{"HTTPS://APP.EXAMPLE.COM"}, wantACAO: "HTTPS://APP.EXAMPLE.COM", wantExpose: "X-Total-Count", wantVary: true},
		{name: "other scheme refused", cfg: strict, origin: []string{"http://app.example.com"}, wantVary: true},
		{name: "other port refused", cfg: strict, origin: []string{"https://app.example.com:8443"}, wantVary: true},
		{name: "suffix attack refused", cfg: strict, origin: []string{"https://app.example.com.evil.net"}, wantVary: true},
		{name: "wildcard subdomain", cfg: strict, origin: []string{"https://a.b.example.org"}, wantACAO: "https://a.b.example.org", wantExpose: "X-Total-Count", wantVary: true},
		{name: "wildcard not apex", cfg: strict, origin: []string{"https://example.org"}, wantVary: true},
		{name: "wildcard lookalike", cfg: strict, origin: []string{"https://evilexample.org"}, wantVary: true},
		{name: "wildcard bad label", cfg: strict, origin: []string{"https://a_b.example.org"}, wantVary: true},
		{name: "null refused", cfg: strict, origin: []string{"null"}, wantVary: true},
		{name: "two origin lines refused", cfg: strict, origin: []string{"https://app.example.com", "https://app.example.com"}, wantVary: true},
		{name: "any origin star", cfg: CORSConfig{AllowedOrigins: []string{"*"}}, origin: []string{"https://x.test"}, wantACAO: "*"},
		{name: "any origin with credentials echoes", cfg: CORSConfig{AllowedOrigins: []string{"*"}, AllowCredentials: true}, origin: []string{"https://x.test"}, wantACAO: "https://x.test", wantCreds: "true", wantVary: true},
		{name: "credentials exact", cfg: CORSConfig{AllowedOrigins: []string{"https://x.test"}, AllowCredentials: true}, origin: []string{"https://x.test"}, wantACAO: "https://x.test", wantCreds: "true", wantVary: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			called := false
			h := CORS(tt.cfg)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				called = true
				// An upstream that does CORS itself must not win.
				w.Header().Set("Access-Control-Allow-Origin", "https://upstream.test")
				w.WriteHeader(http.StatusOK)
			}))
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			for _, o := range tt.origin {
				req.Header.Add("Origin", o)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			assert.True(t, called, "actual requests always reach the handler")
			if len(tt.origin) > 0 || tt.wantACAO != "" {
				assert.Equal(t, tt.wantACAO, rec.Header().Get("Access-Control-Allow-Origin"))
			}
			assert.Equal(t, tt.wantCreds, rec.Header().Get("Access-Control-Allow-Credentials"))
			assert.Equal(t, tt.wantExpose, rec.Header().Get("Access-Control-Expose-Headers"))
			if tt.wantVary {
				assert.Contains(t, rec.Header().Values("Vary"), "Origin")
			} else {
				assert.NotContains(t, rec.Header().Values("Vary"), "Origin")
			}
		})
	}
}

func TestCORSPreflight(t *testing.T) {
	t.Parallel()
	cfg := CORSConfig{
		AllowedOrigins: []string{"https://app.example.com"},
		AllowedMethods: []string{"put", "PATCH", "DELETE"},
		AllowedHeaders: []string{"Content-Type", "Authorization", "X-Api-Key"},
		MaxAge:         10 * time.Minute,
	}
	tests := []struct {
		name       string
		cfg        CORSConfig
		origin     string
		method     string
		headers    string
		pna        bool
		wantStatus int
	}{
		{name: "allowed", cfg: cfg, origin: "https://app.example.com", method: "PATCH", headers: "content-type, x-api-key", wantStatus: 204},
		{name: "safelisted method", cfg: cfg, origin: "https://app.example.com", method: "POST", wantStatus: 204},
		{name: "put normalised from config", cfg: cfg, origin: "https://app.example.com", method: "PUT", wantStatus: 204},
		{name: "method case-sensitive", cfg: cfg, origin: "https://app.example.com", method: "patch", wantStatus: 403},
		{name: "method not allowed", cfg: cfg, origin: "https://app.example.com", method: "PURGE", wantStatus: 403},
		{name: "header not allowed", cfg: cfg, origin: "https://app.example.com", method: "GET", headers: "x-other", wantStatus: 403},
		{name: "origin not allowed", cfg: cfg, origin: "https://evil.test", method: "GET", wantStatus: 403},
		{name: "pna refused by default", cfg: cfg, origin: "https://app.example.com", method: "GET", pna: true, wantStatus: 403},
		{name: "pna allowed", cfg: CORSConfig{AllowedOrigins: []string{"*"}, AllowPrivateNetwork: true}, origin: "https://x.test", method: "GET", pna: true, wantStatus: 204},
		{name: "any header", cfg: CORSConfig{AllowedOrigins: []string{"*"}, AllowedHeaders: []string{"*"}}, origin: "https://x.test", method: "GET", headers: "x-anything", wantStatus: 204},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := CORS(tt.cfg)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				t.Error("preflight must not reach the handler")
			}))
			req := httptest.NewRequest(http.MethodOptions, "/x", nil)
			req.Header.Set("Origin", tt.origin)
			req.Header.Set("Access-Control-Request-Method", tt.method)
			if tt.headers != "" {
				req.Header.Set("Access-Control-Request-Headers", tt.headers)
			}
			if tt.pna {
				req.Header.Set("Access-Control-Request-Private-Network", "true")
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			require.Equal(t, tt.wantStatus, rec.Code, rec.Body.String())
			vary := rec.Header().Values("Vary")
			assert.Contains(t, vary, "Origin, Access-Control-Request-Method, Access-Control-Request-Headers")
			if tt.wantStatus == 403 {
				assert.Empty(t, rec.Header().Get("Access-Control-Allow-Origin"))
				assert.Equal(t, "application/problem+json", rec.Header().Get("Content-Type"))
				return
			}
			assert.NotEmpty(t, rec.Header().Get("Access-Control-Allow-Origin"))
			assert.Equal(t, tt.method, rec.Header().Get("Access-Control-Allow-Methods"))
			assert.Equal(t, tt.headers, rec.Header().Get("Access-Control-Allow-Headers"))
			assert.Empty(t, rec.Body.String())
			if tt.cfg.MaxAge > 0 {
				assert.Equal(t, "600", rec.Header().Get("Access-Control-Max-Age"))
			}
			if tt.pna {
				assert.Equal(t, "true", rec.Header().Get("Access-Control-Allow-Private-Network"))
			}
		})
	}
}

func TestCORSPlainOptionsReachesHandler(t *testing.T) {
	t.Parallel()
	called := false
	h := CORS(CORSConfig{AllowedOrigins: []string{"*"}})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		called = true
	}))
	req := httptest.NewRequest(http.MethodOptions, "/", nil)
	req.Header.Set("Origin", "https://x.test")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	assert.True(t, called, "OPTIONS without Access-Control-Request-Method is an actual request")
	assert.Equal(t, "*", rec.Header().Get("Access-Control-Allow-Origin"))
}

func TestCORSDisallowedStripsUpstreamHeaders(t *testing.T) {
	t.Parallel()
	h := CORS(CORSConfig{AllowedOrigins: []string{"https://good.test"}})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Access-Control-Allow-Origin", "*")
		w.Header().Set("Access-Control-Allow-Credentials", "true")
	}))
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("Origin", "https://evil.test")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	assert.Empty(t, rec.Header().Get("Access-Control-Allow-Origin"))
	assert.Empty(t, rec.Header().Get("Access-Control-Allow-Credentials"))
	assert.Equal(t, 200, rec.Code)
}

func TestCORSInvalidConfigPanics(t *testing.T) {
	t.Parallel()
	for _, o := range []string{"https://*", "*.example.com", "https://a.*.example.com", "example.com", "https://x.test/path"} {
		assert.Panics(t, func() { CORS(CORSConfig{AllowedOrigins: []string{o}}) }, o)
	}
}

func BenchmarkCORS(b *testing.B) {
	h := CORS(CORSConfig{
		AllowedOrigins: []string{"https://app.example.com", "https://*.example.org"},
		AllowedMethods: []string{"PUT"},
		AllowedHeaders: []string{"Content-Type"},
	})(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	for _, c := range []struct {
		name, method, origin string
		preflight            bool
	}{
		{"no-origin", http.MethodGet, "", false},
		{"actual-allowed", http.MethodGet, "https://a.example.org", false},
		{"preflight", http.MethodOptions, "https://app.example.com", true},
	} {
		b.Run(c.name, func(b *testing.B) {
			req := httptest.NewRequest(c.method, "/", nil)
			if c.origin != "" {
				req.Header.Set("Origin", c.origin)
			}
			if c.preflight {
				req.Header.Set("Access-Control-Request-Method", "PUT")
				req.Header.Set("Access-Control-Request-Headers", "content-type")
			}
			w := &discardWriter{h: make(http.Header, 8)}
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				h.ServeHTTP(w, req)
			}
		})
	}
}
