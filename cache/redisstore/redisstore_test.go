package redisstore

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/gatewaykit/gateway/cache"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// startRedis starts a real redis-server on a free loopback port, waits
// until it logs that it accepts connections, and kills it (by PID) at
// cleanup. It returns the address.
func startRedis(tb testing.TB, extra ...string) string {
	tb.Helper()
	if _, err := exec.LookPath("/usr/bin/redis-server"); err != nil {
		tb.Skip("redis-server not installed (apt-get install -y redis-server)")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(tb, err)
	port := l.Addr().(*net.TCPAddr).Port
	require.NoError(tb, l.Close())
	args := append([]string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", tb.TempDir()}, extra...)
	cmd := exec.Command("/usr/bin/redis-server", args...)
	out, err := cmd.StdoutPipe()
	require.NoError(tb, err)
	require.NoError(tb, cmd.Start())
	ready := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(out)
		signalled := false
		for sc.Scan() {
			if !signalled && strings.Contains(sc.Text(), "Ready to accept connections") {
				close(ready)
				signalled = true
			}
		}
	}()
	tb.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
		_ = cmd.Wait()
	})
	select {
	case <-ready:
	case <-done:
		tb.Fatal("redis-server exited before it was ready")
	case <-time.After(10 * time.Second):
		tb.Fatal("redis-server not ready within 10s")
	}
	return "127.0.0.1:" + strconv.Itoa(port)
}

func newClient(tb testing.TB, addr string) *redis.Client {
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	tb.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

func sampleEntry(body string) *cache.Entry {
	return &cache.Entry{
		Status:       200,
		Header:       http.Header{"Content-Type": {"text/plain"}, "Cache-Control": {"max-age=60"}},
		Body:         []byte(body),
		RequestTime:  time.Unix(1000, 0),
		ResponseTime: time.Unix(1001, 0),
		URL:          "http://example.com/a",
		Tags:         []string{"t1"},
	}
}

func TestStore(t *testing.T) {
	t.Parallel()
	addr := startRedis(t)
	rdb := newClient(t, addr)
	ctx := context.Background()
	tests := []struct {
		name string
		run  func(t *testing.T, s *Store)
	}{
		{name: "miss-is-ErrMiss", run: func(t *testing.T, s *Store) {
			_, err := s.Get(ctx, "absent")
			assert.ErrorIs(t, err, cache.ErrMiss)
		}},
		{name: "set-get-roundtrip-binary", run: func(t *testing.T, s *Store) {
			e := sampleEntry("hello")
			require.NoError(t, s.Set(ctx, "GET http://example.com/a", e, time.Minute))
			got, err := s.Get(ctx, "GET http://example.com/a")
			require.NoError(t, err)
			assert.Equal(t, e.Status, got.Status)
			assert.Equal(t, e.Header, got.Header)
			assert.Equal(t, e.Body, got.Body)
			assert.Equal(t, e.Tags, got.Tags)
			raw, err := rdb.Get(ctx, s.entryKey("GET http://example.com/a")).Bytes()
			require.NoError(t, err)
			assert.NotEqual(t, byte('{'), raw[0], "not JSON")
			assert.Less(t, len(raw), 120)
		}},
		{name: "ttl-set", run: func(t *testing.T, s *Store) {
			require.NoError(t, s.Set(ctx, "k", sampleEntry("x"), 1500*time.Millisecond))
			ttl, err := rdb.PTTL(ctx, s.entryKey("k")).Result()
			require.NoError(t, err)
			assert.Greater(t, ttl, time.Duration(0))
			assert.LessOrEqual(t, ttl, 1500*time.Millisecond)
			setTTL, err := rdb.TTL(ctx, s.tagKey("t1")).Result()
			require.NoError(t, err)
			assert.Equal(t, 2*time.Second, setTTL, "index set expires with its member, rounded up")
		}},
		{name: "size-cap", run: func(t *testing.T, s *Store) {
			big := sampleEntry(strings.Repeat("x", 3<<20))
			assert.ErrorIs(t, s.Set(ctx, "big", big, time.Minute), cache.ErrTooLarge)
			_, err := s.Get(ctx, "big")
			assert.ErrorIs(t, err, cache.ErrMiss)
		}},
		{name: "delete", run: func(t *testing.T, s *Store) {
			require.NoError(t, s.Set(ctx, "d", sampleEntry("x"), time.Minute))
			require.NoError(t, s.Delete(ctx, "d"))
			_, err := s.Get(ctx, "d")
			assert.ErrorIs(t, err, cache.ErrMiss)
			require.NoError(t, s.Delete(ctx, "d"), "deleting nothing is fine")
		}},
		{name: "corrupt-is-ErrCorrupt", run: func(t *testing.T, s *Store) {
			require.NoError(t, rdb.Set(ctx, s.entryKey("bad"), "{json}", time.Minute).Err())
			_, err := s.Get(ctx, "bad")
			assert.ErrorIs(t, err, cache.ErrCorrupt)
		}},
		{name: "purge-url-tag-prefix", run: func(t *testing.T, s *Store) {
			for i, u := range []string{"http://example.com/a/1", "http://example.com/a/2", "http://example.com/b*"} {
				e := sampleEntry("x")
				e.URL = u
				e.Tags = []string{"all", "n" + strconv.Itoa(i)}
				require.NoError(t, s.Set(ctx, "GET "+u, e, time.Minute))
			}
			n, err := s.PurgeTag(ctx, "n0")
			require.NoError(t, err)
			assert.Equal(t, 1, n)
			n, err = s.PurgePrefix(ctx, "http://example.com/a/")
			require.NoError(t, err)
			assert.Equal(t, 1, n, "/a/1 was already gone")
			n, err = s.PurgeURL(ctx, "http://example.com/b*")
			require.NoError(t, err)
			assert.Equal(t, 1, n)
			n, err = s.PurgeTag(ctx, "all")
			require.NoError(t, err)
			assert.Equal(t, 0, n)
		}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.run(t, New(Config{Client: rdb, Prefix: "test" + strconv.Itoa(i) + ":"}))
		})
	}
}

