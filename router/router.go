package router

import (
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/gatewaykit/gateway/internal/problem"
)

// Errors returned by [New], wrapped with the route's index, name and the
// offending field; test for them with [errors.Is].
var (
	// ErrInvalidPattern is returned for a Route.Pattern that does not parse.
	ErrInvalidPattern = errors.New("router: invalid pattern")
	// ErrInvalidMatcher is returned for a bad entry in Route.Headers or
	// Route.Query.
	ErrInvalidMatcher = errors.New("router: invalid matcher")
	// ErrNilHandler is returned for a Route without a Handler.
	ErrNilHandler = errors.New("router: nil handler")
	// ErrConflict is returned when two routes are equal in every respect
	// (host, path shape, method, matcher set and priority), so neither could
	// ever be preferred; the message names both patterns.
	ErrConflict = errors.New("router: conflicting routes")
)

// Route is one entry of the routing table.
type Route struct {
	// Pattern is a [net/http.ServeMux] pattern, "[METHOD ][HOST]/[PATH]",
	// with {name}, {name...} and {$} wildcards. Required. See the package
	// documentation for the few differences from ServeMux.
	Pattern string
	// Headers must all match the request's headers. Nil means no condition.
	Headers []Matcher
	// Query must all match the request's query parameters. Nil means no
	// condition.
	Query []Matcher
	// Priority breaks ties between equally specific routes: higher wins.
	// Zero is the default priority.
	Priority int
	// Handler serves the requests the route matches. Required.
	Handler http.Handler
	// Name labels the route in logs and the admin API. Empty means Pattern.
	Name string
}

// Config configures a [Router].
type Config struct {
	// Routes is the routing table. Order matters only as the last
	// tie-breaker (earlier wins). Nil means every request gets NotFound.
	Routes []Route
	// NotFound serves requests no route matches. Nil means a 404
	// application/problem+json response.
	NotFound http.Handler
	// MethodNotAllowed serves requests whose host and path (and headers and
	// query) match some route, but not for their method. The Allow header
	// listing the methods that would match is set before it is called. Nil
	// means a 405 application/problem+json response.
	MethodNotAllowed http.Handler
}

// Router is a compiled, immutable routing table: a segment trie per host
// plus one for host-less routes, with the candidate routes of each path
// shape pre-sorted by precedence. Build it with [New]; to change routes,
// build a new Router and swap it in.
//
// A Router is safe for simultaneous use by multiple goroutines.
type Router struct {
	routes           []Route
	hosts            map[string]*node
	hostTab          *table     // hosts as a table, nil when they cluster (then hosts is used)
	hostLens         uint64     // bit len&63 set for every host in hosts: skips most misses
	wildHosts        []wildHost // "*.example.com" trees, longest suffix first
	root             *node      // host-less routes
	notFound         http.Handler
	methodNotAllowed http.Handler
}

var _ http.Handler = (*Router)(nil)

// New compiles cfg into a Router. It copies cfg.Routes, parses every
// pattern and compiles every matcher's Regexp once. Its errors wrap
// [ErrInvalidPattern], [ErrInvalidMatcher], [ErrNilHandler] or
// [ErrConflict] and name the route and the field.
func New(cfg Config) (*Router, error) {
	rt := &Router{
		routes:           append([]Route(nil), cfg.Routes...),
		root:             &node{},
		notFound:         cfg.NotFound,
		methodNotAllowed: cfg.MethodNotAllowed,
	}
	for i := range rt.routes {
		r := &rt.routes[i]
		if r.Name == "" {
			r.Name = r.Pattern
		}
		where := routeRef{i, r.Name}
		pat, err := parsePattern(r.Pattern)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: Pattern %q: %v", ErrInvalidPattern, where, r.Pattern, err)
		}
		if r.Handler == nil {
			return nil, fmt.Errorf("%w: %s: Handler is nil", ErrNilHandler, where)
		}
		hs, err := compileMatchers(r.Headers, true)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: Headers%v", ErrInvalidMatcher, where, err)
		}
		qs, err := compileMatchers(r.Query, false)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: Query%v", ErrInvalidMatcher, where, err)
		}
		e := &entry{
			route:    r,
			index:    i,
			pat:      pat,
			names:    pat.names,
			headers:  hs,
			query:    qs,
			nmatch:   len(hs) + len(qs),
			priority: r.Priority,
			setKey:   "H:" + matcherSetKey(hs) + "\x01Q:" + matcherSetKey(qs),
		}
		tree := rt.root
		if suffix, ok := strings.CutPrefix(pat.host, "*"); ok {
			tree = nil
			for _, w := range rt.wildHosts {
				if w.suffix == suffix {
					tree = w.tree
				}
			}
			if tree == nil {
				tree = &node{}
				rt.wildHosts = append(rt.wildHosts, wildHost{suffix: suffix, tree: tree})
			}
		} else if pat.host != "" {
			if rt.hosts == nil {
				rt.hosts = make(map[string]*node)
			}
			tree = rt.hosts[pat.host]
			if tree == nil {
				tree = &node{}
				rt.hosts[pat.host] = tree
				rt.hostLens |= 1 << (len(pat.host) & 63)
			}
		}
		if o := tree.insert(e).add(e); o != nil {
			return nil, fmt.Errorf("%w: %s: Pattern %q is equal to route %d (%q) pattern %q in host, path, method, matchers and priority",
				ErrConflict, where, r.Pattern, o.index, o.route.Name, o.route.Pattern)
		}
	}
	rt.root.finish()
	for _, n := range rt.hosts {
		n.finish()
	}
	if len(rt.hosts) > 0 {
		rt.hostTab = newTable(rt.hosts)
	}
	sort.SliceStable(rt.wildHosts, func(i, j int) bool { return len(rt.wildHosts[i].suffix) > len(rt.wildHosts[j].suffix) })
	for _, w := range rt.wildHosts {
		w.tree.finish()
	}
	return rt, nil
}

