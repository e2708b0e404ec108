package upstream

import (
	"math"
	"time"
)

// SlowStart ramps up the weight of an endpoint that enters rotation (added
// by discovery after the first set, healthy again, or back from an
// ejection) over Window, so that a cold instance is not flooded at once
// (Envoy's slow_start_config). The weight grows from MinWeightPercent of
// the endpoint's weight to all of it along (elapsed/Window)^(1/Aggression).
// It only matters to weight-aware balancers (WeightedRoundRobin, Random
// with weights, Maglev, ...); RoundRobin ignores weights.
//
// The zero value (Window zero) means no slow start.
type SlowStart struct {
	// Window is the length of the ramp. Zero means no slow start.
	Window time.Duration
	// Aggression shapes the ramp: 1 is linear, larger values rise faster
	// at first. Zero means 1.
	Aggression float64
	// MinWeightPercent is the share of its weight an endpoint starts with.
	// Zero means [DefaultSlowStartMinWeightPercent] (10).
	MinWeightPercent int
}

// slowScale multiplies every weight while some endpoint ramps, so that
// integer weights can express fractions of a weight.
const slowScale = 100

func (s SlowStart) withDefaults() SlowStart {
	if s.Aggression <= 0 {
		s.Aggression = 1
	}
	if s.MinWeightPercent <= 0 {
		s.MinWeightPercent = DefaultSlowStartMinWeightPercent
	}
	s.MinWeightPercent = min(s.MinWeightPercent, 100)
	return s
}

// step is how often the ramp is recomputed: twenty steps per window.
func (s *SlowStart) step() time.Duration {
	return max(s.Window/20, time.Millisecond)
}

// weight returns the scaled weight of an endpoint of weight w that entered
// rotation at since (zero: long ago), at now.
func (s *SlowStart) weight(w int, since, now time.Time) int {
	if w <= 0 {
		w = 1
	}
	full := w * slowScale
	if since.IsZero() {
		return full
	}
	elapsed := now.Sub(since)
	if elapsed >= s.Window {
		return full
	}
	f := math.Pow(float64(elapsed)/float64(s.Window), 1/s.Aggression)
	f = max(f, float64(s.MinWeightPercent)/100)
	return max(1, int(f*float64(full)))
}
