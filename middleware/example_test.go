package middleware_test

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"time"

	"github.com/gatewaykit/gateway/middleware"
)

// The recommended global chain around a router.
func Example() {
	logger := slog.New(slog.DiscardHandler)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /users/{id}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "user %s for %s, request %s\n", r.PathValue("id"),
			middleware.ClientIP(r), middleware.RequestIDFromContext(r.Context()))
	})

	var h http.Handler = mux
	h = middleware.BodyLimit(1 << 20)(h)
	h = middleware.AccessLog(logger)(h)
	h = middleware.NormalizePath(middleware.PathConfig{})(h)
	h = middleware.RealIP(middleware.RealIPConfig{
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
	})(h)
	h = middleware.RequestID(h)
	h = middleware.Recover(logger)(h)

	req := httptest.NewRequest(http.MethodGet, "/admin/../users/./42", nil)
	req.RemoteAddr = "10.1.2.3:5555" // a trusted load balancer
	req.Header.Set("X-Forwarded-For", "6.6.6.6, 198.51.100.7")
	req.Header.Set("X-Request-ID", "req-1")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	fmt.Print(rec.Body.String())
	// Output: user 42 for 198.51.100.7, request req-1
}

func ExampleRequestID() {
	h := middleware.RequestID(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, middleware.RequestIDFromContext(r.Context()))
	}))
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("X-Request-ID", "abc-123")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	fmt.Println("in handler:", rec.Body.String())
	fmt.Println("response:", rec.Header().Get("X-Request-ID"))

	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	fmt.Println("generated length:", len(rec.Header().Get("X-Request-ID")))
	// Output:
	// in handler: abc-123
	// response: abc-123
	// generated length: 26
}

func ExampleNormalizePath() {
	h := middleware.NormalizePath(middleware.PathConfig{})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, r.URL.EscapedPath())
	}))
	for _, target := range []string{"/a//b/./c/", "/public/%2e%2e/admin", "/caf%c3%a9", "/a%2Fb", "/../etc/passwd"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
		if rec.Code != http.StatusOK {
			fmt.Println(target, "->", rec.Code)
			continue
		}
		fmt.Println(target, "->", rec.Body.String())
	}
	// Output:
	// /a//b/./c/ -> /a/b/c/
	// /public/%2e%2e/admin -> /admin
	// /caf%c3%a9 -> /caf%C3%A9
	// /a%2Fb -> 400
	// /../etc/passwd -> 400
}

func ExampleRecover() {
	h := middleware.Recover(slog.New(slog.DiscardHandler))(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		panic("bug")
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	fmt.Println(rec.Code, rec.Header().Get("Content-Type"))
	// Output: 500 application/problem+json
}

func ExampleIPFilter() {
	h := middleware.IPFilter(middleware.IPFilterConfig{
		Allow: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
		Deny:  []netip.Prefix{netip.MustParsePrefix("10.66.0.0/16")},
	})(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	for _, addr := range []string{"10.1.1.1:1", "10.66.1.1:1", "192.0.2.1:1"} {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.RemoteAddr = addr
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		fmt.Println(addr, rec.Code)
	}
	// Output:
	// 10.1.1.1:1 200
	// 10.66.1.1:1 403
	// 192.0.2.1:1 403
}

func ExampleCORS() {
	h := middleware.CORS(middleware.CORSConfig{
		AllowedOrigins: []string{"https://*.example.com"},
		AllowedMethods: []string{"PUT"},
		AllowedHeaders: []string{"Content-Type"},
		MaxAge:         time.Hour,
	})(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	req := httptest.NewRequest(http.MethodOptions, "/items/1", nil)
	req.Header.Set("Origin", "https://app.example.com")
	req.Header.Set("Access-Control-Request-Method", "PUT")
	req.Header.Set("Access-Control-Request-Headers", "content-type")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	fmt.Println(rec.Code, rec.Header().Get("Access-Control-Allow-Origin"), rec.Header().Get("Access-Control-Max-Age"))
	// Output: 204 https://app.example.com 3600
}

func ExampleCompress() {
	h := middleware.Compress(middleware.CompressConfig{})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, "["+strings.Repeat(`{"id":1},`, 200)+"{}]")
	}))
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("Accept-Encoding", "gzip, br")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	fmt.Println(rec.Header().Get("Content-Encoding"), rec.Header().Get("Vary"))
	// Output: gzip Accept-Encoding
}

func ExampleHeaders() {
	h := middleware.Headers(middleware.HeaderRules{
		Request:  middleware.HeaderOps{Set: http.Header{"X-Env": {"prod"}}},
		Response: middleware.HeaderOps{Remove: []string{"Server"}, Set: http.Header{"X-Frame-Options": {"DENY"}}},
	})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Server", "upstream/1.2")
		fmt.Fprint(w, r.Header.Get("X-Env"))
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	fmt.Printf("%s server=%q frame=%s\n", rec.Body.String(), rec.Header().Get("Server"), rec.Header().Get("X-Frame-Options"))
	// Output: prod server="" frame=DENY
}

func ExampleTimeout() {
	h := middleware.Timeout(time.Millisecond)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done() // a slow upstream call that honours its context
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	fmt.Println(rec.Code)
	// Output: 504
}

func ExampleBodyLimit() {
	h := middleware.BodyLimit(8)(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/", strings.NewReader("far too long")))
	fmt.Println(rec.Code)
	// Output: 413
}
