package cache

import (
	"context"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMemoryStore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	small := &Entry{Status: 200, Header: http.Header{"A": {"b"}}, Body: []byte("hello")}
	tests := []struct {
		name string
		run  func(t *testing.T, m *Memory)
	}{
		{name: "get-missing-is-ErrMiss", run: func(t *testing.T, m *Memory) {
			_, err := m.Get(ctx, "nope")
			assert.ErrorIs(t, err, ErrMiss)
		}},
		{name: "set-get-delete", run: func(t *testing.T, m *Memory) {
			require.NoError(t, m.Set(ctx, "k", small, time.Minute))
			e, err := m.Get(ctx, "k")
			require.NoError(t, err)
			assert.Same(t, small, e)
			require.NoError(t, m.Delete(ctx, "k"))
			_, err = m.Get(ctx, "k")
			assert.ErrorIs(t, err, ErrMiss)
		}},
		{name: "per-object-cap", run: func(t *testing.T, m *Memory) {
			big := &Entry{Status: 200, Body: make([]byte, m.MaxEntryBytes())}
			assert.ErrorIs(t, m.Set(ctx, "big", big, time.Minute), ErrTooLarge)
		}},
		{name: "ttl-expiry", run: func(t *testing.T, m *Memory) {
			synctest.Test(t, func(t *testing.T) {
				mm := NewMemory(1 << 20)
				require.NoError(t, mm.Set(ctx, "k", small, time.Second))
				_, err := mm.Get(ctx, "k")
				require.NoError(t, err)
				time.Sleep(time.Second) // fake time
				_, err = mm.Get(ctx, "k")
				assert.ErrorIs(t, err, ErrMiss)
				assert.Equal(t, 0, mm.Len())
			})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.run(t, NewMemory(1<<20))
		})
	}
}

// TestMemoryCapUnderFlood floods the cache with distinct URLs: the store
// stays within its byte budget, the purge index shrinks with evictions,
// and W-TinyLFU keeps the hot entry.
func TestMemoryCapUnderFlood(t *testing.T) {
	t.Parallel()
	const budget = 1 << 20
	m := NewMemory(budget)
	o := &origin{h: func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Cache-Control", "max-age=600")
		w.Header().Set("Surrogate-Key", "flood")
		writeBody(w, strings.Repeat("x", 1024))
	}}
	c := New(Config{Store: m})
	h := c.Handler(o)
	for i := range 6000 {
		doGet(h, "/hot", nil)
		doGet(h, fmt.Sprintf("/u/%d", i), nil)
	}
	m.c.CleanUp()
	assert.LessOrEqual(t, m.Bytes(), int64(budget), "store within its byte budget")
	assert.Greater(t, c.Stats().Evicted, int64(4000), "the flood evicted entries")
	assert.Equal(t, m.Len(), c.ix.len(), "the purge index follows evictions")
	before := o.n.Load()
	doGet(h, "/hot", nil)
	assert.Equal(t, before, o.n.Load(), "the hot entry survived the flood")
	n, err := c.PurgeTag(context.Background(), "flood")
	require.NoError(t, err)
	assert.Equal(t, m.Len(), 0)
	assert.Positive(t, n)
	assert.Equal(t, 0, c.ix.len())
}

