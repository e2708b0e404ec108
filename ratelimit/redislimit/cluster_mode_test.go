package redislimit

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatewaykit/gateway/ratelimit"
)

// TestRedisCluster runs the limiter through a *redis.ClusterClient against
// a real redis-server in cluster mode (one node owning all 16384 slots).
// Redis Cluster refuses a script whose keys hash to different slots
// (CROSSSLOT) even on one node, so this proves the hash tags keep all
// windows of a key together.
func TestRedisCluster(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv := startRedis(t, "--cluster-enabled", "yes", "--cluster-config-file", filepath.Join(dir, "nodes.conf"), "--dir", dir)
	admin := srv.client(t)
	require.NoError(t, admin.Do(bg, "CLUSTER", "ADDSLOTSRANGE", "0", "16383").Err())
	// Wait for the node to declare the cluster usable: a bounded loop of
	// round trips on the server's own state, not a timed sleep.
	ctx, cancel := context.WithTimeout(bg, 10*time.Second)
	defer cancel()
	for {
		info, err := admin.ClusterInfo(ctx).Result()
		require.NoError(t, err, "cluster did not become ready")
		if strings.Contains(info, "cluster_state:ok") {
			break
		}
	}

	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{srv.addr()}, ContextTimeoutEnabled: true, MaxRetries: 1})
	t.Cleanup(func() { _ = cc.Close() })
	for _, algo := range []Algorithm{GCRA, SlidingWindow} {
		l := New(Config{Client: cc, Algorithm: algo, Timeout: testTimeout, Limits: []ratelimit.Limit{ratelimit.PerSecond(100), ratelimit.PerMinute(3), ratelimit.PerDay(1000)}})
		for i := range 3 {
			d, err := l.Allow(bg, "GET /users/{id}|203.0.113.9", 1)
			require.NoError(t, err, "%v: multi-key script in cluster mode", algo)
			assert.True(t, d.Allowed, "%v: request %d", algo, i)
		}
		d, err := l.Allow(bg, "GET /users/{id}|203.0.113.9", 1)
		require.NoError(t, err)
		assert.False(t, d.Allowed, "%v: per-minute window binds", algo)
		assert.Equal(t, time.Minute, d.Window)

		// Windows of one key share a slot; different keys spread.
		keys := l.Keys("GET /users/{id}|203.0.113.9")
		slot0, err := admin.ClusterKeySlot(bg, keys[0]).Result()
		require.NoError(t, err)
		for _, k := range keys[1:] {
			slot, err := admin.ClusterKeySlot(bg, k).Result()
			require.NoError(t, err)
			assert.Equal(t, slot0, slot, "%s and %s", keys[0], k)
		}
		other, err := admin.ClusterKeySlot(bg, l.Keys("GET /users/{id}|203.0.113.10")[0]).Result()
		require.NoError(t, err)
		assert.NotEqual(t, slot0, other, "keys with braces of their own still spread over slots")
	}
}
