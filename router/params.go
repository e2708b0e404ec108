package router

import (
	"iter"
	"net/http"
)

// Params holds the wildcard values of a match: the names of the matched
// route's pattern and, for each, the segment(s) of the request path it
// matched. It is a plain value (a fixed array, no pointers into the heap
// beyond the request's own path and the route table), so [Router.Match]
// returns it without allocating.
//
// Values are kept in their escaped form, as they appear in the request's
// path, and are unescaped on access the way
// [net/http.ServeMux] unescapes path values: a %2F inside a segment becomes
// "/" in the value but never separated segments while matching. Accessors
// allocate only for values that contain a percent-escape.
//
// The zero Params is empty. A Params is safe for simultaneous reads.
type Params struct {
	names []string // the route's wildcard names, shared, read-only
	vals  [MaxParams]string
	n     int
}

// Len returns the number of named wildcards.
func (p *Params) Len() int { return p.n }

// Name returns the name of the i'th wildcard, in pattern order. It panics if
// i is out of range, like a slice index.
func (p *Params) Name(i int) string { return p.names[:p.n][i] }

// Value returns the unescaped value of the i'th wildcard. It panics if i is
// out of range, like a slice index.
func (p *Params) Value(i int) string { return unescapeOrRaw(p.vals[:p.n][i]) }

// RawValue returns the i'th value before unescaping: as it appears in
// r.URL.EscapedPath(), except that bytes the request's path did not need to
// escape (a space in a URL built by hand) may appear decoded.
func (p *Params) RawValue(i int) string { return p.vals[:p.n][i] }

// Get returns the unescaped value of the wildcard called name and whether
// the pattern has such a wildcard. A {name...} wildcard may match an empty
// value, so use the boolean to tell "absent" from "empty".
func (p *Params) Get(name string) (string, bool) {
	for i := 0; i < p.n; i++ {
		if p.names[i] == name {
			return unescapeOrRaw(p.vals[i]), true
		}
	}
	return "", false
}

// All returns an iterator over the (name, unescaped value) pairs in pattern
// order.
func (p *Params) All() iter.Seq2[string, string] {
	return func(yield func(string, string) bool) {
		for i := 0; i < p.n; i++ {
			if !yield(p.names[i], unescapeOrRaw(p.vals[i])) {
				return
			}
		}
	}
}

// Apply sets every wildcard value on r with [net/http.Request.SetPathValue],
// so handlers read them with r.PathValue. It does not set r.Pattern;
// [Router.ServeHTTP] does that. SetPathValue allocates a small map on a
// request that was not routed by a ServeMux; that is net/http's cost.
func (p *Params) Apply(r *http.Request) {
	for i := 0; i < p.n; i++ {
		r.SetPathValue(p.names[i], unescapeOrRaw(p.vals[i]))
	}
}
