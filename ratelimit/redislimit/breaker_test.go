package redislimit

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
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