func TestPurge(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	o := &origin{h: func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Cache-Control", "max-age=600")
		w.Header().Set("Surrogate-Key", "all "+strings.Trim(r.URL.Path, "/"))
		w.Header().Set("Vary", "X-V")
		writeBody(w, "v"+itoa(n))
	}}
	tests := []struct {
		name      string
		purge     func(c *Cache) (int, error)
		wantKeys  int
		refetched []string
	}{
		{name: "purge/url-all-variants", purge: func(c *Cache) (int, error) {
			return c.PurgeURL(ctx, "http://EXAMPLE.com:80/a/1")
		}, wantKeys: 3, refetched: []string{"/a/1"}},
		{name: "purge/url-query-normalized", purge: func(c *Cache) (int, error) {
			return c.PurgeURL(ctx, "http://example.com/b?y=2&x=1")
		}, wantKeys: 2, refetched: []string{"/b?x=1&y=2"}},
		{name: "purge/prefix", purge: func(c *Cache) (int, error) {
			return c.PurgePrefix(ctx, "http://example.com/a/")
		}, wantKeys: 5, refetched: []string{"/a/1", "/a/2"}},
		{name: "purge/tag", purge: func(c *Cache) (int, error) {
			return c.PurgeTag(ctx, "a/2")
		}, wantKeys: 1, refetched: []string{"/a/2"}},
		{name: "purge/tag-all", purge: func(c *Cache) (int, error) {
			return c.PurgeTag(ctx, "all")
		}, wantKeys: 4, refetched: []string{"/a/1", "/a/2", "/b?x=1&y=2"}},
	}
	paths := []string{"/a/1", "/a/2", "/b?x=1&y=2"}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o := &origin{h: o.h}
			c := New(Config{Store: NewMemory(1 << 20)})
			h := c.Handler(o)
			for _, p := range paths {
				doGet(h, p, hdr("X-V", "1"))
			}
			doGet(h, "/a/1", hdr("X-V", "2")) // a second variant of /a/1
			require.Equal(t, int64(4), o.n.Load())
			n, err := tt.purge(c)
			require.NoError(t, err)
			assert.Equal(t, tt.wantKeys, n, "deleted keys")
			before := o.n.Load()
			for _, p := range paths {
				doGet(h, p, hdr("X-V", "1"))
			}
			assert.Equal(t, before+int64(len(tt.refetched)), o.n.Load(), "purged URLs go upstream again, others hit")
		})
	}
	_, err := New(Config{}).PurgeURL(ctx, "/relative")
	assert.Error(t, err)
}

func TestEntryEncoding(t *testing.T) {
	t.Parallel()
	e := &Entry{
		Status:       203,
		Header:       http.Header{"Content-Type": {"text/plain"}, "X-Multi": {"a", "b"}},
		Body:         []byte("body bytes"),
		RequestTime:  time.Unix(100, 5),
		ResponseTime: time.Unix(101, 7),
		URL:          "https://example.com/x?a=1",
		Tags:         []string{"t1", "t2"},
	}
	b, err := e.MarshalBinary()
	require.NoError(t, err)
	var got Entry
	require.NoError(t, got.UnmarshalBinary(b))
	assert.Equal(t, e.Status, got.Status)
	assert.Equal(t, e.Header, got.Header)
	assert.Equal(t, e.Body, got.Body)
	assert.True(t, e.RequestTime.Equal(got.RequestTime))
	assert.True(t, e.ResponseTime.Equal(got.ResponseTime))
	assert.Equal(t, e.URL, got.URL)
	assert.Equal(t, e.Tags, got.Tags)
	assert.Less(t, len(b), 100, "compact: no field names")

	for i := range len(b) {
		var x Entry
		assert.ErrorIs(t, x.UnmarshalBinary(b[:i]), ErrCorrupt, "truncated at %d", i)
	}
	var x Entry
	assert.ErrorIs(t, x.UnmarshalBinary(append(b, 0)), ErrCorrupt, "trailing byte")
	assert.ErrorIs(t, x.UnmarshalBinary([]byte{entryVersion, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}), ErrCorrupt)
}

func FuzzEntryUnmarshal(f *testing.F) {
	e := &Entry{Status: 200, Header: http.Header{"A": {"b"}}, Body: []byte("x"), Tags: []string{"t"}}
	b, _ := e.MarshalBinary()
	f.Add(b)
	f.Fuzz(func(t *testing.T, data []byte) {
		var x Entry
		if err := x.UnmarshalBinary(data); err != nil {
			return
		}
		again, err := x.MarshalBinary()
		require.NoError(t, err)
		var y Entry
		require.NoError(t, y.UnmarshalBinary(again))
	})
}

// TestMemoryDoesNotRetainCaches checks that Caches rebuilt over one
// long-lived Memory (a config reload each time) can be collected.
func TestMemoryDoesNotRetainCaches(t *testing.T) {
	t.Parallel()
	m := NewMemory(1 << 20)
	for range 10 {
		New(Config{Store: m})
	}
	runtime.GC()
	New(Config{Store: m})
	m.mu.Lock()
	defer m.mu.Unlock()
	assert.Less(t, len(m.subs), 10, "collected Caches are dropped")
}
