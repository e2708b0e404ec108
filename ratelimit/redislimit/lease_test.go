package redislimit

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/gatewaykit/gateway/ratelimit"
)

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
