package cache

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestIndexBounded(t *testing.T) {
	t.Parallel()
	now := time.Unix(1000, 0)
	ix := newIndex(2)
	assert.True(t, ix.add("k1", "http://h/a", []string{"t"}, now.Add(time.Minute), now))
	assert.True(t, ix.add("k2", "http://h/b", nil, now.Add(2*time.Second), now))
	assert.False(t, ix.add("k3", "http://h/c", nil, now.Add(time.Minute), now), "full")
	assert.True(t, ix.add("k1", "http://h/a2", nil, now.Add(time.Minute), now), "replacing an indexed key is fine when full")
	assert.Empty(t, ix.keysForTag("t"), "the replaced record's tags are gone")
	assert.Equal(t, []string{"k1"}, ix.keysForURL("http://h/a2"))
	later := now.Add(3 * time.Second)
	assert.True(t, ix.add("k3", "http://h/c", nil, later.Add(time.Minute), later), "expired k2 swept")
	assert.Empty(t, ix.keysForURL("http://h/b"))
	assert.ElementsMatch(t, []string{"k1", "k3"}, ix.keysForPrefix("http://h/"))
	ix.remove("k1")
	ix.remove("k3")
	assert.Equal(t, 0, ix.len())
	assert.Empty(t, ix.byURL)
	assert.Empty(t, ix.byTag)
}

func TestIndexFullStopsStoring(t *testing.T) {
	t.Parallel()
	o := &origin{h: resp("Cache-Control", "max-age=60")}
	c := New(Config{MaxIndexKeys: 2})
	h := c.Handler(o)
	for _, p := range []string{"/1", "/2", "/3", "/1", "/2", "/3"} {
		doGet(h, p, nil)
	}
	assert.Equal(t, int64(4), o.n.Load(), "/3 was not stored: an unindexed entry could not be purged")
}