// TestSharedBetweenInstances runs two caches (two gateway instances) on
// one Redis: a response stored by one is a hit on the other, and a purge by
// tag on the second reaches the entry the first stored.
func TestSharedBetweenInstances(t *testing.T) {
	t.Parallel()
	rdb := newClient(t, startRedis(t))
	var n atomic.Int64
	origin := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Surrogate-Key", "product-7")
		w.Header().Set("Vary", "Accept-Language")
		_, _ = w.Write([]byte("body"))
	})
	a := cache.New(cache.Config{Store: New(Config{Client: rdb})})
	b := cache.New(cache.Config{Store: New(Config{Client: rdb})})
	get := func(c *cache.Cache) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, "http://example.com/p/7", nil)
		req.Header.Set("Accept-Language", "fr")
		c.Handler(origin).ServeHTTP(rec, req)
		return rec
	}
	assert.Contains(t, get(a).Header().Get("Cache-Status"), "stored")
	rec := get(b)
	assert.Contains(t, rec.Header().Get("Cache-Status"), "hit")
	assert.Equal(t, "body", rec.Body.String())
	assert.Equal(t, int64(1), n.Load())

	purged, err := b.PurgeTag(context.Background(), "product-7")
	require.NoError(t, err)
	assert.Equal(t, 1, purged)
	get(a)
	assert.Equal(t, int64(2), n.Load(), "purged on every instance")

	purged, err = a.PurgeURL(context.Background(), "http://EXAMPLE.com/p/7")
	require.NoError(t, err)
	assert.Equal(t, 2, purged, "the variant and the Vary record")

	// RFC 9111 §4.4: a POST through instance B invalidates what A stored.
	get(a)
	assert.Equal(t, int64(3), n.Load())
	assert.Contains(t, get(a).Header().Get("Cache-Status"), "hit")
	rec = httptest.NewRecorder()
	b.Handler(origin).ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "http://example.com/p/7", nil))
	assert.Equal(t, int64(4), n.Load())
	get(a)
	assert.Equal(t, int64(5), n.Load(), "invalidated in Redis for every instance")
}

// TestCluster runs the store on a real one-node Redis Cluster (all slots
// on one node) through ClusterClient.
func TestCluster(t *testing.T) {
	t.Parallel()
	addr := startRedis(t, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf")
	ctx := context.Background()
	admin := newClient(t, addr)
	require.NoError(t, admin.Do(ctx, "CLUSTER", "ADDSLOTSRANGE", "0", "16383").Err())
	ok := false
	for range 100000 { // bounded; each try is a round trip, not a sleep
		info, err := admin.ClusterInfo(ctx).Result()
		require.NoError(t, err)
		if strings.Contains(info, "cluster_state:ok") {
			ok = true
			break
		}
	}
	require.True(t, ok, "cluster state ok")
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{addr}})
	t.Cleanup(func() { _ = cc.Close() })
	s := New(Config{Client: cc})
	e := sampleEntry("clustered")
	require.NoError(t, s.Set(ctx, "GET http://example.com/a", e, time.Minute))
	got, err := s.Get(ctx, "GET http://example.com/a")
	require.NoError(t, err)
	assert.Equal(t, "clustered", string(got.Body))
	n, err := s.PurgePrefix(ctx, "http://example.com/")
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	_, err = s.Get(ctx, "GET http://example.com/a")
	assert.ErrorIs(t, err, cache.ErrMiss)
}

func BenchmarkStore(b *testing.B) {
	rdb := newClient(b, startRedis(b))
	s := New(Config{Client: rdb})
	ctx := context.Background()
	e := sampleEntry(strings.Repeat("x", 1024))
	require.NoError(b, s.Set(ctx, "bench", e, time.Hour))
	b.Run("Get-1KiB", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.Get(ctx, "bench"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Set-1KiB", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := s.Set(ctx, "bench", e, time.Hour); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Get-1KiB-parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := s.Get(ctx, "bench"); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
