package ratelimit

import (
	"context"
	"errors"
	"math"
	"strconv"
	"time"

	"golang.org/x/time/rate"
)

// ErrUnavailable is returned (wrapped) by a [Limiter] that could not reach
// its backend and had no fallback; [Policy] then applies its
// [FailureMode].
var ErrUnavailable = errors.New("ratelimit: limiter backend unavailable")

// Limiter decides whether key may spend n units of its budget now. n is the
// request's cost (its weight); n == 0 only reports the current state.
//
// An error means the limiter could not decide (for example, its backend is
// unreachable and it has no fallback); the Decision is then the zero value.
// Implementations must be safe for simultaneous use by multiple goroutines.
type Limiter interface {
	Allow(ctx context.Context, key string, n int) (Decision, error)
}

// WindowLimiter is implemented by limiters that enforce several windows
// (for example per second, per minute and per day) in one all-or-nothing
// decision. AllowWindows appends one Decision per window to dst, in the
// order of the limiter's windows, and returns the extended slice; units are
// taken from every window or from none. [Policy] uses it to report each
// window in the response headers; Allow returns [Strictest] of them.
type WindowLimiter interface {
	Limiter
	AllowWindows(ctx context.Context, key string, n int, dst []Decision) ([]Decision, error)
}

// Decision is the outcome of one rate-limit check for one window.
type Decision struct {
	// Allowed reports whether the request may proceed. Denied requests
	// spend nothing.
	Allowed bool
	// Limit is the window's quota: units admitted per Window.
	Limit int64
	// Window is the length of the window Limit applies to.
	Window time.Duration
	// Remaining is the number of units the key may still spend right now
	// (after this request when it was allowed). Never negative.
	Remaining int64
	// Reset is how long until the window's budget is fully restored
	// (token bucket and GCRA) or the current window ends (sliding window).
	Reset time.Duration
	// RetryAfter is how long the client should wait before the same
	// request can be admitted; zero when Allowed.
	RetryAfter time.Duration
}

// Strictest returns the decision that binds among ds, one per window: the
// denial with the longest RetryAfter when any window denies, otherwise the
// window with the fewest Remaining units (the longest Reset on a tie). It
// returns the zero Decision when ds is empty.
func Strictest(ds []Decision) Decision {
	if len(ds) == 0 {
		return Decision{}
	}
	best := ds[0]
	for _, d := range ds[1:] {
		switch {
		case best.Allowed && !d.Allowed:
			best = d
		case !best.Allowed && !d.Allowed:
			if d.RetryAfter > best.RetryAfter {
				best = d
			}
		case best.Allowed && d.Allowed:
			if d.Remaining < best.Remaining || (d.Remaining == best.Remaining && d.Reset > best.Reset) {
				best = d
			}
		}
	}
	return best
}

// Limit is one window of a rate limit: Quota units per Window, at most
// Burst of them at once. It is a plain value; the zero Limit is invalid.
type Limit struct {
	// Quota is the number of units admitted per Window. Required (> 0).
	Quota int64
	// Window is the period Quota applies to. Required (> 0).
	Window time.Duration
	// Burst is the largest number of units a key may spend at once, that
	// is the capacity of its bucket; zero means Quota (the whole window's
	// quota may be spent at once, like a fixed window but refilled
	// smoothly).
	Burst int64
}

// PerSecond returns a Limit of n units per second.
func PerSecond(n int64) Limit { return Limit{Quota: n, Window: time.Second} }

// PerMinute returns a Limit of n units per minute.
func PerMinute(n int64) Limit { return Limit{Quota: n, Window: time.Minute} }

// PerHour returns a Limit of n units per hour.
func PerHour(n int64) Limit { return Limit{Quota: n, Window: time.Hour} }

// PerDay returns a Limit of n units per day (24 hours).
func PerDay(n int64) Limit { return Limit{Quota: n, Window: 24 * time.Hour} }

// FromRate converts an [golang.org/x/time/rate] limit and burst into a
// Limit. A rate of at least one event per second becomes round(r) units per
// second; a slower rate becomes one unit per round(1/r) seconds (fractional
// rates are rounded to whole units and seconds, as RateLimit headers need
// them). A burst below 1 means 1. It panics if r is not positive and
// finite.
func FromRate(r rate.Limit, burst int) Limit {
	if !(r > 0) || r == rate.Inf || math.IsInf(float64(r), 0) || math.IsNaN(float64(r)) {
		panic("ratelimit: FromRate: rate must be positive and finite")
	}
	if burst < 1 {
		burst = 1
	}
	if r >= 1 {
		return Limit{Quota: int64(math.Round(float64(r))), Window: time.Second, Burst: int64(burst)}
	}
	secs := math.Round(1 / float64(r))
	return Limit{Quota: 1, Window: time.Duration(secs) * time.Second, Burst: int64(burst)}
}

// Validate reports whether l is usable: Quota and Window positive, Burst
// not negative, and the emission interval Window/Quota at least one
// nanosecond.
func (l Limit) Validate() error {
	switch {
	case l.Quota <= 0:
		return errors.New("ratelimit: limit quota must be positive")
	case l.Window <= 0:
		return errors.New("ratelimit: limit window must be positive")
	case l.Burst < 0:
		return errors.New("ratelimit: limit burst must not be negative")
	case int64(l.Window)/l.Quota < 1:
		return errors.New("ratelimit: limit quota too large for its window")
	}
	return nil
}

// BurstOrQuota returns Burst, or Quota when Burst is zero.
func (l Limit) BurstOrQuota() int64 {
	if l.Burst > 0 {
		return l.Burst
	}
	return l.Quota
}

// Interval returns the emission interval Window/Quota: the time it takes
// to earn one unit back, rounded up to the nanosecond so that a limit never
// admits more than its quota.
func (l Limit) Interval() time.Duration {
	iv := int64(l.Window) / l.Quota
	if int64(l.Window)%l.Quota != 0 {
		iv++
	}
	return time.Duration(iv)
}

// String formats l as "100/1m0s" or "100/1m0s burst 10".
func (l Limit) String() string {
	s := strconv.FormatInt(l.Quota, 10) + "/" + l.Window.String()
	if l.Burst > 0 && l.Burst != l.Quota {
		s += " burst " + strconv.FormatInt(l.Burst, 10)
	}
	return s
}

// validateLimits panics (a setup-time programmer error) on an empty or
// invalid set of windows.
func validateLimits(who string, ls []Limit) {
	if len(ls) == 0 {
		panic("ratelimit: " + who + ": at least one Limit is required")
	}
	if len(ls) > MaxWindows {
		panic("ratelimit: " + who + ": too many windows (max " + strconv.Itoa(MaxWindows) + ")")
	}
	for _, l := range ls {
		if err := l.Validate(); err != nil {
			panic(err.Error() + " (" + who + ")")
		}
	}
}

// MaxWindows is the largest number of windows one limiter may enforce.
const MaxWindows = 8

// LimiterFunc adapts a function to the [Limiter] interface.
type LimiterFunc func(ctx context.Context, key string, n int) (Decision, error)

// Allow calls f(ctx, key, n).
func (f LimiterFunc) Allow(ctx context.Context, key string, n int) (Decision, error) {
	return f(ctx, key, n)
}
