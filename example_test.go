package gateway_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/gatewaykit/gateway"
)

// A gateway is an http.Handler: compose it in code and test it with httptest.
func Example() {
	gw := gateway.New(gateway.Config{})
	gw.Handle("GET /hello/{name}", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(w, "hello, %s", r.PathValue("name"))
	}), gateway.Public)
	gw.Handle("GET /secret", http.NotFoundHandler()) // not Public: needs Config.Auth

	for _, path := range []string{"/hello/gopher", "/secret", "/missing"} {
		rec := httptest.NewRecorder()
		gw.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		body, _ := io.ReadAll(rec.Body)
		fmt.Println(rec.Code, rec.Header().Get("Content-Type"), len(body) > 0)
	}
	// Output:
	// 200 text/plain; charset=utf-8 true
	// 401 application/problem+json true
	// 404 application/problem+json true
}
