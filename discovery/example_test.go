package discovery_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/gatewaykit/gateway/discovery"
	"github.com/gatewaykit/gateway/upstream"
)

func ExampleStatic() {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello from the backend\n")
	}))
	defer backend.Close()

	u := upstream.New(upstream.Config{
		Name:      "hello",
		Discovery: discovery.Static(strings.TrimPrefix(backend.URL, "http://")),
	})
	defer u.CloseIdleConnections()

	rec := httptest.NewRecorder()
	u.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	fmt.Print(rec.Code, " ", rec.Body.String())
	fmt.Println(len(u.Endpoints()), "endpoint")
	// Output:
	// 200 hello from the backend
	// 1 endpoint
}

func ExampleSet_Watch() {
	s := discovery.Static("10.0.0.7:8080", "10.0.0.8:8080")
	ctx, cancel := context.WithCancel(context.Background())
	ch, _ := s.Watch(ctx, "catalog")
	for _, ep := range <-ch {
		fmt.Println(ep.Addr)
	}
	cancel()
	_, open := <-ch
	fmt.Println("open:", open)
	// Output:
	// 10.0.0.7:8080
	// 10.0.0.8:8080
	// open: false
}
