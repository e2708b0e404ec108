package gateway

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatewaykit/gateway/internal/problem"
	"github.com/gatewaykit/gateway/internal/reqinfo"
	"github.com/gatewaykit/gateway/middleware"
	"github.com/gatewaykit/gateway/router"
)

// Middleware is a policy wrapped around a handler: the shape of every
// gatewaykit policy, and of any net/http middleware.
type Middleware = func(http.Handler) http.Handler

// Public marks a route as reachable without authentication: listed among a
// route's middleware, it keeps [Config.Auth] off that route. It is otherwise
// the identity middleware.
func Public(next http.Handler) http.Handler { return next }

var publicPtr = reflect.ValueOf(Public).Pointer()

func isPublic(m Middleware) bool {
	return m != nil && reflect.ValueOf(m).Pointer() == publicPtr
}

// Default server settings, used where the Config leaves a field zero.
const (
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultIdleTimeout       = 120 * time.Second
	DefaultMaxHeaderBytes    = 64 << 10
	DefaultShutdownTimeout   = 30 * time.Second
	DefaultMaxBodyBytes      = 16 << 20
)

// Config configures a [Gateway]. The zero value is usable: every route then
// requires authentication that no authenticator provides (401), so a gateway
// without Auth serves only routes marked [Public].
type Config struct {
	// Logger receives the gateway's own log lines (panics, shutdown, the
	// access log when AccessLog is set). Nil means slog.Default().
	Logger *slog.Logger

	// Auth is applied to every route not marked Public, outermost among the
	// route's middleware. Nil means such routes answer 401: a route is public
	// only when it says so.
	Auth Middleware

	// TrustedProxies lists the peers whose X-Forwarded-For is believed when
	// resolving the client IP. Nil means none: the client IP is the peer
	// address.
	TrustedProxies []netip.Prefix

	// MaxBodyBytes bounds request bodies (413 beyond). Zero means
	// DefaultMaxBodyBytes; see UnlimitedBody.
	MaxBodyBytes int64
	// UnlimitedBody turns the body limit off.
	UnlimitedBody bool

	// AccessLog enables one log line per request on Logger.
	AccessLog bool

	// ReadHeaderTimeout, IdleTimeout and MaxHeaderBytes configure the
	// http.Server built by Serve and ListenAndServe. Zero means the
	// Default* constant of the same name.
	ReadHeaderTimeout time.Duration
	IdleTimeout       time.Duration
	MaxHeaderBytes    int

	// TLS, when set, makes Serve terminate TLS with this configuration
	// (certificates, client authentication) and offer HTTP/2 by ALPN.
	TLS *tls.Config

	// ShutdownTimeout bounds the drain of in-flight requests when the
	// context given to Serve ends. Zero means DefaultShutdownTimeout.
	ShutdownTimeout time.Duration
	// DrainDelay is how long Serve keeps accepting requests after the
	// readiness probe starts failing, so that load balancers stop sending
	// new traffic first. Zero means no delay.
	DrainDelay time.Duration
}

// Route is the full form of a route for [Gateway.Route] and [Gateway.Reload];
// [Gateway.Handle] covers the common case.
type Route struct {
	// Pattern is in http.ServeMux syntax: "[METHOD ][HOST]/path", with
	// {name}, {name...} and {$}.
	Pattern string
	// Handler serves the route: usually an *upstream.Upstream.
	Handler http.Handler
	// Middleware wraps Handler, the first listed outermost. Listing
	// [Public] marks the route public.
	Middleware []Middleware
	// Public skips Config.Auth on this route.
	Public bool
	// Headers and Query must all match for the route to match.
	Headers []router.Matcher
	Query   []router.Matcher
	// Priority orders routes that are equally specific; higher wins.
	Priority int
	// Name identifies the route in logs and the admin API; empty means
	// Pattern.
	Name string
}

// Runner is background work owned by the gateway: Run blocks until ctx ends.
// Upstreams, key-set refreshers and cache revalidators are Runners.
type Runner interface {
	Run(ctx context.Context) error
}

