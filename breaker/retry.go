package breaker

import (
	"errors"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"time"
)

// retryPolicy is the resolved RetryConfig.
type retryPolicy struct {
	maxAttempts int
	base, max   time.Duration
	statuses    []int
}

func newRetryPolicy(c RetryConfig) retryPolicy {
	p := retryPolicy{maxAttempts: max(c.MaxAttempts, 1), base: c.BaseDelay, max: c.MaxDelay}
	if p.base <= 0 {
		p.base = DefaultRetryBaseDelay
	}
	if p.max <= 0 {
		p.max = DefaultRetryMaxDelay
	}
	if p.max < p.base {
		p.max = p.base
	}
	if c.Statuses == nil {
		p.statuses = []int{http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout}
	} else {
		p.statuses = append([]int(nil), c.Statuses...)
	}
	return p
}

// backoff returns the delay before retry number n (1 for the first retry):
// exponential with full jitter (AWS architecture blog, "Exponential Backoff
// and Jitter"), which spreads retries of many clients best.
func (p *retryPolicy) backoff(n int) time.Duration {
	d := p.base
	for i := 1; i < n && d < p.max; i++ {
		d *= 2
	}
	d = min(d, p.max)
	return time.Duration(rand.Int64N(int64(d) + 1))
}

func (p *retryPolicy) retryStatus(code int) bool {
	for _, s := range p.statuses {
		if s == code {
			return true
		}
	}
	return false
}

// idempotent reports whether a request may be sent twice (RFC 9110 §9.2.2,
// or an Idempotency-Key header).
func idempotent(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace,
		http.MethodPut, http.MethodDelete:
		return true
	}
	return r.Header.Get("Idempotency-Key") != ""
}

// replayable reports whether r's body can be sent again.
func replayable(r *http.Request) bool {
	return r.Body == nil || r.Body == http.NoBody || r.GetBody != nil
}

// notSent reports whether err means the request never left: a failed dial
// (the fast HTTP/1.1 client's dial errors wrap the *net.OpError too).
func notSent(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// budget is the retry budget: retries within a rolling window may not
// exceed ratio × requests in that window, or minPerWindow, whichever is
// larger (Linkerd's and Finagle's RetryBudget; Envoy's retry_budget bounds
// the same ratio over concurrent requests).
type budget struct {
	ratio        float64
	minPerWindow float64

	mu  sync.Mutex // protects win
	win window     // total: requests, marked: retries
}

func newBudget(c RetryConfig) *budget {
	bw := c.BudgetWindow
	if bw <= 0 {
		bw = DefaultWindow
	}
	bu := &budget{ratio: c.Budget, win: newWindow(bw)}
	if bu.ratio == 0 {
		bu.ratio = DefaultRetryBudget
	}
	if !c.NoMinRetries {
		rate := c.MinRetriesPerSecond
		if rate == 0 {
			rate = DefaultMinRetryRate
		}
		bu.minPerWindow = float64(rate) * bw.Seconds()
	}
	return bu
}

// request counts one request at now.
func (bu *budget) request(now int64) {
	bu.mu.Lock()
	bu.win.add(now, 1, 0)
	bu.mu.Unlock()
}

// tryRetry takes one retry from the budget at now, reporting whether the
// budget had one.
func (bu *budget) tryRetry(now int64) bool {
	bu.mu.Lock()
	defer bu.mu.Unlock()
	requests, retries := bu.win.sums(now)
	allowed := max(bu.ratio*float64(requests), bu.minPerWindow)
	if float64(retries+1) > allowed {
		return false
	}
	bu.win.add(now, 0, 1)
	return true
}
