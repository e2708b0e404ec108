// Package redislimit is the shared [ratelimit.Limiter] backend: a rate limit
// enforced exactly across any number of gateway instances through one Redis
// (standalone, Sentinel or Cluster, through [redis.UniversalClient]).
//
// # How a decision is made
//
// Each decision is one Lua script call (EVALSHA; go-redis reloads the
// script with EVAL when Redis answers NOSCRIPT, for example after a
// restart), so it is one round trip and atomic: every window of the
// policy (per second, minute, hour, day) is checked and, only if all have
// room, charged, in the same call. The script reads the time with TIME on
// the Redis server, so clock skew between gateway instances cannot matter.
// Keys carry TTLs (a key disappears once its state is back to "full") and a
// {hash tag} so that all windows of one key live in the same Cluster slot.
//
// Two algorithms are available: [GCRA] (the default; exact, one timestamp
// per key and window) and [SlidingWindow] (a weighted two-window counter;
// exact within each aligned window, an estimate across window edges, see
// its documentation for the bound).
//
// # When Redis is gone
//
// A small breaker wraps Redis: after Config.FailureThreshold consecutive
// failed calls (each bounded by Config.Timeout) it opens, and decisions skip
// Redis entirely, adding no latency, for Config.Cooldown; then one probe
// call goes through, and success closes the breaker. Meanwhile decisions
// come from Config.Fallback (typically a ratelimit.Local with the same
// limits: each instance enforces them alone, so the cluster admits up to
// instances × limit), or, without a fallback, an error wrapping
// [ratelimit.ErrUnavailable] lets the [ratelimit.Policy] fail open (the
// default) or closed. When Redis returns, the counters resume from what it
// holds (nothing after a restart without persistence); fallback decisions
// were not recorded in it.
//
// # High-rate mode
//
// With Config.Lease > 0 an instance takes up to Lease units per round trip
// and spends them locally for up to Config.LeaseTTL. The shared limit still
// holds exactly (units are taken from Redis before they are spent), at the
// cost of under-admission: units leased and not used in time are lost,
// at most instances × Lease per key per LeaseTTL. TestLeaseAccuracy
// measures it; use leasing for hot keys with limits much larger than
// Lease × instances.
//
// # Example
//
//	rdb := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: []string{"127.0.0.1:6379"}})
//	limits := []ratelimit.Limit{ratelimit.PerMinute(100), ratelimit.PerDay(10000)}
//	shared := redislimit.New(redislimit.Config{
//		Client:   rdb,
//		Limits:   limits,
//		Fallback: ratelimit.NewLocal(ratelimit.LocalConfig{Limits: limits}),
//	})
//	perConsumer := ratelimit.New(ratelimit.Config{
//		Name: "consumers", Limiters: []ratelimit.Limiter{shared}, Key: consumerKey,
//	})
package redislimit