// Gateway is an API gateway: an http.Handler that runs a fixed global chain
// (recover, request ID, real IP, path normalization, access log, body limit),
// the middleware added with Use, and a compiled route table.
//
// Routes and middleware are compiled into an immutable table published
// through an atomic pointer, so serving takes no lock. Changes (Use, Handle,
// Route, Reload) build a new table; requests in flight finish on the table
// they started with.
//
// A Gateway is safe for simultaneous use by multiple goroutines.
type Gateway struct {
	cfg    Config
	logger *slog.Logger

	table atomic.Pointer[table]

	mu      sync.Mutex // protects the fields below
	global  []Middleware
	routes  []Route
	runners []Runner

	ready    atomic.Bool
	draining atomic.Bool
}

// table is one compiled, immutable generation of the gateway.
type table struct {
	handler http.Handler
	routes  []Route
	runners []Runner
	err     error
}

var _ http.Handler = (*Gateway)(nil)

// New returns a Gateway configured by cfg, with no routes. It starts no
// goroutines; serve it with [Gateway.ListenAndServe] or [Gateway.Serve], or
// mount it in your own server and call [Gateway.Run].
func New(cfg Config) *Gateway {
	g := &Gateway{cfg: cfg, logger: cfg.Logger}
	if g.logger == nil {
		g.logger = slog.Default()
	}
	return g
}

// Use appends middleware to the global chain, after the built-in chain and
// before routing: they run for every request, including 404s.
func (g *Gateway) Use(mw ...Middleware) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.global = append(g.global, mw...)
	g.table.Store(nil)
}

// Handle routes pattern to h through mw (the first listed outermost, after
// Config.Auth unless [Public] is among them). It panics on an invalid
// pattern or a nil handler, as http.ServeMux does; a conflict with another
// route is reported by [Gateway.Compile] and answered as 500 until fixed.
func (g *Gateway) Handle(pattern string, h http.Handler, mw ...Middleware) {
	g.Route(Route{Pattern: pattern, Handler: h, Middleware: mw})
}

// Route adds rt. It panics on an invalid pattern or a nil handler.
func (g *Gateway) Route(rt Route) {
	if rt.Handler == nil {
		panic("gateway: nil handler for " + rt.Pattern)
	}
	if _, err := router.New(router.Config{Routes: []router.Route{{Pattern: rt.Pattern, Handler: rt.Handler, Headers: rt.Headers, Query: rt.Query}}}); err != nil {
		panic(err.Error())
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.routes = append(g.routes, rt)
	g.table.Store(nil)
}

// Manage adds background work that [Gateway.Run] (and so Serve) runs and
// stops with the gateway. Handlers given to Handle that implement [Runner]
// (an *upstream.Upstream) are managed without this call.
func (g *Gateway) Manage(r ...Runner) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.runners = append(g.runners, r...)
}

// Reload replaces the global middleware added with Use and all routes with
// the given ones, in one step: the new table is compiled first, off the
// request path, and published only if it compiles; on error the current
// table keeps serving. Requests in flight, and open streams and WebSockets,
// finish on the table they started with.
//
// Background work of routes new to the table is started by a running
// [Gateway.Run] only when Reload is called before Run; callers that reload
// services with their own Runners run them themselves.
func (g *Gateway) Reload(global []Middleware, routes []Route) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	t, err := g.compile(global, routes)
	if err != nil {
		return err
	}
	g.global = append([]Middleware(nil), global...)
	g.routes = append([]Route(nil), routes...)
	g.table.Store(t)
	return nil
}

// Compile builds the route table now (it is otherwise built on the first
// request after a change) and reports a conflict or invalid route.
func (g *Gateway) Compile() error {
	_, err := g.current()
	return err
}

func (g *Gateway) current() (*table, error) {
	if t := g.table.Load(); t != nil {
		return t, t.err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if t := g.table.Load(); t != nil {
		return t, t.err
	}
	t, err := g.compile(g.global, g.routes)
	if err != nil {
		// Keep answering with a table that reports the error, so a bad
		// change is loud rather than silently serving nothing.
		t = &table{err: err, handler: g.builtin(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			problem.Write(w, r, http.StatusInternalServerError, "the gateway's route table does not compile")
		}))}
		g.logger.Error("gateway: route table does not compile", "err", err)
	}
	g.table.Store(t)
	return t, err
}

