package middleware

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gatewaykit/gateway/internal/problem"
	"github.com/gatewaykit/gateway/internal/respwriter"
)

// CORSConfig configures [CORS]. CORS compiles it when called; later
// changes to the config or its slices have no effect.
type CORSConfig struct {
	// AllowedOrigins lists the origins that may make cross-origin requests:
	// exact origins ("https://app.example.com", "http://localhost:3000"),
	// "*" for any origin, or patterns with "*" as the whole left-most host
	// label ("https://*.example.com"), which match any subdomain at any
	// depth but not the apex. Matching is case-insensitive. The origin
	// "null" (sandboxed documents, file: URLs) matches only "*" or an exact
	// "null" entry, which is rarely wise. Empty (the default): no origin is
	// allowed.
	AllowedOrigins []string
	// AllowedMethods lists the methods a preflight may ask for, besides the
	// CORS-safelisted GET, HEAD and POST, which are always allowed. Methods
	// are case-sensitive, as in the Fetch standard. Empty: only those three.
	AllowedMethods []string
	// AllowedHeaders lists the request headers a preflight may ask for,
	// case-insensitively, or "*" for any. Note that browsers ask for
	// Content-Type unless its value is a form or plain-text type, so JSON
	// APIs list it. Empty: none.
	AllowedHeaders []string
	// ExposedHeaders lists the response headers scripts may read besides
	// the CORS-safelisted ones. Empty: none.
	ExposedHeaders []string
	// AllowCredentials lets browsers send cookies and HTTP authentication
	// cross-origin and read the response. The allowed origin is then always
	// echoed, never "*"; with "*" in AllowedOrigins this lets every web page
	// make credentialed requests, which is almost never what you want.
	// Zero: credentials are not allowed.
	AllowCredentials bool
	// MaxAge is how long browsers may cache a preflight result, sent in
	// whole seconds. Zero: no Access-Control-Max-Age (browsers use 5 s).
	MaxAge time.Duration
	// AllowPrivateNetwork answers Private Network Access preflights
	// (Access-Control-Request-Private-Network: true) with permission, for
	// gateways on private addresses reached from public pages. Zero: such
	// preflights are refused.
	AllowPrivateNetwork bool
}

type originPattern struct{ prefix, suffix string }

type cors struct {
	exact        map[string]bool
	patterns     []originPattern
	anyOrigin    bool
	methods      map[string]bool
	anyHeader    bool
	headers      map[string]bool
	exposed      string
	credentials  bool
	maxAge       string
	privateNet   bool
	varyOnOrigin bool
}

// CORS returns a middleware that implements Cross-Origin Resource Sharing
// as the Fetch standard's CORS protocol describes it.
//
// A preflight (OPTIONS with Origin and Access-Control-Request-Method) is
// answered by the middleware without calling the next handler: 204 with
// Access-Control-Allow-Origin, -Methods (the requested method), -Headers
// (the requested headers), -Credentials, -Max-Age and, when asked and
// allowed, -Private-Network. A preflight whose origin, method, headers or
// private-network request is not allowed is answered 403 problem+json
// without CORS headers: the browser fails the request either way, and a
// 403 makes the refusal visible in logs and metrics (Kong answers 200
// without headers, which hides it).
//
// An actual request from an allowed origin goes to the next handler, and
// its response gets Access-Control-Allow-Origin (the origin echoed, or "*"
// when any origin is allowed without credentials), -Credentials and
// -Expose-Headers, set just before the status is sent so that they replace
// any the upstream sent. A request from an origin that is not allowed is
// still served (CORS is enforced by the browser, not the server), but its
// response carries no Access-Control-Allow-* headers, upstream ones
// included. Whenever the answer depends on the origin, responses carry
// "Vary: Origin", also without an Origin header, so that shared caches keep
// variants apart.
//
// CORS panics when an origin entry is malformed (a configuration error).
// The middleware is safe for simultaneous use by multiple goroutines.
func CORS(cfg CORSConfig) func(http.Handler) http.Handler {
	c := &cors{
		exact:       make(map[string]bool),
		methods:     map[string]bool{"GET": true, "HEAD": true, "POST": true},
		headers:     make(map[string]bool),
		credentials: cfg.AllowCredentials,
		privateNet:  cfg.AllowPrivateNetwork,
	}
	for _, o := range cfg.AllowedOrigins {
		o = strings.ToLower(strings.TrimSpace(o))
		switch {
		case o == "*":
			c.anyOrigin = true
		case strings.Contains(o, "*"):
			scheme, host, ok := strings.Cut(o, "://")
			if !ok || scheme == "" || !strings.HasPrefix(host, "*.") || strings.Count(o, "*") != 1 || len(host) < 3 || strings.ContainsAny(host, "/?#") {
				panic("middleware: invalid CORS origin pattern " + o)
			}
			c.patterns = append(c.patterns, originPattern{prefix: scheme + "://", suffix: host[1:]})
		case o == "null":
			c.exact[o] = true
		default:
			scheme, host, ok := strings.Cut(o, "://")
			if !ok || scheme == "" || host == "" || strings.ContainsAny(host, "/?#") {
				panic("middleware: invalid CORS origin " + o)
			}
			c.exact[o] = true
		}
	}
	for _, m := range cfg.AllowedMethods {
		m = strings.TrimSpace(m)
		// Fetch normalizes these methods to upper case; others stay as sent.
		switch u := strings.ToUpper(m); u {
		case "DELETE", "GET", "HEAD", "OPTIONS", "POST", "PUT":
			m = u
		}
		c.methods[m] = true
	}
	for _, h := range cfg.AllowedHeaders {
		h = strings.ToLower(strings.TrimSpace(h))
		if h == "*" {
			c.anyHeader = true
			continue
		}
		checkHeaderName(h, "CORS allowed")
		c.headers[h] = true
	}
	for _, h := range cfg.ExposedHeaders {
		checkHeaderName(strings.TrimSpace(h), "CORS exposed")
	}
	c.exposed = strings.Join(cfg.ExposedHeaders, ", ")
	if cfg.MaxAge > 0 {
		c.maxAge = strconv.FormatInt(int64(cfg.MaxAge/time.Second), 10)
	}
	c.varyOnOrigin = !c.anyOrigin || c.credentials
	return c.middleware
}

