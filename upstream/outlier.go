package upstream

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"time"
)

// OutlierDetection configures passive health checking from live traffic,
// as Envoy's outlier_detection does: an endpoint whose attempts fail
// Consecutive5xx times in a row (5xx responses or gateway errors), or
// ConsecutiveGatewayErrors times in a row (502, 503, 504, connection
// errors, timeouts), is ejected from the balancer for BaseEjectionTime ×
// the number of times it was ejected, at most MaxEjectionTime, and then
// returns (in slow start when configured). No more than MaxEjectionPercent
// of the endpoints are ejected at once, but one always can be.
//
// The zero value means no outlier detection; setting Consecutive5xx or
// ConsecutiveGatewayErrors enables it. A request the client cancelled
// counts as nothing.
type OutlierDetection struct {
	// Consecutive5xx ejects after this many 5xx or gateway errors in a
	// row. Zero means this rule is off.
	Consecutive5xx int
	// ConsecutiveGatewayErrors ejects after this many gateway errors in a
	// row. Zero means this rule is off.
	ConsecutiveGatewayErrors int
	// BaseEjectionTime is the first ejection's length. Zero means
	// [DefaultBaseEjectionTime] (30s).
	BaseEjectionTime time.Duration
	// MaxEjectionTime caps an ejection. Zero means [DefaultMaxEjectionTime]
	// (300s).
	MaxEjectionTime time.Duration
	// MaxEjectionPercent caps the share of the endpoints ejected at once;
	// at least one endpoint can always be ejected. Zero means
	// [DefaultMaxEjectionPercent] (10).
	MaxEjectionPercent int
}

func (od OutlierDetection) enabled() bool {
	return od.Consecutive5xx > 0 || od.ConsecutiveGatewayErrors > 0
}

func (od OutlierDetection) withDefaults() OutlierDetection {
	if od.BaseEjectionTime <= 0 {
		od.BaseEjectionTime = DefaultBaseEjectionTime
	}
	if od.MaxEjectionTime <= 0 {
		od.MaxEjectionTime = DefaultMaxEjectionTime
	}
	if od.MaxEjectionTime < od.BaseEjectionTime {
		od.MaxEjectionTime = od.BaseEjectionTime
	}
	if od.MaxEjectionPercent <= 0 {
		od.MaxEjectionPercent = DefaultMaxEjectionPercent
	}
	return od
}

// observe feeds the outcome of one attempt on addr to outlier detection:
// the response status, or the error (status 0). It runs on the request
// path: a success costs a map lookup and an atomic load, and nothing
// allocates unless the endpoint is ejected.
func (hs *healthState) observe(addr string, status int, err error) {
	od := &hs.cfg.outlier
	if !od.enabled() {
		return
	}
	st := hs.pub.Load().byAddr[addr]
	if st == nil {
		return
	}
	var gw, fiveXX bool
	switch {
	case err != nil:
		if errors.Is(err, context.Canceled) {
			return // the client went away: says nothing of the endpoint
		}
		var ne net.Error
		var sc interface{ HTTPStatus() int }
		if !(errors.As(err, &ne) && ne.Timeout()) && errors.As(err, &sc) {
			// A policy's own decision (an open circuit, a full bulkhead)
			// or a bad request: not the endpoint's failure. Timeouts, a
			// breaker's included, are.
			return
		}
		gw, fiveXX = true, true
	case status == http.StatusBadGateway || status == http.StatusServiceUnavailable || status == http.StatusGatewayTimeout:
		gw, fiveXX = true, true
	case status >= 500:
		fiveXX = true
	}
	if !fiveXX {
		if st.consecErr.Load() != 0 {
			st.consecErr.Store(0)
		}
		if st.consecGw.Load() != 0 {
			st.consecGw.Store(0)
		}
		return
	}
	n5 := st.consecErr.Add(1)
	var ngw int32
	if gw {
		ngw = st.consecGw.Add(1)
	} else if st.consecGw.Load() != 0 {
		st.consecGw.Store(0)
	}
	switch {
	case od.Consecutive5xx > 0 && n5 >= int32(od.Consecutive5xx):
		hs.eject(st, "consecutive 5xx: "+strconv.Itoa(int(n5)))
	case od.ConsecutiveGatewayErrors > 0 && ngw >= int32(od.ConsecutiveGatewayErrors):
		hs.eject(st, "consecutive gateway errors: "+strconv.Itoa(int(ngw)))
	}
}

// eject takes st out of rotation unless it is out already or the
// ejection cap is reached.
func (hs *healthState) eject(st *epState, reason string) {
	od := &hs.cfg.outlier
	now := hs.now()
	hs.mu.Lock()
	if hs.eps[st.ep.Addr] != st || (!st.ejectedUntil.IsZero() && now.Before(st.ejectedUntil)) {
		hs.mu.Unlock()
		return
	}
	ejected := 0
	for _, o := range hs.order {
		if !o.ejectedUntil.IsZero() && now.Before(o.ejectedUntil) {
			ejected++
		}
	}
	limit := max(1, len(hs.order)*od.MaxEjectionPercent/100)
	if ejected+1 > limit {
		hs.mu.Unlock()
		return
	}
	// The multiplier decays by one for each BaseEjectionTime the endpoint
	// stayed in since it last returned (Envoy decrements it per interval
	// of good behaviour).
	if !st.lastReturn.IsZero() {
		good := int(now.Sub(st.lastReturn) / od.BaseEjectionTime)
		st.timesEjected = max(0, st.timesEjected-good)
	}
	st.timesEjected++
	d := min(od.BaseEjectionTime*time.Duration(st.timesEjected), od.MaxEjectionTime)
	st.ejectedUntil = now.Add(d)
	st.consecErr.Store(0)
	st.consecGw.Store(0)
	evs := []HealthEvent{{Type: EventEjected, Endpoint: st.ep.Addr, Reason: reason, Until: st.ejectedUntil}}
	evs = append(evs, hs.rebuildLocked(now)...)
	hs.mu.Unlock()
	hs.emit(evs)
}