// compile builds a table; g.mu is held.
func (g *Gateway) compile(global []Middleware, routes []Route) (*table, error) {
	rrs := make([]router.Route, 0, len(routes))
	warned := false
	for _, rt := range routes {
		h := rt.Handler
		public := rt.Public
		for i := len(rt.Middleware) - 1; i >= 0; i-- {
			m := rt.Middleware[i]
			if isPublic(m) {
				public = true
				continue
			}
			if m != nil {
				h = m(h)
			}
		}
		if !public {
			if g.cfg.Auth != nil {
				h = g.cfg.Auth(h)
			} else {
				if !warned {
					g.logger.Warn("gateway: routes that are not Public require Config.Auth; they answer 401", "route", rt.Pattern)
					warned = true
				}
				h = noAuthenticator
			}
		}
		name := rt.Name
		if name == "" {
			name = rt.Pattern
		}
		h = recordRoute(name, h)
		rrs = append(rrs, router.Route{
			Pattern: rt.Pattern, Handler: h, Headers: rt.Headers, Query: rt.Query,
			Priority: rt.Priority, Name: name,
		})
	}
	rtr, err := router.New(router.Config{Routes: rrs})
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	var h http.Handler = rtr
	for i := len(global) - 1; i >= 0; i-- {
		if global[i] != nil {
			h = global[i](h)
		}
	}
	runners := append([]Runner(nil), g.runners...)
	seen := make(map[Runner]bool)
	for _, r := range runners {
		seen[r] = true
	}
	for _, rt := range routes {
		if r, ok := rt.Handler.(Runner); ok && isComparable(r) && !seen[r] {
			seen[r] = true
			runners = append(runners, r)
		}
	}
	return &table{handler: g.builtin(h), routes: routes, runners: runners}, nil
}

func isComparable(r Runner) bool {
	return reflect.TypeOf(r).Comparable()
}

// recordRoute notes the matched route's name in the request's info, for the
// access log: r.Pattern does not survive middleware that pass on a copy of
// the request.
func recordRoute(name string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if info := reqinfo.From(r.Context()); info != nil {
			info.Route = name
		}
		next.ServeHTTP(w, r)
	})
}

var noAuthenticator = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="gateway"`)
	problem.Write(w, r, http.StatusUnauthorized, "this route requires authentication")
})

// builtin wraps h in the fixed global chain.
func (g *Gateway) builtin(h http.Handler) http.Handler {
	if !g.cfg.UnlimitedBody {
		n := g.cfg.MaxBodyBytes
		if n == 0 {
			n = DefaultMaxBodyBytes
		}
		h = middleware.BodyLimit(n)(h)
	}
	if g.cfg.AccessLog {
		h = middleware.AccessLog(g.logger)(h)
	}
	h = middleware.NormalizePath(middleware.PathConfig{})(h)
	h = middleware.RealIP(middleware.RealIPConfig{TrustedProxies: g.cfg.TrustedProxies})(h)
	h = middleware.RequestID(h)
	h = middleware.Recover(g.logger)(h)
	return h
}

// ServeHTTP serves r through the current table.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	t := g.table.Load()
	if t == nil {
		t, _ = g.current()
	}
	r, _ = reqinfo.Ensure(r)
	t.handler.ServeHTTP(w, r)
}

// Routes returns the routes of the current table, for inspection.
func (g *Gateway) Routes() []Route {
	t, _ := g.current()
	return append([]Route(nil), t.routes...)
}

// StatusOf returns the HTTP status the gateway answers for err: 503 for
// upstream.ErrNoEndpoints and an open breaker, 504 for timeouts, 499 when the
// client went away, 413 for an oversized body, 502 for other upstream
// failures. Errors may choose their own status by implementing
// HTTPStatus() int.
func StatusOf(err error) int { return problem.Status(err) }

// WriteError answers r with the RFC 9457 problem for err (see [StatusOf]),
// with Retry-After where the error suggests one. It writes nothing when the
// client went away.
func WriteError(w http.ResponseWriter, r *http.Request, err error) { problem.WriteError(w, r, err) }

// WriteProblem answers r with an RFC 9457 problem of the given status and
// detail, carrying the request ID. Custom middleware use it so that every
// response the gateway makes has one shape.
func WriteProblem(w http.ResponseWriter, r *http.Request, status int, detail string) {
	problem.Write(w, r, status, detail)
}
