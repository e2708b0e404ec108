package breaker

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// run feeds outcomes ('s' success, 'f' failure) through Allow and returns
// the state after each.
func run(t *testing.T, b *Breaker, outcomes string) []State {
	t.Helper()
	var states []State
	for _, o := range outcomes {
		done, err := b.Allow()
		if err != nil {
			states = append(states, b.State())
			continue
		}
		done(o == 'f')
		states = append(states, b.State())
	}
	return states
}

func TestCircuitThresholds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		cfg      Config
		outcomes string
		want     State
	}{
		{"consecutive failures open", Config{Failures: 3}, "sfff", Open},
		{"a success resets the run", Config{Failures: 3}, "ffsff", Closed},
		{"default is five", Config{}, "ffff", Closed},
		{"default five open", Config{}, "fffff", Open},
		{"rate below minimum volume", Config{Failures: 100, FailureRate: 0.5, MinRequests: 10}, "fsfsfsfsf", Closed},
		{"rate at minimum volume", Config{Failures: 100, FailureRate: 0.5, MinRequests: 10}, "fsfsfsfsfs", Open},
		{"rate under threshold", Config{Failures: 100, FailureRate: 0.5, MinRequests: 4}, "fsssfsssfsss", Closed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b, _ := newFake(tt.cfg)
			states := run(t, b, tt.outcomes)
			assert.Equal(t, tt.want, states[len(states)-1], "outcomes %q", tt.outcomes)
		})
	}
}

func TestCircuitRateWindowRolls(t *testing.T) {
	t.Parallel()
	b, advance := newFake(Config{Failures: 100, FailureRate: 0.5, MinRequests: 4, Window: 10 * time.Second})
	run(t, b, "fff")
	advance(11 * time.Second) // the three failures leave the window
	run(t, b, "sss")
	assert.Equal(t, Closed, b.State())
	run(t, b, "f")
	assert.Equal(t, Closed, b.State(), "1 failure in 4 is under 50%%")
	run(t, b, "ff")
	assert.Equal(t, Open, b.State(), "3 failures in 6")
}

func TestCircuitHalfOpen(t *testing.T) {
	t.Parallel()
	var ev events
	b, advance := newFake(Config{Failures: 2, Cooldown: 30 * time.Second, HalfOpenProbes: 2, SuccessesToClose: 3, OnStateChange: ev.add})
	run(t, b, "ff")
	require.Equal(t, Open, b.State())

	_, err := b.Allow()
	require.ErrorIs(t, err, ErrOpen)
	var ra interface{ RetryAfter() time.Duration }
	require.True(t, errors.As(err, &ra))
	assert.Equal(t, 30*time.Second, ra.RetryAfter())
	var sc interface{ HTTPStatus() int }
	require.True(t, errors.As(err, &sc))
	assert.Equal(t, http.StatusServiceUnavailable, sc.HTTPStatus())

	advance(29 * time.Second)
	_, err = b.Allow()
	require.ErrorIs(t, err, ErrOpen, "still cooling down")
	advance(time.Second)
	assert.Equal(t, HalfOpen, b.State(), "cooldown over")

	d1, err := b.Allow()
	require.NoError(t, err)
	d2, err := b.Allow()
	require.NoError(t, err)
	_, err = b.Allow()
	require.ErrorIs(t, err, ErrOpen, "both probes in flight")
	d1(false)
	d2(false)
	assert.Equal(t, HalfOpen, b.State(), "two of three successes")
	d3, err := b.Allow()
	require.NoError(t, err)
	d3(false)
	assert.Equal(t, Closed, b.State())

	// Open again; a failed probe reopens with a fresh cooldown.
	run(t, b, "ff")
	advance(30 * time.Second)
	d, err := b.Allow()
	require.NoError(t, err)
	d(true)
	assert.Equal(t, Open, b.State())
	assert.Equal(t, []string{
		"closed->open", "open->half-open", "half-open->closed",
		"closed->open", "open->half-open", "half-open->open",
	}, ev.list())
	assert.Equal(t, int64(3), b.Stats().Opened)
}

func TestCircuitIgnoredProbeFreesSlot(t *testing.T) {
	t.Parallel()
	b, advance := newFake(Config{Failures: 1, Cooldown: time.Second})
	run(t, b, "f")
	advance(time.Second)
	p, err := b.svc.allow(b.now())
	require.NoError(t, err)
	require.True(t, p.probe)
	_, err = b.svc.allow(b.now())
	require.ErrorIs(t, err, ErrOpen, "the only probe is taken")
	p.record(ignored, b.now()) // the client went away: says nothing
	assert.Equal(t, HalfOpen, b.State())
	p, err = b.svc.allow(b.now())
	require.NoError(t, err, "the slot was freed")
	p.record(success, b.now())
	assert.Equal(t, Closed, b.State())
}

func TestCircuitLateResultOfOldEra(t *testing.T) {
	t.Parallel()
	b, _ := newFake(Config{Failures: 2})
	late, err := b.Allow() // closed era
	require.NoError(t, err)
	run(t, b, "ff")
	require.Equal(t, Open, b.State())
	late(false)
	assert.Equal(t, Open, b.State(), "a success from before the opening does not close")
}

func TestAllowDoesNotAllocate(t *testing.T) {
	b := New(Config{})
	allocs := testing.AllocsPerRun(1000, func() {
		done, err := b.Allow()
		if err != nil {
			t.Fatal(err)
		}
		done(false)
	})
	assert.Zero(t, allocs)
}

func TestNewPanicsOnBadConfig(t *testing.T) {
	t.Parallel()
	assert.Panics(t, func() { New(Config{FailureRate: 1.5}) })
	assert.Panics(t, func() { New(Config{Failures: -1}) })
}

func TestEndpointCircuitsBounded(t *testing.T) {
	t.Parallel()
	b := New(Config{Endpoint: EndpointConfig{Failures: 1, MaxEndpoints: 2}})
	require.NotNil(t, b.endpoint("a:1"))
	require.NotNil(t, b.endpoint("b:1"))
	assert.Nil(t, b.endpoint("c:1"), "over the bound: no circuit")
	assert.Same(t, b.endpoint("a:1"), b.endpoint("a:1"))
	assert.Nil(t, New(Config{}).endpoint("a:1"), "off by default")
}

func TestHandlerBulkheadFull(t *testing.T) {
	t.Parallel()
	b := New(Config{Bulkhead: BulkheadConfig{MaxConcurrent: 1}})
	inside := make(chan struct{})
	release := make(chan struct{})
	h := b.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(inside)
		<-release
	}))
	done := make(chan struct{})
	go func() { defer close(done); serve(h, "GET", "/") }()
	<-inside
	rec := serve(h, "GET", "/")
	close(release)
	<-done
	assert.Equal(t, http.StatusServiceUnavailable, rec.Code)
	assert.Equal(t, "1", rec.Header().Get("Retry-After"))
	assert.Equal(t, int64(1), b.Stats().BulkheadFull)
}
