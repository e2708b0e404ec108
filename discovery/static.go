package discovery

import (
	"context"
	"net"

	"github.com/gatewaykit/gateway/upstream"
)

// Set is a fixed set of endpoints, built by [Static]. It implements
// [upstream.Discovery] and [upstream.Snapshotter]. A Set is immutable and
// safe for simultaneous use by multiple goroutines.
type Set struct {
	eps []upstream.Endpoint
}

var (
	_ upstream.Discovery   = (*Set)(nil)
	_ upstream.Snapshotter = (*Set)(nil)
)

// Static returns the fixed set of endpoints at addrs, each "host:port" with
// weight 1, in the order given; duplicates are kept once. An empty list is
// valid: the Upstream answers 503 until it has endpoints.
//
// Static panics when an address is not host:port (a programmer error at
// setup).
func Static(addrs ...string) *Set {
	s := &Set{eps: make([]upstream.Endpoint, 0, len(addrs))}
	seen := make(map[string]bool, len(addrs))
	for _, a := range addrs {
		host, port, err := net.SplitHostPort(a)
		if err != nil || host == "" || port == "" {
			panic("discovery: invalid static address " + a + ": want host:port")
		}
		if seen[a] {
			continue
		}
		seen[a] = true
		s.eps = append(s.eps, upstream.Endpoint{Addr: a, Weight: 1})
	}
	return s
}

// Snapshot returns a copy of the endpoints.
func (s *Set) Snapshot() []upstream.Endpoint {
	return append([]upstream.Endpoint(nil), s.eps...)
}

// Watch sends the set once on the returned channel, which is closed when
// ctx ends. It starts no goroutine until ctx ends, and never fails; service
// is ignored.
func (s *Set) Watch(ctx context.Context, service string) (<-chan []upstream.Endpoint, error) {
	ch := make(chan []upstream.Endpoint, 1)
	ch <- s.Snapshot()
	context.AfterFunc(ctx, func() { close(ch) })
	return ch, nil
}
