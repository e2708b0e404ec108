package middleware

import (
	"net/http"

	"github.com/gatewaykit/gateway/internal/respwriter"
)

// HeaderOps are the header changes applied to one message, in this order:
// Remove, then Set, then Add. Header names are matched case-insensitively.
// The zero value changes nothing.
type HeaderOps struct {
	// Remove lists header names to delete. Nil: none.
	Remove []string
	// Set replaces each named header with the given values. Nil: none.
	Set http.Header
	// Add appends the given values to each named header, keeping values
	// already there. Nil: none.
	Add http.Header
}

// HeaderRules configures [Headers]. Headers copies the rules when called;
// later changes to the maps and slices have no effect.
type HeaderRules struct {
	// Request changes the headers of the request passed on (and so sent
	// upstream). Setting "Host" changes the request's Host; other
	// operations on Host are ignored, as net/http keeps Host out of the
	// header map. The zero value changes nothing.
	Request HeaderOps
	// Response changes the headers of the response, just before its status
	// is sent, so they apply to responses of the next handler and to
	// problem responses alike. The zero value changes nothing.
	Response HeaderOps
}

type compiledOps struct {
	remove []string
	set    http.Header
	add    http.Header
	host   string // Set "Host", when given
}

func compileOps(o HeaderOps, what string) compiledOps {
	var c compiledOps
	for _, k := range o.Remove {
		checkHeaderName(k, what)
		c.remove = append(c.remove, http.CanonicalHeaderKey(k))
	}
	if len(o.Set) > 0 {
		c.set = make(http.Header, len(o.Set))
		for k, vs := range o.Set {
			checkHeaderName(k, what)
			for _, v := range vs {
				checkHeaderValue(k, v, what)
			}
			ck := http.CanonicalHeaderKey(k)
			if ck == "Host" {
				if len(vs) > 0 {
					c.host = vs[0]
				}
				continue
			}
			c.set[ck] = append([]string(nil), vs...)
		}
	}
	if len(o.Add) > 0 {
		c.add = make(http.Header, len(o.Add))
		for k, vs := range o.Add {
			checkHeaderName(k, what)
			for _, v := range vs {
				checkHeaderValue(k, v, what)
			}
			c.add[http.CanonicalHeaderKey(k)] = append([]string(nil), vs...)
		}
	}
	return c
}

func (c *compiledOps) empty() bool {
	return len(c.remove) == 0 && len(c.set) == 0 && len(c.add) == 0 && c.host == ""
}

func (c *compiledOps) apply(h http.Header) {
	for _, k := range c.remove {
		delete(h, k)
	}
	for k, vs := range c.set {
		// A fresh slice each time: the compiled rules must never be shared
		// with (and so be appended to through) a live header map.
		h[k] = append([]string(nil), vs...)
	}
	for k, vs := range c.add {
		h[k] = append(h[k], vs...)
	}
}

// Headers returns a middleware that adds, sets and removes request and
// response headers.
//
// Request changes are made on a clone of the header map in a shallow copy
// of the request: the inbound request is never modified. Response changes
// run in a hook of the project's one ResponseWriter wrapper, right before
// the status goes out; when the handler writes nothing, Headers sends the 200 itself so
// that the changes still apply. Hijacked connections get no response
// changes.
//
// Headers panics when a header name is not a valid token or a value holds
// CR, LF or NUL (a configuration error). The rules are copied; the
// middleware is safe for simultaneous use by multiple goroutines.
func Headers(rules HeaderRules) func(http.Handler) http.Handler {
	req := compileOps(rules.Request, "request")
	resp := compileOps(rules.Response, "response")
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !req.empty() {
				r2 := r.WithContext(r.Context())
				r2.Header = r.Header.Clone()
				if r2.Header == nil {
					r2.Header = make(http.Header)
				}
				req.apply(r2.Header)
				if req.host != "" {
					r2.Host = req.host
				}
				r = r2
			}
			if resp.empty() {
				next.ServeHTTP(w, r)
				return
			}
			rw := respwriter.New(w)
			rw.OnHeader = func(int) { resp.apply(rw.Header()) }
			next.ServeHTTP(rw, r)
			if !rw.WroteHeader() && !rw.Hijacked() {
				rw.WriteHeader(http.StatusOK)
			}
		})
	}
}

func checkHeaderName(k, what string) {
	if k == "" {
		panic("middleware: empty " + what + " header name")
	}
	for i := 0; i < len(k); i++ {
		if !isTokenChar(k[i]) {
			panic("middleware: invalid " + what + " header name " + k)
		}
	}
}

func checkHeaderValue(k, v, what string) {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c == '\r' || c == '\n' || c == 0 {
			panic("middleware: invalid " + what + " header value for " + k)
		}
	}
}
