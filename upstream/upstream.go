package upstream

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatewaykit/gateway/upstream/internal/h1"
)

// Defaults applied by [New] to zero [Config] fields.
const (
	// DefaultDialTimeout is Config.DialTimeout's default (Envoy's
	// connect_timeout).
	DefaultDialTimeout = 5 * time.Second
	// DefaultResponseHeaderTimeout is Config.ResponseHeaderTimeout's
	// default (nginx's proxy_read_timeout, Kong's read_timeout).
	DefaultResponseHeaderTimeout = 60 * time.Second
	// DefaultIdleConnTimeout is Config.IdleConnTimeout's default (as
	// http.DefaultTransport).
	DefaultIdleConnTimeout = 90 * time.Second
	// DefaultMaxIdleConnsPerEndpoint is Config.MaxIdleConnsPerEndpoint's
	// default.
	DefaultMaxIdleConnsPerEndpoint = 64
	// DefaultUpgradeIdleTimeout is Config.UpgradeIdleTimeout's default.
	DefaultUpgradeIdleTimeout = 10 * time.Minute
	// DefaultMaxReplayBody is Config.MaxReplayBody's default, in bytes.
	DefaultMaxReplayBody = 64 << 10
)

// Config describes one upstream service. The zero value of every field but
// Discovery is usable; [New] keeps a copy.
type Config struct {
	// Name is the service name: the key passed to Discovery.Watch and the
	// "upstream" attribute of log lines. Empty means "upstream".
	Name string

	// Scheme selects the protocol spoken to the endpoints:
	//   - "http" (the default when empty): HTTP/1.1 over TCP, through the
	//     project's fast HTTP/1.1 client;
	//   - "https": TLS through an [http.Transport], HTTP/2 negotiated by ALPN
	//     with HTTP/1.1 fallback; TLSClientConfig configures it;
	//   - "h2c": HTTP/2 over cleartext TCP with prior knowledge, through an
	//     [http.Transport] (its Protocols set to unencrypted HTTP/2).
	// New panics on any other value.
	Scheme string

	// Discovery provides the endpoint set. It is required: New panics when
	// it is nil. A Discovery that also implements [Snapshotter] (such as
	// discovery.Static) seeds the set, so the Upstream serves before Run.
	Discovery Discovery

	// Balancer picks the endpoint of each attempt from the current set (on a
	// retry, from the endpoints not yet tried); Pick receives the inbound
	// request. Nil means a new [RoundRobin]. A Balancer that implements
	// [Observer] is told when each attempt begins and when its response
	// headers arrived or it failed (a client that went away is reported as
	// an error matching context.Canceled).
	Balancer Balancer

	// Transport sends the requests. Nil means a transport built from this
	// Config (see Scheme) with the timeouts and pool sizes below. A non-nil
	// Transport is used as given; the timeout and pool fields then do not
	// apply and must be set on the given transport. To wrap the built
	// transport instead (and keep the fast HTTP/1.1 client), use
	// WrapTransport.
	Transport http.RoundTripper

	// WrapTransport, if non-nil, wraps the transport built from this Config
	// (it is ignored when Transport is set): the place for upstream
	// resilience middleware, for example WrapTransport: brk.Transport with
	// a breaker. A wrapper that has a method Synchronous() bool reporting
	// true (it is done with a request once RoundTrip returned and the
	// response body is closed) keeps the fast path's reuse of per-request
	// state. A wrapper with CloseIdleConnections passes the calls on.
	WrapTransport func(next http.RoundTripper) http.RoundTripper

	// Rewrite, if non-nil, modifies the outbound request after the Upstream
	// has sanitised it (hop-by-hop headers removed, forwarding headers,
	// X-Request-ID, Host and User-Agent set). It sees the inbound request
	// (read-only) and the outbound one; see [ProxyRequest]. The scheme and
	// host of Out.URL are set per attempt from the chosen endpoint, after
	// Rewrite. Rewrite must not keep the ProxyRequest after returning.
	Rewrite func(*ProxyRequest)

	// ModifyResponse, if non-nil, may change the upstream's response before
	// it is copied to the client (it is not called for responses consumed by
	// a retry). An error it returns is answered through ErrorHandler. It
	// must not keep res or res.Request after returning: their memory is
	// reused for later requests.
	ModifyResponse func(*http.Response) error

	// ErrorHandler answers requests that failed before the response status
	// was sent. Nil means problem.WriteError: ErrNoEndpoints is 503 with
	// Retry-After, timeouts are 504, the client going away is 499 with
	// nothing written, other upstream failures are 502.
	ErrorHandler func(http.ResponseWriter, *http.Request, error)

	// Retries is the number of extra attempts, each on another endpoint
	// when one remains, after a dial error or a response whose status is in
	// RetryStatuses. Zero means no retries. See [Upstream] for which
	// requests are eligible.
	Retries int

	// RetryStatuses lists the response statuses that are retried (for
	// example 502, 503, 504). Empty means statuses are never retried.
	RetryStatuses []int

	// MaxReplayBody bounds the request body the Upstream buffers so that a
	// retry can send it again. Zero means [DefaultMaxReplayBody] (64 KiB).
	// Requests with a larger body, or with Expect: 100-continue, stream it
	// and are retried only if the body was never read.
	MaxReplayBody int64

	// Host sets the outbound Host header. Nil means the client's Host is
	// kept (as Envoy, Traefik and Caddy do); use [EndpointHost] for the
	// endpoint address (nginx's and Kong's default) or [FixedHost].
	Host HostPolicy

	// TrustedProxies lists the peers whose Forwarded and X-Forwarded-*
	// headers are believed: when the direct peer of a request is in one of
	// these prefixes, the incoming values are kept and extended; otherwise
	// they are dropped and set from the connection alone. Empty means no
	// peer is trusted.
	TrustedProxies []netip.Prefix

	// DialTimeout bounds establishing a connection (and the TLS handshake
	// for "https"). Zero means [DefaultDialTimeout] (5s).
	DialTimeout time.Duration
	// ResponseHeaderTimeout bounds the wait for the response headers after
	// the request was written. Zero means [DefaultResponseHeaderTimeout] (60s).
	ResponseHeaderTimeout time.Duration
	// ReadTimeout abandons a response whose body stalls: when the upstream
	// sends no body byte for this long, the upstream request is cancelled
	// and the client connection aborted (nginx's proxy_read_timeout, Kong's
	// read_timeout, for the body). It costs a cancellable context and a
	// timer per request. Zero means no limit (streams may idle for ever).
	ReadTimeout time.Duration
	// IdleConnTimeout closes pooled connections idle for this long. Zero
	// means [DefaultIdleConnTimeout] (90s).
	IdleConnTimeout time.Duration
	// MaxConnsPerEndpoint limits the connections (idle and active) to each
	// endpoint; a request waits for a free one. Zero means no limit.
	MaxConnsPerEndpoint int
	// MaxIdleConnsPerEndpoint is the number of idle keep-alive connections
	// kept per endpoint. Zero means [DefaultMaxIdleConnsPerEndpoint] (64).
	MaxIdleConnsPerEndpoint int

	// FlushInterval is the period at which the response body is flushed to
	// the client while it is copied. Zero means no periodic flush, as in
	// httputil.ReverseProxy. Whatever its value, responses that are
	// text/event-stream, carry "X-Accel-Buffering: no" (passed on to the
	// client, for proxies in front), or have no known length (chunked) are
	// flushed after every write.
	FlushInterval time.Duration

	// UpgradeIdleTimeout closes both sides of an upgraded connection
	// (WebSocket) when no byte passed in either direction for this long.
	// Zero means [DefaultUpgradeIdleTimeout] (10m).
	UpgradeIdleTimeout time.Duration

	// TLSClientConfig configures TLS for the "https" scheme; it is cloned.
	// Nil means the system roots. An empty ServerName means the host of
	// [FixedHost] when Host is one, else the endpoint's host: endpoints
	// given as IP addresses then need ServerName (or FixedHost) to verify
	// a certificate that names the service.
	TLSClientConfig *tls.Config

	// HealthCheck configures active health checks, run by [Upstream.Run]:
	// endpoints that fail them leave the balancer's set until they pass
	// again. The zero value means none. See [HealthCheck].
	HealthCheck HealthCheck

	// Outlier configures passive health checking from live traffic: an
	// endpoint whose attempts keep failing is ejected from the balancer's
	// set for a while. The zero value means none. See [OutlierDetection].
	Outlier OutlierDetection

	// SlowStart ramps up the weight of endpoints entering rotation. The
	// zero value means none. See [SlowStart].
	SlowStart SlowStart

	// PanicThreshold is the share of endpoints (0 to 1) that must be in
	// rotation (healthy and not ejected); below it the Upstream panics as
	// Panic says. Zero means it panics only when no endpoint is in
	// rotation.
	PanicThreshold float64

	// Panic is what happens below PanicThreshold: [PanicRouteAll] (the
	// zero value, as Envoy) sends requests to every endpoint regardless of
	// health; [PanicFail] answers 503 ([ErrNoHealthyEndpoints]).
	Panic PanicMode

	// OnHealthEvent, if non-nil, is called when an endpoint becomes
	// unhealthy or healthy, is ejected or returns, and when panic mode
	// starts or ends. It runs on the goroutine that noticed (a health
	// probe, a request, or Run) and must be quick.
	OnHealthEvent func(HealthEvent)

	// Logger receives a line for every request the Upstream fails to serve.
	// Nil means slog.Default().
	Logger *slog.Logger
}

