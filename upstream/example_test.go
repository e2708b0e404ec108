package upstream_test

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

func Example() {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s via %s\n", r.Method, r.URL.RequestURI(), r.Header.Get("X-Forwarded-Proto"))
	}))
	defer backend.Close()

	users := upstream.New(upstream.Config{
		Name:      "users",
		Discovery: discovery.Static(strings.TrimPrefix(backend.URL, "http://")),
	})
	defer users.CloseIdleConnections()

	gateway := httptest.NewServer(users)
	defer gateway.Close()

	res, err := http.Get(gateway.URL + "/users/42?fields=name;email")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	fmt.Print(res.StatusCode, " ", string(body))
	// Output:
	// 200 GET /users/42?fields=name;email via http
}

func ExampleConfig_Rewrite() {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s host=%s consumer=%s\n", r.URL.Path, r.Host, r.Header.Get("X-Consumer-ID"))
	}))
	defer backend.Close()

	u := upstream.New(upstream.Config{
		Discovery: discovery.Static(strings.TrimPrefix(backend.URL, "http://")),
		Host:      upstream.FixedHost("users.internal"),
		Rewrite: func(pr *upstream.ProxyRequest) {
			pr.Out.URL.Path = strings.TrimPrefix(pr.In.URL.Path, "/api")
			pr.Out.Header.Set("X-Consumer-ID", "alice")
		},
	})
	defer u.CloseIdleConnections()

	rec := httptest.NewRecorder()
	u.ServeHTTP(rec, httptest.NewRequest("GET", "/api/users/7", nil))
	fmt.Print(rec.Body.String())
	// Output:
	// /users/7 host=users.internal consumer=alice
}

func ExampleUpstream_Stats() {
	u := upstream.New(upstream.Config{Name: "empty", Discovery: discovery.Static()})
	rec := httptest.NewRecorder()
	u.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	fmt.Println(rec.Code, rec.Header().Get("Retry-After"))
	s := u.Stats()
	fmt.Println(s.Requests, s.NoEndpoints)
	// Output:
	// 503 1
	// 1 1
}

func ExampleUpstream_Run() {
	u := upstream.New(upstream.Config{
		Name:      "catalog",
		Discovery: discovery.Static("10.0.0.7:8080", "10.0.0.8:8080"),
	})
	// Static is a Snapshotter: the endpoints are there before Run.
	fmt.Println(len(u.Endpoints()), "endpoints")

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- u.Run(ctx) }() // follows discovery updates
	cancel()
	fmt.Println("Run returned:", <-done)
	// Output:
	// 2 endpoints
	// Run returned: <nil>
}