// routeRef formats as `route 3 ("name")` in error messages, lazily.
type routeRef struct {
	index int
	name  string
}

func (w routeRef) String() string { return fmt.Sprintf("route %d (%q)", w.index, w.name) }

// Routes returns a copy of the compiled routes, with Name defaulted, in
// registration order.
func (rt *Router) Routes() []Route {
	return append([]Route(nil), rt.routes...)
}

// Match returns the route that serves r, its wildcard values and true, or
// false when no route matches. It reads r.Host (port stripped, lower-cased;
// not r.URL.Host, as ServeMux), r.Method (empty means GET),
// r.URL.EscapedPath(), r.Header and r.URL.RawQuery, does not modify r and
// does not allocate, except in two rare cases: a decoded path holding a
// literal '%' without a usable RawPath (EscapedPath must re-escape it), and
// an escaped query value tested by a Regexp matcher. The returned *Route
// belongs to the Router and must not be modified.
//
// Match does not clean the path: "..", "//" and escaped separators must be
// rejected or normalised before it. An escaped slash (%2F) never separates
// segments.
func (rt *Router) Match(r *http.Request) (*Route, Params, bool) {
	var p Params
	e := rt.lookup(r, &p)
	if e == nil {
		return nil, Params{}, false
	}
	return e.route, p, true
}

func (rt *Router) lookup(r *http.Request, p *Params) *entry {
	path := requestPath(r)
	if path == "" || path[0] != '/' {
		return nil
	}
	q := request{r: r, method: r.Method, esc: strings.IndexByte(path, '%') >= 0, vals: &p.vals}
	if q.method == "" {
		q.method = http.MethodGet
	}
	if rt.hosts != nil {
		if tree := rt.hostTree(r.Host); tree != nil {
			if e, n := tree.lookup(&q, path[1:], false, 0); e != nil {
				p.names, p.n = e.names, min(n, len(e.names))
				return e
			}
		}
	}
	if len(rt.wildHosts) > 0 {
		host := canonicalHost(r.Host)
		for i := range rt.wildHosts {
			w := &rt.wildHosts[i]
			if !w.matches(host) {
				continue
			}
			if e, n := w.tree.lookup(&q, path[1:], false, 0); e != nil {
				p.names, p.n = e.names, min(n, len(e.names))
				return e
			}
		}
	}
	if e, n := rt.root.lookup(&q, path[1:], false, 0); e != nil {
		p.names, p.n = e.names, min(n, len(e.names))
		return e
	}
	return nil
}

// requestPath returns the path to match: what r.URL.EscapedPath() returns,
// computed without allocating in the common cases.
//
// RawPath is used when it is a valid encoding of Path (EscapedPath's rule,
// checked here without EscapedPath's decoding allocation). Otherwise Path is
// used when it holds no '%': segment-wise unescaping then gives the same
// literals and values as the escaped form, because a decoded path differs
// from its escaping only by bytes that decode back to themselves, never by a
// '/'. Only a Path with a literal '%' (a request for "%25") pays for
// EscapedPath.
func requestPath(r *http.Request) string {
	u := r.URL
	if u == nil {
		return ""
	}
	p := u.Path
	if u.RawPath != "" && validRawPath(u.RawPath) && eqUnescaped(u.RawPath, u.Path, false) {
		p = u.RawPath
	} else if strings.IndexByte(p, '%') >= 0 {
		p = u.EscapedPath()
	}
	if p == "" {
		return "/"
	}
	return p
}