func (c *cors) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		origins := r.Header["Origin"]
		if len(origins) == 0 {
			if c.varyOnOrigin {
				h.Add("Vary", "Origin")
			}
			next.ServeHTTP(w, r)
			return
		}
		origin := origins[0]
		allowed := len(origins) == 1 && c.allowOrigin(origin)
		if r.Method == http.MethodOptions && len(r.Header["Access-Control-Request-Method"]) > 0 {
			c.preflight(w, r, origin, allowed)
			return
		}
		if c.varyOnOrigin {
			h.Add("Vary", "Origin")
		}
		rw := respwriter.New(w)
		rw.OnHeader = func(int) {
			h := rw.Header()
			delete(h, "Access-Control-Allow-Origin")
			delete(h, "Access-Control-Allow-Credentials")
			delete(h, "Access-Control-Expose-Headers")
			if !allowed {
				return
			}
			c.setOrigin(h, origin)
			if c.exposed != "" {
				h["Access-Control-Expose-Headers"] = []string{c.exposed}
			}
		}
		next.ServeHTTP(rw, r)
		if !rw.WroteHeader() && !rw.Hijacked() {
			rw.WriteHeader(http.StatusOK)
		}
	})
}

func (c *cors) setOrigin(h http.Header, origin string) {
	if c.anyOrigin && !c.credentials {
		h["Access-Control-Allow-Origin"] = []string{"*"}
	} else {
		h["Access-Control-Allow-Origin"] = []string{origin}
	}
	if c.credentials {
		h["Access-Control-Allow-Credentials"] = []string{"true"}
	}
}

func (c *cors) preflight(w http.ResponseWriter, r *http.Request, origin string, allowed bool) {
	h := w.Header()
	h.Add("Vary", "Origin, Access-Control-Request-Method, Access-Control-Request-Headers")
	method := r.Header.Get("Access-Control-Request-Method")
	reqHeaders := strings.Join(r.Header["Access-Control-Request-Headers"], ",")
	pna := strings.EqualFold(r.Header.Get("Access-Control-Request-Private-Network"), "true")
	switch {
	case !allowed:
		problem.Write(w, r, http.StatusForbidden, "CORS: origin not allowed")
		return
	case !c.methods[method]:
		problem.Write(w, r, http.StatusForbidden, "CORS: method not allowed")
		return
	case !c.allowHeaders(reqHeaders):
		problem.Write(w, r, http.StatusForbidden, "CORS: request headers not allowed")
		return
	case pna && !c.privateNet:
		problem.Write(w, r, http.StatusForbidden, "CORS: private network access not allowed")
		return
	}
	c.setOrigin(h, origin)
	h["Access-Control-Allow-Methods"] = []string{method}
	if reqHeaders = trimOWS(reqHeaders); reqHeaders != "" {
		h["Access-Control-Allow-Headers"] = []string{reqHeaders}
	}
	if c.maxAge != "" {
		h["Access-Control-Max-Age"] = []string{c.maxAge}
	}
	if pna {
		h["Access-Control-Allow-Private-Network"] = []string{"true"}
	}
	h["Content-Length"] = []string{"0"}
	w.WriteHeader(http.StatusNoContent)
}

// allowHeaders reports whether every header in the comma-separated list is
// allowed.
func (c *cors) allowHeaders(list string) bool {
	if c.anyHeader {
		return true
	}
	for list != "" {
		var name string
		if i := strings.IndexByte(list, ','); i >= 0 {
			name, list = list[:i], list[i+1:]
		} else {
			name, list = list, ""
		}
		name = trimOWS(name)
		if name == "" {
			continue
		}
		if !c.headers[strings.ToLower(name)] {
			return false
		}
	}
	return true
}

func (c *cors) allowOrigin(origin string) bool {
	if c.anyOrigin {
		return true
	}
	o := strings.ToLower(origin)
	if c.exact[o] {
		return true
	}
	for _, p := range c.patterns {
		if len(o) <= len(p.prefix)+len(p.suffix) || !strings.HasPrefix(o, p.prefix) || !strings.HasSuffix(o, p.suffix) {
			continue
		}
		sub := o[len(p.prefix) : len(o)-len(p.suffix)]
		if validSubdomain(sub) {
			return true
		}
	}
	return false
}

// validSubdomain reports whether s is one or more dot-separated DNS labels
// of letters, digits and hyphens.
func validSubdomain(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' {
		return false
	}
	prev := byte(0)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-':
		case c == '.' && prev != '.':
		default:
			return false
		}
		prev = c
	}
	return true
}
