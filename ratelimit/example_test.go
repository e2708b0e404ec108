package ratelimit_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/gatewaykit/gateway/ratelimit"
)

// A demo route limited to three requests per minute per client: the
// fourth gets 429 with Retry-After and the RateLimit headers.
func Example() {
	demo := ratelimit.New(ratelimit.Config{
		Name:  "demo",
		Scope: ratelimit.ScopeRoute,
		Limiters: []ratelimit.Limiter{ratelimit.NewLocal(ratelimit.LocalConfig{
			Limits: []ratelimit.Limit{ratelimit.PerMinute(3)},
		})},
		Key:     ratelimit.ClientIP,
		Headers: ratelimit.HeadersIETF,
	})
	mux := http.NewServeMux()
	mux.Handle("GET /demo", demo.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "hello")
	})))

	for range 4 {
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, httptest.NewRequest("GET", "/demo", nil))
		fmt.Printf("%d %s %s retry-after=%q\n", w.Code, w.Header().Get("RateLimit-Policy"), w.Header().Get("RateLimit"), w.Header().Get("Retry-After"))
	}
	// Output:
	// 200 "demo";q=3;w=60 "demo";r=2;t=20 retry-after=""
	// 200 "demo";q=3;w=60 "demo";r=1;t=40 retry-after=""
	// 200 "demo";q=3;w=60 "demo";r=0;t=60 retry-after=""
	// 429 "demo";q=3;w=60 "demo";r=0;t=60 retry-after="20"
}

// Several windows at once, decided together: a request is admitted only if
// every window has room, and then takes a unit from each.
func ExampleLocal_AllowAt() {
	l := ratelimit.NewLocal(ratelimit.LocalConfig{
		Limits: []ratelimit.Limit{ratelimit.PerSecond(2), ratelimit.PerHour(3)},
	})
	t := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, at := range []time.Duration{0, 0, 0, time.Second, 2 * time.Second} {
		d := l.AllowAt("alice", 1, t.Add(at))
		fmt.Printf("t=%v allowed=%v binding=%v remaining=%d retry=%v\n", at, d.Allowed, d.Window, d.Remaining, d.RetryAfter.Round(time.Second))
	}
	// Output:
	// t=0s allowed=true binding=1s remaining=1 retry=0s
	// t=0s allowed=true binding=1s remaining=0 retry=0s
	// t=0s allowed=false binding=1s remaining=0 retry=1s
	// t=1s allowed=true binding=1h0m0s remaining=0 retry=0s
	// t=2s allowed=false binding=1h0m0s remaining=0 retry=19m58s
}

// Scope decides whether routes share a budget: the same policy value on two
// routes gives two budgets with ScopeRoute and one with ScopeService.
func ExamplePolicy_Key() {
	r := httptest.NewRequest("GET", "/users/7", nil)
	r.Pattern = "GET /users/{id}"
	r.RemoteAddr = "192.0.2.10:40000"
	perRoute := ratelimit.New(ratelimit.Config{Name: "clients", Rate: 10})
	perService := ratelimit.New(ratelimit.Config{Name: "users-svc", Scope: ratelimit.ScopeService, Rate: 100})
	fmt.Println(perRoute.Scope(), perRoute.Key(r))
	fmt.Println(perService.Scope(), perService.Key(r))
	// Output:
	// route clients|GET /users/{id}|192.0.2.10
	// service users-svc||192.0.2.10
}
