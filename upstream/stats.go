package upstream

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"

	"github.com/gatewaykit/gateway/internal/problem"
)

// Stats is a snapshot of an Upstream's counters since New.
type Stats struct {
	// Requests counts the requests ServeHTTP received.
	Requests int64
	// Retries counts the extra attempts made.
	Retries int64
	// UpgradesActive is the number of upgraded (WebSocket) connections open
	// now; UpgradesTotal counts those ever established.
	UpgradesActive int64
	UpgradesTotal  int64
	// NoEndpoints counts requests answered 503 because the service had no
	// endpoint.
	NoEndpoints int64
	// Timeouts counts requests answered 504 (dial or response-header
	// timeout, deadline).
	Timeouts int64
	// Failures counts other requests answered with an error status (502 for
	// refused or reset connections, invalid upgrades, failing
	// ModifyResponse).
	Failures int64
	// ClientGone counts requests abandoned because the client went away
	// (499), before or during the response.
	ClientGone int64
	// Aborted counts responses cut off because the upstream failed after
	// the status was sent (the client connection was aborted).
	Aborted int64
}

type counters struct {
	requests       atomic.Int64
	retries        atomic.Int64
	upgradesActive atomic.Int64
	upgradesTotal  atomic.Int64
	noEndpoints    atomic.Int64
	timeouts       atomic.Int64
	failures       atomic.Int64
	clientGone     atomic.Int64
	aborted        atomic.Int64
}

func (c *counters) countError(status int, err error) {
	switch {
	case errors.Is(err, ErrNoEndpoints):
		c.noEndpoints.Add(1)
	case status == problem.StatusClientClosedRequest || errors.Is(err, context.Canceled):
		c.clientGone.Add(1)
	case status == http.StatusGatewayTimeout:
		c.timeouts.Add(1)
	default:
		c.failures.Add(1)
	}
}

// Stats returns the Upstream's counters. It is safe to call at any time;
// the fields are read one by one, not as one atomic snapshot.
func (u *Upstream) Stats() Stats {
	c := &u.stats
	return Stats{
		Requests:       c.requests.Load(),
		Retries:        c.retries.Load(),
		UpgradesActive: c.upgradesActive.Load(),
		UpgradesTotal:  c.upgradesTotal.Load(),
		NoEndpoints:    c.noEndpoints.Load(),
		Timeouts:       c.timeouts.Load(),
		Failures:       c.failures.Load(),
		ClientGone:     c.clientGone.Load(),
		Aborted:        c.aborted.Load(),
	}
}
