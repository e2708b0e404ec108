package upstream

import (
	"net/http"
	"sync/atomic"
)

// RoundRobin is a [Balancer] that picks the endpoints of the set in turn,
// ignoring their weights; use [WeightedRoundRobin] to honour Weight.
//
// The zero RoundRobin is ready to use. One shared counter advances on every
// pick, so when the set changes (discovery updates, a retry without the
// endpoint that just failed) the rotation carries on over the new set.
// RoundRobin is safe for simultaneous use by multiple goroutines and must not
// be copied after first use. Pick does not allocate.
type RoundRobin struct {
	n atomic.Uint64
}

// Pick returns the next endpoint of eps in rotation, or [ErrNoEndpoints] when
// eps is empty.
func (rr *RoundRobin) Pick(_ *http.Request, eps []Endpoint) (Endpoint, error) {
	switch len(eps) {
	case 0:
		return Endpoint{}, ErrNoEndpoints
	case 1:
		return eps[0], nil
	}
	i := rr.n.Add(1) - 1
	return eps[i%uint64(len(eps))], nil
}

var _ Balancer = (*RoundRobin)(nil)
