package redislimit

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/gatewaykit/gateway/ratelimit"
)

func TestBreakerTransitions(t *testing.T) {
	t.Parallel()
	var got []string
	b := &breaker{threshold: 3, cooldown: int64(5 * time.Second), onChange: func(from, to State) {
		got = append(got, from.String()+">"+to.String())
	}}
	sec := int64(time.Second)
	steps := []struct {
		name      string
		at        int64
		failure   bool
		success   bool
		wantAllow bool
		wantState State
	}{
		{name: "closed allows", at: 0, wantAllow: true, wantState: Closed},
		{name: "first failure", at: 0, failure: true, wantAllow: true, wantState: Closed},
		{name: "success resets the count", at: 0, success: true, wantAllow: true, wantState: Closed},
		{name: "failure 1", at: 1 * sec, failure: true, wantAllow: true, wantState: Closed},
		{name: "failure 2", at: 1 * sec, failure: true, wantAllow: true, wantState: Closed},
		{name: "failure 3 opens", at: 1 * sec, failure: true, wantAllow: false, wantState: Open},
		{name: "open within cooldown", at: 5 * sec, wantAllow: false, wantState: Open},
		{name: "probe after cooldown", at: 6 * sec, wantAllow: true, wantState: HalfOpen},
		{name: "failed probe reopens", at: 6 * sec, failure: true, wantAllow: false, wantState: Open},
		{name: "next probe", at: 11 * sec, wantAllow: true, wantState: HalfOpen},
		{name: "probe succeeds", at: 11 * sec, success: true, wantAllow: true, wantState: Closed},
	}
	for _, s := range steps {
		if s.failure {
			b.failure(s.at)
		}
		if s.success {
			b.success()
		}
		assert.Equal(t, s.wantAllow, b.allow(s.at), s.name)
		assert.Equal(t, s.wantState, State(b.state.Load()), s.name)
	}
	assert.Equal(t, []string{"closed>open", "open>half-open", "half-open>open", "open>half-open", "half-open>closed"}, got)
}

func TestBreakerSingleProbe(t *testing.T) {
	t.Parallel()
	b := &breaker{threshold: 1, cooldown: 10}
	b.failure(0)
	var probes atomic.Int64
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			if b.allow(100) {
				probes.Add(1)
			}
		})
	}
	wg.Wait()
	assert.Equal(t, int64(1), probes.Load(), "exactly one caller probes a recovering Redis")
}

func TestLeaseTable(t *testing.T) {
	t.Parallel()
	sec := int64(time.Second)
	lt := newLeaseTable(16)
	snap := []ratelimit.Decision{{Allowed: true, Limit: 100, Window: time.Minute, Remaining: 50, Reset: 30 * time.Second}}

	_, ok := lt.spend("k", 1, 0, nil)
	assert.False(t, ok, "no lease yet")
	lt.store("k", 3, 0, sec, snap)
	for i := range 3 {
		ds, ok := lt.spend("k", 1, sec/2, nil)
		assert.True(t, ok, "unit %d from the lease", i)
		assert.Equal(t, int64(50+2-i), ds[0].Remaining, "Redis's remaining plus what is still leased here")
		assert.Equal(t, 30*time.Second-time.Duration(sec/2), ds[0].Reset, "reset ages")
	}
	_, ok = lt.spend("k", 1, sec/2, nil)
	assert.False(t, ok, "lease spent")

	lt.store("k", 5, sec, 2*sec, snap)
	_, ok = lt.spend("k", 6, sec, nil)
	assert.False(t, ok, "a cost above the lease goes to Redis")
	_, ok = lt.spend("k", 1, 2*sec, nil)
	assert.False(t, ok, "expired lease")
	lt.store("k", 2, 3*sec, 4*sec, snap)
	ds, ok := lt.spend("k", 2, 3*sec, nil)
	assert.True(t, ok)
	assert.Equal(t, int64(50), ds[0].Remaining, "an expired lease's units were dropped, not carried over")

	denied := []ratelimit.Decision{{Limit: 100, Window: time.Minute, RetryAfter: 10 * time.Second, Reset: time.Minute}}
	lt.deny("k", 5*sec, denied)
	ds, ok = lt.spend("k", 1, 6*sec, nil)
	assert.True(t, ok, "a remembered denial answers locally")
	assert.False(t, ds[0].Allowed)
	assert.Equal(t, 9*time.Second, ds[0].RetryAfter)
	_, ok = lt.spend("k", 1, 15*sec, nil)
	assert.False(t, ok, "after RetryAfter, ask Redis again")

	for i := range 100 {
		lt.store(string(rune('a'+i%26))+string(rune('a'+i/26)), 1, 0, sec, snap)
	}
	assert.LessOrEqual(t, lt.len(), 16, "the table stays within MaxLeaseKeys")
}
