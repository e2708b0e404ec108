package upstream

import (
	"context"

	"net/http"
	"time"
)

// Endpoint is one network address that serves a service.
type Endpoint struct {
	// Addr is "host:port".
	Addr string
	// Weight is the endpoint's relative share for weighted balancers; zero
	// or less means 1.
	Weight int
	// Meta carries discovery labels (zone, version); balancers and hooks may
	// read it. It must not be modified once published.
	Meta map[string]string
}

// Balancer picks the endpoint for one request attempt from eps, which is
// never empty when Pick is called by the proxy. Implementations are safe for
// simultaneous use by multiple goroutines and must not retain or modify eps.
type Balancer interface {
	Pick(r *http.Request, eps []Endpoint) (Endpoint, error)
}

// BalancerFunc adapts a function to a [Balancer].
type BalancerFunc func(r *http.Request, eps []Endpoint) (Endpoint, error)

// Pick calls f(r, eps).
func (f BalancerFunc) Pick(r *http.Request, eps []Endpoint) (Endpoint, error) { return f(r, eps) }

// Observer is an optional [Balancer] capability: a balancer that implements it
// is told when the proxy starts an attempt on an endpoint and when that
// attempt ends (with its latency to response headers, or the error), which
// load- and latency-aware balancers need. Both calls must not allocate.
type Observer interface {
	Begin(ep Endpoint)
	End(ep Endpoint, d time.Duration, err error)
}

// Discovery is a source of endpoint sets. Implementations live in the
// discovery package.
type Discovery interface {
	// Watch sends the full endpoint set for service on every change until ctx
	// ends, then closes the channel.
	Watch(ctx context.Context, service string) (<-chan []Endpoint, error)
}

// Snapshotter is an optional [Discovery] capability for sources whose
// endpoints are known without I/O (a static list): [New] seeds the endpoint
// set from Snapshot, so such an Upstream serves before Run is called.
type Snapshotter interface {
	Snapshot() []Endpoint
}

// ErrNoEndpoints is returned (and answered as 503 with Retry-After) when a
// service has no endpoint to send a request to.
var ErrNoEndpoints error = noEndpointsError{}

type noEndpointsError struct{}

func (noEndpointsError) Error() string             { return "upstream: no endpoints" }
func (noEndpointsError) HTTPStatus() int           { return http.StatusServiceUnavailable }
func (noEndpointsError) RetryAfter() time.Duration { return time.Second }