// Upstream is the reverse proxy for one service: an [http.Handler] that
// sends each request to an endpoint chosen by the Balancer from the current
// endpoint set, and copies the response back.
//
// It behaves as httputil.ReverseProxy does (hop-by-hop headers removed both
// ways, trailers, 1xx responses, protocol upgrades, streaming) with these
// gateway rules:
//   - Forwarding headers: X-Forwarded-For, X-Forwarded-Host,
//     X-Forwarded-Proto, X-Real-IP and RFC 7239 Forwarded from the client
//     are kept (and extended) only when the direct peer is in
//     TrustedProxies, otherwise replaced by values from the connection.
//   - The raw query is sent exactly as received, never re-encoded.
//   - X-Request-ID is set from the request's reqinfo record when it has one;
//     the chosen endpoint and the attempt count are recorded there.
//   - Errors before the status is sent go to ErrorHandler (problem+json by
//     default). A failure after the status was sent (upstream reset or
//     closed mid-body) aborts the client connection by panicking with
//     [http.ErrAbortHandler], as ReverseProxy does, so the client sees a
//     truncated response rather than a complete-looking one.
//
// Retries: with Config.Retries > 0, an attempt that fails to connect (the
// request never left the gateway; also an error whose method
// RetryOnOtherEndpoint() bool reports true, such as an endpoint circuit
// breaker's refusal) is retried for any method, provided its
// body is absent, buffered or still unread; an attempt answered with a
// status in RetryStatuses is retried only for idempotent requests (GET,
// HEAD, OPTIONS, TRACE, PUT, DELETE, or any request with an Idempotency-Key
// header) whose body is absent or was buffered within MaxReplayBody (the
// body of such a request is buffered before the first attempt when
// RetryStatuses is set). The response of a retried attempt is drained and
// closed. Each retry goes to an endpoint not yet tried when one exists,
// otherwise to one other than the endpoint that just failed, and a lone
// endpoint is retried itself.
//
// Retries also cover an idempotent request whose attempt failed with a
// transport error other than a timeout (connection reset or closed before
// the response, as when an endpoint is killed), under the same body rule
// as retries after a status.
//
// Health: with HealthCheck, Outlier, SlowStart or Panic set, the balancer
// picks only from the endpoints in rotation (healthy by the active checks
// and not ejected by outlier detection, with slow start weights); that set
// is precomputed and swapped atomically when health changes, so picking
// costs nothing more. Every attempt's outcome feeds outlier detection.
// [Upstream.Health] reports each endpoint's state.
//
// An Upstream is safe for simultaneous use by multiple goroutines. Its
// endpoint set is an immutable snapshot swapped atomically by Run.
type Upstream struct {
	cfg  Config
	name string
	rt   http.RoundTripper
	// poolCalls: rt is the synchronous h1 client (possibly behind a
	// synchronous wrapper), so per-request state can be recycled (see
	// callPool).
	poolCalls bool
	fast      *h1.Client // the built h1 client, for Run's idle sweeping
	bal       Balancer
	obs       Observer
	log       *slog.Logger
	errh      func(http.ResponseWriter, *http.Request, error)
	scheme    string // URL scheme of outbound requests: "http" or "https"
	eps       atomic.Pointer[[]Endpoint]
	health    *healthState // nil without health settings
	stats     counters
	retryS    []int
}

