package upstream

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// TestBalancersDoNotAllocate guards the benchmarks' 0 allocs/op in plain
// test runs: Pick, and Begin/End for observers, once the state for the set
// exists.
func TestBalancersDoNotAllocate(t *testing.T) {
	keyed := httptest.NewRequest(http.MethodGet, "/", nil)
	keyed.Header.Set("X-Key", "user-1")
	keyed.Header.Set("Cookie", "a=b; sid=123")
	ipReq := withClientIP(httptest.NewRequest(http.MethodGet, "/", nil), "203.0.113.50")
	tests := []struct {
		name string
		bal  Balancer
		r    *http.Request
	}{
		{"RoundRobin", new(RoundRobin), nil},
		{"WeightedRoundRobin", new(WeightedRoundRobin), nil},
		{"Random", Random{}, nil},
		{"LeastRequest", new(LeastRequest), nil},
		{"PeakEWMA", new(PeakEWMA), nil},
		{"Maglev header", newKeyMaglev(0), keyed},
		{"Maglev cookie", NewMaglev(MaglevConfig{Key: HashByCookie("sid")}), keyed},
		{"Maglev client IP", NewMaglev(MaglevConfig{Key: HashByClientIP}), ipReq},
		{"Maglev no key", newKeyMaglev(0), lbRequest()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			eps := lbEndpoints(10, 1, 2, 3)
			retry := eps[1:]
			obs, _ := tt.bal.(Observer)
			step := func() {
				for _, set := range [][]Endpoint{eps, retry} {
					ep, err := tt.bal.Pick(tt.r, set)
					if err != nil {
						t.Fatal(err)
					}
					if obs != nil {
						obs.Begin(ep)
						obs.End(ep, time.Millisecond, nil)
					}
				}
			}
			for range 200 { // build state for both sets
				step()
			}
			assert.Zero(t, testing.AllocsPerRun(200, step))
		})
	}
}
