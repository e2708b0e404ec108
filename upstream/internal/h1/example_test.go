package h1_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/gatewaykit/gateway/upstream/internal/h1"
)

func Example() {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from %s", r.URL.Path)
	}))
	defer upstream.Close()

	c := h1.New(h1.Config{}) // zero values: documented defaults
	defer c.CloseIdleConnections()

	for range 2 {
		req, err := http.NewRequest(http.MethodGet, upstream.URL+"/users/7", nil)
		if err != nil {
			panic(err)
		}
		resp, err := c.RoundTrip(req)
		if err != nil {
			panic(err)
		}
		body, err := io.ReadAll(resp.Body) // EOF returns the connection to the pool
		resp.Body.Close()
		if err != nil {
			panic(err)
		}
		fmt.Println(resp.StatusCode, string(body))
	}
	for _, s := range c.Stats() {
		fmt.Printf("open=%d idle=%d\n", s.Open, s.Idle)
	}
	// Output:
	// 200 hello from /users/7
	// 200 hello from /users/7
	// open=1 idle=1
}