var _ http.Handler = (*Upstream)(nil)

// New returns an Upstream for cfg. It starts no goroutine: endpoint updates
// are consumed by [Upstream.Run]. When cfg.Discovery implements
// [Snapshotter], its snapshot is the initial endpoint set.
//
// New panics when cfg.Discovery is nil or cfg.Scheme is unknown
// (programmer errors at setup).
func New(cfg Config) *Upstream {
	if cfg.Discovery == nil {
		panic("upstream: Config.Discovery is nil")
	}
	cfg = withDefaults(cfg)
	cfg.TrustedProxies = append([]netip.Prefix(nil), cfg.TrustedProxies...)
	u := &Upstream{
		cfg:    cfg,
		name:   cfg.Name,
		bal:    cfg.Balancer,
		log:    cfg.Logger,
		errh:   cfg.ErrorHandler,
		scheme: "http",
		retryS: append([]int(nil), cfg.RetryStatuses...),
	}
	if cfg.Scheme == "https" {
		u.scheme = "https"
	}
	if u.name == "" {
		u.name = "upstream"
	}
	if u.bal == nil {
		u.bal = &RoundRobin{}
	}
	u.obs, _ = u.bal.(Observer)
	if u.log == nil {
		u.log = slog.Default()
	}
	if cfg.Transport != nil {
		u.rt = cfg.Transport
	} else {
		u.rt = newTransport(&cfg)
		u.fast, u.poolCalls = u.rt.(*h1.Client)
		if cfg.WrapTransport != nil {
			u.rt = cfg.WrapTransport(u.rt)
			if u.rt == nil {
				panic("upstream: Config.WrapTransport returned nil")
			}
			s, ok := u.rt.(interface{ Synchronous() bool })
			u.poolCalls = u.poolCalls && ok && s.Synchronous()
		}
	}
	hc := healthConfig{
		check:     cfg.HealthCheck,
		outlier:   cfg.Outlier,
		slow:      cfg.SlowStart,
		threshold: cfg.PanicThreshold,
		mode:      cfg.Panic,
		onEvent:   cfg.OnHealthEvent,
		scheme:    cfg.Scheme,
		tls:       cfg.TLSClientConfig,
	}
	if hc.enabled() {
		u.health = newHealthState(hc)
	}
	if s, ok := cfg.Discovery.(Snapshotter); ok {
		u.setEndpoints(s.Snapshot())
	} else {
		u.setEndpoints(nil)
	}
	return u
}

