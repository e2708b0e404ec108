package gatewaytest_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/gatewaykit/gateway"
	"github.com/gatewaykit/gateway/gatewaytest"
)

// Do runs one request through a handler, such as a whole Gateway, without a
// network.
func ExampleDo() {
	gw := gateway.New(gateway.Config{})
	gw.Handle("GET /ping", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "pong")
	}), gateway.Public)

	resp := gatewaytest.Do(gw, httptest.NewRequest("GET", "/ping", nil))
	fmt.Println(resp.StatusCode, resp.Header.Get("X-Request-ID") != "")
	resp = gatewaytest.Do(gw, httptest.NewRequest("GET", "/nowhere", nil))
	fmt.Println(resp.StatusCode, resp.Header.Get("Content-Type"))
	// Output:
	// 200 true
	// 404 application/problem+json
}
