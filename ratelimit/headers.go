package ratelimit

import (
	"net/http"
	"strconv"
	"time"
)

// HeaderStyle selects the rate-limit headers a [Policy] writes on every
// response it lets through and on its 429 answers.
type HeaderStyle int

const (
	// HeadersIETF writes the RateLimit-Policy and RateLimit fields of
	// draft-ietf-httpapi-ratelimit-headers (the -08 and later syntax,
	// current as of -11): one list item per window, named after the
	// policy, for example
	//
	//	RateLimit-Policy: "api";q=100;w=60
	//	RateLimit: "api";r=42;t=18
	//
	// q is the quota, w the window in seconds, r the remaining units and
	// t the seconds until the window's quota is fully restored. It is the
	// default.
	HeadersIETF HeaderStyle = iota
	// HeadersClassic writes X-RateLimit-Limit, X-RateLimit-Remaining and
	// X-RateLimit-Reset (seconds until reset, a delta as in the drafts'
	// ancestors and Kong, not an epoch time) for the binding window.
	HeadersClassic
	// HeadersBoth writes both sets.
	HeadersBoth
	// HeadersNone writes no rate-limit headers; 429 answers still carry
	// Retry-After.
	HeadersNone
)

// Header names written by a [Policy]. The Policy writes them in their
// canonical MIME form ([net/http.CanonicalHeaderKey]), which
// [net/http.Header.Get] finds under either spelling.
const (
	// HeaderPolicy is the IETF field listing the quota policies.
	HeaderPolicy = "RateLimit-Policy"
	// HeaderRateLimit is the IETF field with the remaining quota and reset.
	HeaderRateLimit = "RateLimit"
	// HeaderXRateLimitLimit is the classic quota of the binding window.
	HeaderXRateLimitLimit = "X-RateLimit-Limit"
	// HeaderXRateLimitRemain is the classic remaining units.
	HeaderXRateLimitRemain = "X-RateLimit-Remaining"
	// HeaderXRateLimitReset is the classic seconds until reset.
	HeaderXRateLimitReset = "X-RateLimit-Reset"
)

var (
	canonPolicy    = http.CanonicalHeaderKey(HeaderPolicy)
	canonRateLimit = http.CanonicalHeaderKey(HeaderRateLimit)
	canonXLimit    = http.CanonicalHeaderKey(HeaderXRateLimitLimit)
	canonXRemain   = http.CanonicalHeaderKey(HeaderXRateLimitRemain)
	canonXReset    = http.CanonicalHeaderKey(HeaderXRateLimitReset)
)

// ceilSeconds rounds d up to whole seconds (0 stays 0).
func ceilSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Second - 1) / time.Second)
}

// windowLabel names a window compactly: 1s, 1m, 1h, 1d, 90s, 500ms.
func windowLabel(w time.Duration) string {
	switch {
	case w%(24*time.Hour) == 0:
		return strconv.FormatInt(int64(w/(24*time.Hour)), 10) + "d"
	case w%time.Hour == 0:
		return strconv.FormatInt(int64(w/time.Hour), 10) + "h"
	case w%time.Minute == 0:
		return strconv.FormatInt(int64(w/time.Minute), 10) + "m"
	case w%time.Second == 0:
		return strconv.FormatInt(int64(w/time.Second), 10) + "s"
	}
	return strconv.FormatInt(int64(w/time.Millisecond), 10) + "ms"
}

// appendPolicyItem appends one RateLimit-Policy list item.
func appendPolicyItem(b []byte, name string, quota int64, window time.Duration) []byte {
	b = append(b, '"')
	b = append(b, name...)
	b = append(b, `";q=`...)
	b = strconv.AppendInt(b, quota, 10)
	b = append(b, ";w="...)
	return strconv.AppendInt(b, max(ceilSeconds(window), 1), 10)
}

// appendRateLimitItem appends one RateLimit list item.
func appendRateLimitItem(b []byte, name string, d Decision) []byte {
	b = append(b, '"')
	b = append(b, name...)
	b = append(b, `";r=`...)
	b = strconv.AppendInt(b, d.Remaining, 10)
	b = append(b, ";t="...)
	return strconv.AppendInt(b, ceilSeconds(d.Reset), 10)
}

// writeHeaders sets the configured rate-limit headers for the decisions
// ds (one per evaluated window) whose binding one is bind.
func (p *Policy) writeHeaders(h http.Header, ds []Decision, bind Decision) {
	if p.headers == HeadersNone || len(ds) == 0 {
		return
	}
	if p.headers == HeadersIETF || p.headers == HeadersBoth {
		var buf [256]byte
		if p.policyHeader != "" {
			h[canonPolicy] = []string{p.policyHeader}
		} else {
			b := buf[:0]
			for i, d := range ds {
				if i > 0 {
					b = append(b, ", "...)
				}
				b = appendPolicyItem(b, p.itemName(i, d.Window, len(ds)), d.Limit, d.Window)
			}
			h[canonPolicy] = []string{string(b)}
		}
		b := buf[:0]
		for i, d := range ds {
			if i > 0 {
				b = append(b, ", "...)
			}
			b = appendRateLimitItem(b, p.itemName(i, d.Window, len(ds)), d)
		}
		h[canonRateLimit] = []string{string(b)}
	}
	if p.headers == HeadersClassic || p.headers == HeadersBoth {
		h[canonXLimit] = []string{strconv.FormatInt(bind.Limit, 10)}
		h[canonXRemain] = []string{strconv.FormatInt(bind.Remaining, 10)}
		h[canonXReset] = []string{strconv.FormatInt(ceilSeconds(bind.Reset), 10)}
	}
}

// itemName is the list-item name of the i-th of n windows: the policy name
// alone for a single window, else the name suffixed with the window.
func (p *Policy) itemName(i int, w time.Duration, n int) string {
	if i < len(p.itemNames) {
		return p.itemNames[i]
	}
	if n == 1 {
		return p.name
	}
	return p.name + "-" + windowLabel(w)
}