// Name returns the service name (Config.Name, or "upstream").
func (u *Upstream) Name() string { return u.name }

// Endpoints returns a copy of the current endpoint set.
func (u *Upstream) Endpoints() []Endpoint {
	eps := *u.eps.Load()
	return append([]Endpoint(nil), eps...)
}

func (u *Upstream) setEndpoints(eps []Endpoint) {
	cp := make([]Endpoint, 0, len(eps))
	for _, ep := range eps {
		if ep.Addr != "" {
			cp = append(cp, ep)
		}
	}
	u.eps.Store(&cp)
	if u.health != nil {
		u.health.setEndpoints(cp)
	}
}

// Run consumes Config.Discovery's updates, swapping the endpoint set on
// each, until ctx ends; it then returns nil. It returns the error of
// Discovery.Watch when the watch cannot start. When the discovery closes
// its channel before ctx ends, Run keeps the last set and waits for ctx.
// With the fast HTTP/1.1 client, Run also closes pooled connections that
// idled past IdleConnTimeout (without it they are closed when next looked
// at). It runs the active health checks (Config.HealthCheck) and ends
// ejections and slow start steps on time even without traffic (requests
// apply them too). When ctx ends, Run closes the transport's idle
// connections and returns once its goroutines have stopped.
func (u *Upstream) Run(ctx context.Context) error {
	ch, err := u.cfg.Discovery.Watch(ctx, u.name)
	if err != nil {
		return err
	}
	defer u.CloseIdleConnections()
	if u.health != nil {
		var wg sync.WaitGroup
		defer wg.Wait()
		guard := func(what string, f func()) {
			defer func() {
				if p := recover(); p != nil {
					u.log.LogAttrs(ctx, slog.LevelError, "upstream: panic in the "+what,
						slog.String("upstream", u.name), slog.Any("panic", p))
				}
			}()
			f()
		}
		wg.Go(func() { guard("health timers", func() { u.health.runTimers(ctx) }) })
		if u.cfg.HealthCheck.Type != "" {
			p := newProber(&u.health.cfg)
			wg.Go(func() { guard("health checker", func() { u.health.runChecks(ctx, p, u.log) }) })
		}
	}
	if c := u.fast; c != nil {
		swept := make(chan struct{})
		go func() {
			defer close(swept)
			defer func() {
				if p := recover(); p != nil {
					u.log.LogAttrs(ctx, slog.LevelError, "upstream: panic in the connection sweeper",
						slog.String("upstream", u.name), slog.Any("panic", p))
				}
			}()
			_ = c.Run(ctx)
		}()
		defer func() { <-swept }()
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case eps, ok := <-ch:
			if !ok {
				<-ctx.Done()
				return nil
			}
			u.setEndpoints(eps)
			u.log.LogAttrs(ctx, slog.LevelDebug, "upstream: endpoints updated",
				slog.String("upstream", u.name), slog.Int("endpoints", len(eps)))
		}
	}
}

