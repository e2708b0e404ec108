// Package breaker keeps a failing service from taking the gateway down: a
// circuit breaker per service and per endpoint, per-attempt timeouts and an
// overall deadline, retries with exponential backoff, jitter and a retry
// budget, a bulkhead, hedged requests and a fallback, as one [Breaker] per
// service.
//
// A Breaker is used as an [net/http.RoundTripper] middleware
// ([Breaker.Transport]; the upstream side, where every policy applies), as
// an [net/http.Handler] middleware ([Breaker.Handler]; service circuit,
// bulkhead and deadline), or directly through the two-step
// [Breaker.Allow].
//
// # Example
//
// A Breaker wraps an upstream.Upstream's own transport (the fast HTTP/1.1
// client) through upstream.Config.WrapTransport; the upstream's health
// checks, outlier detection and retries to other endpoints work alongside:
//
//	users := breaker.New(breaker.Config{
//		Failures: 5, FailureRate: 0.5, MinRequests: 20, Cooldown: 30 * time.Second,
//		Endpoint: breaker.EndpointConfig{Failures: 3, Cooldown: 10 * time.Second},
//		Deadline: 10 * time.Second,
//		Retry:    breaker.RetryConfig{MaxAttempts: 3, Budget: 0.2},
//		Bulkhead: breaker.BulkheadConfig{MaxConcurrent: 512, MaxQueue: 128, QueueTimeout: 100 * time.Millisecond},
//		OnStateChange: func(ev breaker.StateChange) {
//			logger.Warn("circuit", "endpoint", ev.Endpoint, "from", ev.From, "to", ev.To)
//		},
//	})
//	up := upstream.New(upstream.Config{
//		Name:                  "users",
//		Discovery:             discovery.Static("10.0.0.7:8080", "10.0.0.8:8080"),
//		WrapTransport:         users.Transport,
//		Retries:               1, // another endpoint after a refusal, a reset or an open endpoint circuit
//		ResponseHeaderTimeout: 2 * time.Second, // the per-attempt timeout, free on the fast path
//		HealthCheck:           upstream.HealthCheck{Type: "http", Path: "/healthz", Interval: 5 * time.Second},
//		Outlier:               upstream.OutlierDetection{Consecutive5xx: 5},
//		SlowStart:             upstream.SlowStart{Window: 30 * time.Second},
//	})
//	go up.Run(ctx) // discovery, health checks, ejection timers
//	gw.Handle("GET /users/{id}", up)
//
// # Order of the policies
//
// [Breaker.Transport] applies, from the outside in:
//
//		fallback → deadline → retry (budget) → hedge → bulkhead
//		  → service circuit → endpoint circuit → attempt timeout → next
//
//	  - The fallback is outermost so that it answers whatever the rest
//	    failed with, a rejection included.
//	  - The deadline bounds everything inside it, backoff sleeps included:
//	    a retry that cannot finish in time is not started.
//	  - Retry sits outside the bulkhead and the circuits so that each attempt
//	    asks them again: a retry waiting in backoff holds no bulkhead slot,
//	    and a circuit that opened meanwhile stops the retries at once (an
//	    [ErrOpen] is never retried). The budget is consulted before every
//	    retry and every hedge.
//	  - The bulkhead comes before the circuits so that a request queueing for
//	    a slot holds no half-open probe permit; a queued request that then
//	    meets an open circuit is refused as fast as any other.
//	  - The service circuit comes before the endpoint circuits: a rejection
//	    by an endpoint circuit counts as nothing for the service circuit (it
//	    never reached the service), while a failure counts for both.
//	  - The attempt timeout is innermost: it measures the upstream alone, and
//	    its expiry is a failure the circuits see and the retry may repeat.
//
// This is failsafe-go's recommended composition (Fallback, RetryPolicy,
// CircuitBreaker, Timeout) with a bulkhead and a budget placed where they
// hold resources least.
//
// # What fails, what is retried
//
// A failure, for the circuits, is what Config.IsFailure says; by default
// ([DefaultIsFailure]) connection errors, timeouts and the statuses 502,
// 503 and 504. A request the client cancelled never counts, and a
// half-open probe the client cancelled frees its slot for another probe.
// See [RetryConfig] for which requests are retried: requests that never
// left (refused connection) whatever their method; idempotent ones after a
// timeout, a transport error or a status in RetryConfig.Statuses; never a
// request whose body cannot be replayed, an upgrade or an event stream.
//
// Upgrades (WebSocket) and event streams (Accept: text/event-stream) pass
// through the bulkhead and the circuits only: no timer, no retry, no hedge,
// and their responses are returned unwrapped, so hijacking and flushing
// work through the gateway.
//
// # Errors
//
// The policies' own refusals are errors that carry their HTTP answer, so
// that an upstream.Upstream's default error handler (problem+json) writes
// them right: [ErrOpen] and [ErrBulkheadFull] are 503 with Retry-After (the
// cooldown left, or 1s); [ErrTimeout] is 504. An endpoint circuit's ErrOpen
// reports RetryOnOtherEndpoint() true, so that an upstream.Upstream with
// retries sends the request to another endpoint instead of failing it.
//
// # Use of failsafe-go
//
// The bulkhead is failsafe-go's (github.com/failsafe-go/failsafe-go/bulkhead),
// driven through its permit API, which allocates nothing. failsafe-go's
// executor is not used: running a round trip through it with a circuit
// breaker alone costs about 1.3µs and 16 allocations, with retry, circuit
// breaker, bulkhead and timeout 3.5µs and 30 allocations, against 0.1µs
// and none, and 1.2µs and 4, for the same sets here
// (BenchmarkFailsafeExecutor next to BenchmarkPolicies). The circuit breaker is this
// package's own because failsafe-go's cannot combine a consecutive-failure
// threshold with a failure-rate threshold, cannot let a half-open probe go
// without recording an outcome (a probe the client cancelled would have to
// count as a success or a failure), and locks a mutex for every permit;
// here the closed state grants permits with two atomic loads. The retry
// budget is a ratio of requests over a rolling window with a floor
// (failsafe-go's budget bounds concurrent retries instead).
//
// # State and events
//
// [Breaker.State], [Breaker.EndpointState] and [Breaker.Stats] read the
// circuits and counters (for an admin API or metrics);
// Config.OnStateChange is called on every transition.
package breaker
