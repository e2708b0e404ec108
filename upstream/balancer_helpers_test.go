package upstream

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
)

// lbEndpoints returns n endpoints 10.0.0.i:8080 with the given weights
// (missing weights are zero).
func lbEndpoints(n int, weights ...int) []Endpoint {
	eps := make([]Endpoint, n)
	for i := range eps {
		eps[i].Addr = fmt.Sprintf("10.0.%d.%d:8080", i/250, i%250+1)
		if i < len(weights) {
			eps[i].Weight = weights[i]
		}
	}
	return eps
}

// lbCount picks n times and counts the picks per address.
func lbCount(t testing.TB, b Balancer, r *http.Request, eps []Endpoint, n int) map[string]int {
	t.Helper()
	counts := make(map[string]int)
	for range n {
		ep, err := b.Pick(r, eps)
		if err != nil {
			t.Fatalf("Pick: %v", err)
		}
		counts[ep.Addr]++
	}
	return counts
}

func lbRequest() *http.Request { return httptest.NewRequest(http.MethodGet, "/", nil) }
