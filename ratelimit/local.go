package ratelimit

import (
	"context"
	"hash/maphash"
	"math"
	"time"

	"golang.org/x/time/rate"
)

// Algorithm selects how a [Local] limiter refills a key's budget.
type Algorithm int

const (
	// GCRA is the generic cell rate algorithm: a token bucket kept as one
	// timestamp per key and window (the theoretical arrival time), exact
	// to the nanosecond, 8 bytes of state per window. It is the default.
	GCRA Algorithm = iota
	// TokenBucket uses one [golang.org/x/time/rate.Limiter] per key and
	// window. It admits the same traffic as GCRA (the two are equivalent
	// up to float rounding) but keeps about 100 bytes per key and window.
	TokenBucket
)

// String returns "gcra" or "token-bucket".
func (a Algorithm) String() string {
	switch a {
	case GCRA:
		return "gcra"
	case TokenBucket:
		return "token-bucket"
	}
	return "unknown"
}

// Defaults of [LocalConfig].
const (
	// DefaultMaxKeys is the key cap of a [Local] limiter whose
	// LocalConfig.MaxKeys is zero.
	DefaultMaxKeys = 1 << 20
	// DefaultMaxBytes is the memory cap of a [Local] limiter whose
	// LocalConfig.MaxBytes is zero.
	DefaultMaxBytes = 64 << 20
)

// LocalConfig configures a [Local] limiter.
type LocalConfig struct {
	// Limits are the windows enforced together, all or nothing (for
	// example PerSecond(10) and PerDay(10000)). Required: one to
	// [MaxWindows] valid limits.
	Limits []Limit
	// Algorithm selects the refill algorithm; zero means [GCRA].
	Algorithm Algorithm
	// MaxKeys caps the number of keys tracked; zero means
	// [DefaultMaxKeys]. When a new key would exceed it, the least recently
	// used key is forgotten (and starts again with a full budget if it
	// comes back).
	MaxKeys int
	// MaxBytes caps the estimated memory held by key state (keys, map
	// entries, per-window state); zero means [DefaultMaxBytes]. It is
	// enforced like MaxKeys. The estimate is conservative: the measured
	// heap per key is below it (see BenchmarkLocalMemory).
	MaxBytes int64
	// IdleTimeout is how long a key may go unused before it may be
	// forgotten even when the caps are not reached; zero means the time
	// the slowest window takes to refill a full burst, after which an idle
	// key's state carries no information and forgetting it changes no
	// decision. Idle keys are reclaimed when new keys arrive and by
	// [Local.Sweep] / [Local.Run].
	IdleTimeout time.Duration
	// Now returns the current time; nil means [time.Now]. Tests inject a
	// clock here or use [Local.AllowAt] with explicit times.
	Now func() time.Time
}

// Local is an in-memory [WindowLimiter] for one gateway instance: per-key
// state in a sharded map bounded by LocalConfig.MaxKeys and
// LocalConfig.MaxBytes, with second-chance (approximate least recently
// used) and idle eviction, so a flood of distinct keys cannot grow memory
// without bound. A decision for a known key takes one shard lock and
// allocates nothing.
//
// Local is safe for simultaneous use by multiple goroutines. It starts no
// goroutine; call [Local.Run] to reclaim idle keys in the background.
type Local struct {
	algo   Algorithm
	limits []Limit
	k      int     // windows
	ivs    []int64 // GCRA emission interval per window, ns
	taus   []int64 // GCRA burst tolerance per window, ns
	rates  []rate.Limit
	idle   int64 // ns
	now    func() time.Time
	wall   bool // now is time.Now: read the monotonic clock directly
	epoch  time.Time
	seed   maphash.Seed
	mask   uint64
	shards []shard
}

var _ WindowLimiter = (*Local)(nil)