// validRawPath mirrors net/url's validEncoded for paths: only bytes that
// may appear unescaped in a path, and well-formed escapes.
func validRawPath(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x80 || !rawPathOK[c] {
			return false
		}
	}
	return validEscapes(s)
}

var rawPathOK = func() (t [128]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "-_.~$&+,/:;=@!'()*[]%" {
		t[c] = true
	}
	return t
}()

// wildHost is the trie of the routes for "*.suffix" hosts.
type wildHost struct {
	suffix string // ".example.com", lower-case
	tree   *node
}

// matches reports whether host (canonical, any case) is a subdomain of the
// suffix: at least one non-empty label before it.
func (w *wildHost) matches(host string) bool {
	n := len(host) - len(w.suffix)
	if n < 1 {
		return false
	}
	for i := 0; i < len(w.suffix); i++ {
		c := host[n+i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != w.suffix[i] {
			return false
		}
	}
	return true
}

// hostTree returns the trie for the request's host, or nil.
func (rt *Router) hostTree(host string) *node {
	host = canonicalHost(host)
	if host == "" || rt.hostLens&(1<<(len(host)&63)) == 0 {
		return nil
	}
	for i := 0; i < len(host); i++ {
		if c := host[i]; 'A' <= c && c <= 'Z' {
			var buf [256]byte
			if len(host) > len(buf) {
				return nil
			}
			for j := 0; j < len(host); j++ {
				c := host[j]
				if 'A' <= c && c <= 'Z' {
					c += 'a' - 'A'
				}
				buf[j] = c
			}
			if rt.hostTab != nil {
				return rt.hostTab.getBytes(buf[:len(host)])
			}
			return rt.hosts[string(buf[:len(host)])]
		}
	}
	if rt.hostTab != nil {
		return rt.hostTab.get(host)
	}
	return rt.hosts[host]
}

// canonicalHost strips the port, IPv6 brackets and a trailing dot from a
// Host header value, without allocating. Case is left to the caller.
func canonicalHost(h string) string {
	if strings.HasPrefix(h, "[") {
		if i := strings.IndexByte(h, ']'); i > 0 {
			return h[1:i]
		}
		return h
	}
	if i := strings.LastIndexByte(h, ':'); i >= 0 && strings.IndexByte(h, ':') == i {
		h = h[:i]
	}
	return strings.TrimSuffix(h, ".")
}

// ServeHTTP dispatches r to the matching route's Handler after setting
// r.Pattern to the route's Pattern and the wildcard values with
// r.SetPathValue, as [net/http.ServeMux] does. Without a match it answers 405
// with an Allow header when the path matches routes for other methods, else
// 404, through Config.MethodNotAllowed / Config.NotFound when set.
func (rt *Router) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var p Params
	if e := rt.lookup(r, &p); e != nil {
		r.Pattern = e.route.Pattern
		p.Apply(r)
		e.route.Handler.ServeHTTP(w, r)
		return
	}
	if allow := rt.Allowed(r); len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		if rt.methodNotAllowed != nil {
			rt.methodNotAllowed.ServeHTTP(w, r)
			return
		}
		problem.Write(w, r, http.StatusMethodNotAllowed, "the resource does not support method "+r.Method)
		return
	}
	if rt.notFound != nil {
		rt.notFound.ServeHTTP(w, r)
		return
	}
	problem.Write(w, r, http.StatusNotFound, "no route matches the request")
}

// Allowed returns, sorted, the methods for which some route would match r
// if only its method differed (HEAD is added when GET is present), or nil.
// Method-less routes are not listed: they match every method. It is the
// basis of the 405 response and allocates; Match does not call it.
func (rt *Router) Allowed(r *http.Request) []string {
	path := requestPath(r)
	if path == "" || path[0] != '/' {
		return nil
	}
	set := make(map[string]bool)
	if rt.hosts != nil {
		if tree := rt.hostTree(r.Host); tree != nil {
			tree.allowed(r, path[1:], false, set)
		}
	}
	host := canonicalHost(r.Host)
	for i := range rt.wildHosts {
		if w := &rt.wildHosts[i]; w.matches(host) {
			w.tree.allowed(r, path[1:], false, set)
		}
	}
	rt.root.allowed(r, path[1:], false, set)
	if len(set) == 0 {
		return nil
	}
	if set[http.MethodGet] {
		set[http.MethodHead] = true
	}
	out := make([]string, 0, len(set))
	for m := range set {
		out = append(out, m)
	}
	sort.Strings(out)
	return out
}
