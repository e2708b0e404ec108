package upstream_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/gatewaykit/gateway/upstream"
)

func ExampleRoundRobin() {
	var rr upstream.RoundRobin // the zero value is ready to use
	eps := []upstream.Endpoint{{Addr: "10.0.0.1:8080"}, {Addr: "10.0.0.2:8080"}, {Addr: "10.0.0.3:8080"}}
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	for range 4 {
		ep, err := rr.Pick(r, eps)
		if err != nil {
			panic(err)
		}
		fmt.Println(ep.Addr)
	}
	// Output:
	// 10.0.0.1:8080
	// 10.0.0.2:8080
	// 10.0.0.3:8080
	// 10.0.0.1:8080
}

func ExampleWeightedRoundRobin() {
	var w upstream.WeightedRoundRobin
	eps := []upstream.Endpoint{{Addr: "a:80", Weight: 5}, {Addr: "b:80", Weight: 1}, {Addr: "c:80", Weight: 1}}
	for range 7 {
		ep, _ := w.Pick(nil, eps)
		fmt.Print(ep.Addr[:1], " ")
	}
	fmt.Println()
	// Output: a a b a c a a
}

func ExampleNewMaglev() {
	// Requests of one user go to one endpoint, on every gateway instance.
	m := upstream.NewMaglev(upstream.MaglevConfig{Key: upstream.HashByHeader("X-User-ID")})
	eps := []upstream.Endpoint{
		{Addr: "10.0.0.1:8080"}, {Addr: "10.0.0.2:8080"}, {Addr: "10.0.0.3:8080"}, {Addr: "10.0.0.4:8080"},
	}
	pick := func(user string, eps []upstream.Endpoint) string {
		r := httptest.NewRequest(http.MethodGet, "/cart", nil)
		r.Header.Set("X-User-ID", user)
		ep, err := m.Pick(r, eps)
		if err != nil {
			panic(err)
		}
		return ep.Addr
	}
	for _, user := range []string{"alice", "bob", "carol", "alice"} {
		fmt.Println(user, "->", pick(user, eps))
	}
	// Without 10.0.0.1 (a retry, or it is unhealthy), only its users move.
	for _, user := range []string{"alice", "bob", "carol"} {
		fmt.Println(user, "->", pick(user, eps[1:]), "(without 10.0.0.1)")
	}
	// Output:
	// alice -> 10.0.0.4:8080
	// bob -> 10.0.0.3:8080
	// carol -> 10.0.0.1:8080
	// alice -> 10.0.0.4:8080
	// alice -> 10.0.0.4:8080 (without 10.0.0.1)
	// bob -> 10.0.0.3:8080 (without 10.0.0.1)
	// carol -> 10.0.0.2:8080 (without 10.0.0.1)
}