// NewLocal returns a Local limiter for cfg. It panics if cfg.Limits is
// empty, too long or invalid (see [Limit.Validate]), or if a cap is
// negative.
func NewLocal(cfg LocalConfig) *Local {
	validateLimits("NewLocal", cfg.Limits)
	if cfg.MaxKeys < 0 || cfg.MaxBytes < 0 || cfg.IdleTimeout < 0 {
		panic("ratelimit: NewLocal: negative MaxKeys, MaxBytes or IdleTimeout")
	}
	if cfg.Algorithm != GCRA && cfg.Algorithm != TokenBucket {
		panic("ratelimit: NewLocal: unknown Algorithm")
	}
	l := &Local{
		algo:   cfg.Algorithm,
		limits: append([]Limit(nil), cfg.Limits...),
		k:      len(cfg.Limits),
		now:    cfg.Now,
		seed:   maphash.MakeSeed(),
	}
	if l.now == nil {
		l.now = time.Now
		l.wall = true
	}
	l.epoch = l.now()
	var maxTau int64
	for _, lim := range l.limits {
		iv := int64(lim.Interval())
		tau := iv * lim.BurstOrQuota()
		l.ivs = append(l.ivs, iv)
		l.taus = append(l.taus, tau)
		l.rates = append(l.rates, rate.Limit(float64(lim.Quota)/lim.Window.Seconds()))
		maxTau = max(maxTau, tau)
	}
	l.idle = int64(cfg.IdleTimeout)
	if l.idle == 0 {
		l.idle = maxTau
	}
	maxKeys := cfg.MaxKeys
	if maxKeys == 0 {
		maxKeys = DefaultMaxKeys
	}
	maxBytes := cfg.MaxBytes
	if maxBytes == 0 {
		maxBytes = DefaultMaxBytes
	}
	// 64 shards keep lock contention negligible on any realistic core
	// count; small caps get fewer shards so that each holds at least 16
	// keys and the cap is not split into uselessly small pieces.
	n := 64
	for n > 1 && maxKeys/n < 16 {
		n /= 2
	}
	l.mask = uint64(n - 1)
	l.shards = make([]shard, n)
	perKeys := max(maxKeys/n, 1)
	perBytes := max(maxBytes/int64(n), 1)
	for i := range l.shards {
		l.shards[i].init(perKeys, perBytes, l.k, l.algo == TokenBucket)
	}
	return l
}

// Limits returns a copy of the windows l enforces.
func (l *Local) Limits() []Limit { return append([]Limit(nil), l.limits...) }

// Algorithm returns the refill algorithm of l.
func (l *Local) Algorithm() Algorithm { return l.algo }

// Allow spends n units of key's budget in every window if all of them have
// room, and returns the [Strictest] window's decision. It never returns an
// error; ctx is not used (a local decision does not block).
func (l *Local) Allow(_ context.Context, key string, n int) (Decision, error) {
	var buf [MaxWindows]Decision
	ds := l.decide(key, n, l.elapsed(), buf[:0])
	return Strictest(ds), nil
}

// elapsed returns the current time as nanoseconds since l.epoch. With the
// default clock it reads only the monotonic clock (time.Since), which is
// cheaper than time.Now and immune to wall-clock steps.
func (l *Local) elapsed() int64 {
	if l.wall {
		return int64(time.Since(l.epoch))
	}
	return int64(l.now().Sub(l.epoch))
}

// AllowWindows is like Allow but appends every window's decision to dst.
func (l *Local) AllowWindows(_ context.Context, key string, n int, dst []Decision) ([]Decision, error) {
	return l.decide(key, n, l.elapsed(), dst), nil
}

// AllowAt is Allow at the explicit time t (like rate.Limiter.AllowN): the
// form for tests and simulations. Times must not go backwards for a key by
// more than the clock's own jitter; an earlier t only makes the decision
// stricter.
func (l *Local) AllowAt(key string, n int, t time.Time) Decision {
	var buf [MaxWindows]Decision
	return Strictest(l.decide(key, n, int64(t.Sub(l.epoch)), buf[:0]))
}

// Stats is a snapshot of a [Local] limiter's memory use.
type Stats struct {
	// Keys is the number of keys tracked.
	Keys int
	// Bytes is the estimated memory held for them.
	Bytes int64
	// Evicted counts keys forgotten to respect the caps (not idle ones).
	Evicted uint64
	// Expired counts idle keys forgotten.
	Expired uint64
}

// Stats returns the current [Stats] of l.
func (l *Local) Stats() Stats {
	var st Stats
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		st.Keys += s.n
		st.Bytes += s.bytes
		st.Evicted += s.evicted
		st.Expired += s.expired
		s.mu.Unlock()
	}
	return st
}

