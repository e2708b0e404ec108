package ratelimit

import (
	"testing"

	"go.uber.org/goleak"
	"golang.org/x/time/rate"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func rateLimit(r float64) rate.Limit { return rate.Limit(r) }