// CloseIdleConnections closes the idle pooled connections of the
// Upstream's transport (Config.Transport too, when it has such a method).
func (u *Upstream) CloseIdleConnections() {
	if c, ok := u.rt.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// withDefaults returns cfg with its zero fields replaced by the defaults.
func withDefaults(cfg Config) Config {
	switch cfg.Scheme {
	case "":
		cfg.Scheme = "http"
	case "http", "https", "h2c":
	default:
		panic("upstream: unknown Config.Scheme " + cfg.Scheme)
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = DefaultDialTimeout
	}
	if cfg.ResponseHeaderTimeout <= 0 {
		cfg.ResponseHeaderTimeout = DefaultResponseHeaderTimeout
	}
	if cfg.IdleConnTimeout <= 0 {
		cfg.IdleConnTimeout = DefaultIdleConnTimeout
	}
	if cfg.MaxIdleConnsPerEndpoint <= 0 {
		cfg.MaxIdleConnsPerEndpoint = DefaultMaxIdleConnsPerEndpoint
	}
	if cfg.UpgradeIdleTimeout <= 0 {
		cfg.UpgradeIdleTimeout = DefaultUpgradeIdleTimeout
	}
	if cfg.MaxReplayBody <= 0 {
		cfg.MaxReplayBody = DefaultMaxReplayBody
	}
	if cfg.Retries < 0 {
		cfg.Retries = 0
	}
	return cfg
}