// Sweep forgets every key idle for longer than the idle timeout at time t,
// and gives memory back after a flood of keys has passed. [Local.Run]
// calls it periodically.
func (l *Local) Sweep(t time.Time) {
	now := int64(t.Sub(l.epoch))
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		s.sweep(now, l.idle)
		s.maybeCompact()
		s.mu.Unlock()
	}
}

// Run calls [Local.Sweep] every half idle timeout (between one second and
// one minute) until ctx is done, then returns nil. It is optional: the caps
// hold without it.
func (l *Local) Run(ctx context.Context) error {
	every := time.Duration(l.idle / 2)
	every = min(max(every, time.Second), time.Minute)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			l.Sweep(l.now())
		}
	}
}

func (l *Local) shardFor(key string) *shard {
	return &l.shards[maphash.String(l.seed, key)&l.mask]
}

// decide runs one all-or-nothing decision for key at now (ns since
// l.epoch) and appends one
// Decision per window to dst.
func (l *Local) decide(key string, n int, now int64, dst []Decision) []Decision {
	if n < 0 {
		n = 0
	}
	s := l.shardFor(key)
	s.mu.Lock()
	i := s.lookup(key, now, l.idle, l)
	if l.algo == GCRA {
		dst = l.gcra(s.state[int(i)*l.k:int(i)*l.k+l.k], int64(n), now, dst)
	} else {
		dst = l.bucket(s.buckets[int(i)*l.k:int(i)*l.k+l.k], n, l.epoch.Add(time.Duration(now)), dst)
	}
	s.mu.Unlock()
	return dst
}

// gcra decides for one key whose per-window theoretical arrival times are
// tats (math.MinInt64 for a fresh key).
func (l *Local) gcra(tats []int64, n, now int64, dst []Decision) []Decision {
	allowed := true
	for j, tat := range tats {
		if n > l.limits[j].BurstOrQuota() {
			allowed = false
			break
		}
		tat = max(tat, now)
		if tat+n*l.ivs[j]-now > l.taus[j] {
			allowed = false
			break
		}
	}
	for j, tat := range tats {
		iv, tau, lim := l.ivs[j], l.taus[j], l.limits[j]
		tat = max(tat, now)
		d := Decision{Allowed: allowed, Limit: lim.Quota, Window: lim.Window}
		if allowed {
			tat += n * iv
			tats[j] = tat
		} else if n > lim.BurstOrQuota() {
			// Never admissible: point at a full refill rather than
			// claim that an immediate retry could work.
			d.RetryAfter = max(time.Duration(tat-now), lim.Window)
		} else if wait := tat + n*iv - tau - now; wait > 0 {
			d.RetryAfter = time.Duration(wait)
		}
		d.Remaining = max((now+tau-tat)/iv, 0)
		d.Reset = time.Duration(tat - now)
		dst = append(dst, d)
	}
	return dst
}

// bucket decides with one x/time/rate limiter per window.
func (l *Local) bucket(lims []*rate.Limiter, n int, t time.Time, dst []Decision) []Decision {
	allowed := true
	for _, rl := range lims {
		if rl.TokensAt(t) < float64(n) {
			allowed = false
			break
		}
	}
	for j, rl := range lims {
		lim := l.limits[j]
		if allowed {
			rl.AllowN(t, n)
		}
		tokens := rl.TokensAt(t)
		r := float64(l.rates[j])
		burst := float64(lim.BurstOrQuota())
		d := Decision{Allowed: allowed, Limit: lim.Quota, Window: lim.Window}
		d.Remaining = int64(math.Floor(max(tokens, 0)))
		d.Reset = secondsToDuration((burst - tokens) / r)
		if !allowed {
			if float64(n) > burst {
				d.RetryAfter = max(d.Reset, lim.Window)
			} else if tokens < float64(n) {
				d.RetryAfter = secondsToDuration((float64(n) - tokens) / r)
			}
		}
		dst = append(dst, d)
	}
	return dst
}

func secondsToDuration(s float64) time.Duration {
	if s <= 0 {
		return 0
	}
	return time.Duration(math.Ceil(s * float64(time.Second)))
}
