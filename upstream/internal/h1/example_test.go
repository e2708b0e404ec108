package h1_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
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

// A proxy tells the failures apart: a DialError means nothing was sent (try
// another endpoint, else 502); ErrResponseHeaderTimeout is an upstream
// timeout (504); a context error means the client went away.
func ExampleDialError() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there any more: connection refused

	c := h1.New(h1.Config{})
	req, err := http.NewRequest(http.MethodGet, "http://"+addr+"/", nil)
	if err != nil {
		panic(err)
	}
	_, err = c.RoundTrip(req)

	var de *h1.DialError
	fmt.Println("dial error:", errors.As(err, &de))
	fmt.Println("header timeout:", errors.Is(err, h1.ErrResponseHeaderTimeout))
	fmt.Println("client gone:", errors.Is(err, context.Canceled))
	// Output:
	// dial error: true
	// header timeout: false
	// client gone: false
}
