package upstream

import (
	"math/rand/v2"
	"net/http"
)

// Random is a [Balancer] that picks an endpoint at random, in proportion to
// its weight (Weight zero or less counts as 1; weights above 1<<24 count as
// 1<<24).
//
// The zero Random is ready to use; it draws from math/rand/v2's per-thread
// generator, so it shares no state between goroutines and is safe for
// simultaneous use. Pick does not allocate; it costs O(1) when all weights
// are equal and O(len(eps)) otherwise.
type Random struct{}

// Pick returns a random endpoint of eps, weighted, or [ErrNoEndpoints] when
// eps is empty.
func (Random) Pick(_ *http.Request, eps []Endpoint) (Endpoint, error) {
	n := len(eps)
	switch n {
	case 0:
		return Endpoint{}, ErrNoEndpoints
	case 1:
		return eps[0], nil
	}
	w0 := weightOf(&eps[0])
	total, uniform := int64(0), true
	for i := range eps {
		w := weightOf(&eps[i])
		total += w
		uniform = uniform && w == w0
	}
	if uniform {
		return eps[rand.IntN(n)], nil
	}
	x := rand.Int64N(total)
	for i := range eps {
		if x -= weightOf(&eps[i]); x < 0 {
			return eps[i], nil
		}
	}
	return eps[n-1], nil // unreachable: x < total
}

var _ Balancer = Random{}
