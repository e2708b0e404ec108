package redislimit

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatewaykit/gateway/ratelimit"
)

// redisNow reads the Redis server's clock, the one decisions use.
func redisNow(t *testing.T, rdb *redis.Client) time.Time {
	t.Helper()
	now, err := rdb.Time(bg).Result()
	require.NoError(t, err)
	return now
}

// gatewayInstance is one stand-in gateway: its own Redis client, Limiter,
// Policy and HTTP server, sharing only the redis-server with the others.
type gatewayInstance struct {
	srv *httptest.Server
	lim *Limiter
}

func newInstance(t *testing.T, srv *redisServer, cfg Config, calls *callCounter) gatewayInstance {
	t.Helper()
	rdb := srv.client(t)
	if calls != nil {
		rdb.AddHook(calls)
	}
	cfg.Client = rdb
	// Generous: the machine running -race tests may be slow, and this
	// test is about counting, not latency.
	cfg.Timeout = testTimeout
	lim := New(cfg)
	p := ratelimit.New(ratelimit.Config{Name: "demo", Limiters: []ratelimit.Limiter{lim}, Key: ratelimit.Const("everyone"), Failure: ratelimit.FailClosed})
	mux := http.NewServeMux()
	mux.Handle("GET /demo", p.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("ok"))
	})))
	hs := httptest.NewServer(mux)
	t.Cleanup(hs.Close)
	return gatewayInstance{srv: hs, lim: lim}
}

// hammer sends total requests through the instances from workers
// concurrent clients, round robin, and counts the statuses.
func hammer(t *testing.T, instances []gatewayInstance, workers, total int) (ok, limited int64) {
	t.Helper()
	var okN, limitedN, other atomic.Int64
	var mu sync.Mutex
	var others []string
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
			defer client.CloseIdleConnections()
			for {
				i := next.Add(1)
				if i > int64(total) {
					return
				}
				inst := instances[(int(i)+w)%len(instances)]
				resp, err := client.Get(inst.srv.URL + "/demo")
				if err != nil {
					other.Add(1)
					mu.Lock()
					others = append(others, err.Error())
					mu.Unlock()
					continue
				}
				_ = resp.Body.Close()
				switch resp.StatusCode {
				case http.StatusOK:
					okN.Add(1)
				case http.StatusTooManyRequests:
					limitedN.Add(1)
				default:
					other.Add(1)
					mu.Lock()
					others = append(others, resp.Status)
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	require.Zero(t, other.Load(), "every request got 200 or 429: %v", others)
	return okN.Load(), limitedN.Load()
}

// TestExactAcrossInstances: two gateways sharing one real redis-server, a
// limit of N per minute, many concurrent clients through both: exactly N
// admitted (plus what the algorithm legitimately refills while the test
// runs, computed from the Redis clock and zero unless the run is slow).
func TestExactAcrossInstances(t *testing.T) {
	t.Parallel()
	const n = 100
	srv := startRedis(t)
	probe := srv.client(t)
	tests := []struct {
		name  string
		algo  Algorithm
		limit ratelimit.Limit
	}{
		{name: "gcra per minute", algo: GCRA, limit: ratelimit.PerMinute(n)},
		{name: "gcra per hour", algo: GCRA, limit: ratelimit.PerHour(n)},
		{name: "sliding window per minute", algo: SlidingWindow, limit: ratelimit.PerMinute(n)},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Config{Algorithm: tt.algo, Limits: []ratelimit.Limit{tt.limit}, Prefix: "exact" + strconv.Itoa(i) + ":"}
			insts := []gatewayInstance{newInstance(t, srv, cfg, nil), newInstance(t, srv, cfg, nil)}
			start := redisNow(t, probe)
			ok, limited := hammer(t, insts, 16, 4*n)
			elapsed := redisNow(t, probe).Sub(start)
			// Units the limit itself grants back during the run: GCRA
			// refills continuously; the sliding window only when the run
			// straddles a window boundary.
			refill := int64(elapsed * time.Duration(n) / tt.limit.Window)
			if tt.algo == SlidingWindow && start.Truncate(tt.limit.Window).Equal(redisNow(t, probe).Truncate(tt.limit.Window)) {
				refill = 0
			}
			t.Logf("%s: admitted %d, limited %d, run %v (refill allowance %d)", tt.name, ok, limited, elapsed, refill)
			assert.Equal(t, int64(4*n), ok+limited)
			assert.GreaterOrEqual(t, ok, int64(n), "the whole quota is usable")
			assert.LessOrEqual(t, ok, int64(n)+refill, "never more than the quota across instances")
			if tt.limit.Window == time.Hour {
				assert.Equal(t, int64(n), ok, "exactly N")
			}
		})
	}
}

// TestLeaseAccuracy measures high-rate mode: round trips fall by about the
// lease size, the shared limit still holds, and every unit of the quota is
// either admitted or still leased (stranded) at one instance.
func TestLeaseAccuracy(t *testing.T) {
	t.Parallel()
	const n = 1000
	const lease = 10
	srv := startRedis(t)
	var calls callCounter
	cfg := Config{Limits: []ratelimit.Limit{ratelimit.PerDay(n)}, Lease: lease, LeaseTTL: time.Hour, Prefix: "lease:"}
	insts := []gatewayInstance{newInstance(t, srv, cfg, &calls), newInstance(t, srv, cfg, &calls)}
	// Phase 1: traffic through both instances for half the quota; phase
	// 2: all traffic moves to the second instance (the first one's
	// leftover lease is stranded there until LeaseTTL).
	ok1, limited1 := hammer(t, insts, 16, n/2)
	ok2, limited2 := hammer(t, insts[1:], 16, 2*n)
	ok, limited := ok1+ok2, limited1+limited2
	var stranded int64
	for _, in := range insts {
		for i := range in.lim.leases.shards {
			s := &in.lim.leases.shards[i]
			s.mu.Lock()
			for _, e := range s.m {
				stranded += e.units
			}
			s.mu.Unlock()
		}
	}
	roundTrips := calls.n.Load()
	t.Logf("lease %d, 2 instances, 16 clients: admitted %d of %d (%.1f%%), stranded %d, limited %d, redis commands %d for %d requests",
		lease, ok, n, 100*float64(ok)/n, stranded, limited, roundTrips, n/2+2*n)
	assert.LessOrEqual(t, ok, int64(n), "leasing never over-admits")
	assert.Equal(t, int64(n), ok+stranded, "every unit is admitted or still leased")
	assert.LessOrEqual(t, stranded, int64(2*16*lease), "stranded units bounded by instances x concurrent fetches x lease")
	assert.Less(t, roundTrips, int64(n/2+2*n)/4, "leasing cuts round trips")
	assert.Equal(t, int64(n/2+2*n), ok+limited)
}
