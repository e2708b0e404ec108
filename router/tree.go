package router

import (
	"net/http"
	"sort"
	"strings"
)

// mapThreshold is the number of literal children above which a node indexes
// them in a [table] (or, when their keys cluster, a map) instead of scanning
// a slice.
const mapThreshold = 8

// node is one position in the segment trie of one host (or of the host-less
// routes). Children are tried in precedence order: literal, then single
// wildcard, then the multi wildcard of this node.
type node struct {
	lit    string // this node's literal (unescaped) when it is a literal child
	lits   []*node
	litMap map[string]*node // set when len(lits) > mapThreshold and tab is nil
	tab    *table           // set when len(lits) > mapThreshold, if it fits
	wild   *node            // {x}
	multi  *leaf            // {x...} or trailing slash, ending here
	end    *leaf            // patterns whose last segment is this node
}

// leaf holds the routes of one path shape, grouped by method and pre-sorted
// by precedence (more matchers, higher priority, earlier registration).
type leaf struct {
	groups []methodGroup // method-specific routes, sorted by method
	any    []*entry      // method-less routes
}

type methodGroup struct {
	method  string
	entries []*entry
}

// entry is one compiled route.
type entry struct {
	route    *Route
	index    int
	pat      *pattern
	names    []string
	headers  []matcher
	query    []matcher
	nmatch   int
	priority int
	setKey   string // canonical matcher set, for conflicts
}

func (e *entry) matches(r *http.Request) bool {
	for i := range e.headers {
		if !e.headers[i].matchHeader(r.Header) {
			return false
		}
	}
	if len(e.query) > 0 {
		raw := ""
		if r.URL != nil {
			raw = r.URL.RawQuery
		}
		for i := range e.query {
			if !e.query[i].matchQuery(raw) {
				return false
			}
		}
	}
	return true
}

// precedes reports whether a wins over b among routes of the same leaf and
// method group.
func precedes(a, b *entry) bool {
	if a.nmatch != b.nmatch {
		return a.nmatch > b.nmatch
	}
	if a.priority != b.priority {
		return a.priority > b.priority
	}
	return a.index < b.index
}

// insert adds e under n following its path segments and returns the leaf
// list it joined.
func (n *node) insert(e *entry) *leaf {
	for _, s := range e.pat.segs {
		switch s.kind {
		case segLit:
			// litMap indexes every child while building, so that
			// inserting is linear in the number of routes; finish
			// drops it for nodes small enough to scan.
			c := n.litMap[s.s]
			if c == nil {
				c = &node{lit: s.s}
				n.lits = append(n.lits, c)
				if n.litMap == nil {
					n.litMap = make(map[string]*node)
				}
				n.litMap[s.s] = c
			}
			n = c
		case segWild:
			if n.wild == nil {
				n.wild = &node{}
			}
			n = n.wild
		case segMulti:
			if n.multi == nil {
				n.multi = &leaf{}
			}
			return n.multi
		}
	}
	if n.end == nil {
		n.end = &leaf{}
	}
	return n.end
}

// finish sorts children and builds the lookup maps, recursively.
func (n *node) finish() {
	sort.Slice(n.lits, func(i, j int) bool { return n.lits[i].lit < n.lits[j].lit })
	if len(n.lits) <= mapThreshold {
		n.litMap = nil
	} else if t := newTable(n.litMap); t != nil {
		n.tab, n.litMap = t, nil
	}
	for _, c := range n.lits {
		c.finish()
	}
	if n.wild != nil {
		n.wild.finish()
	}
}

// child returns the literal child matching the escaped request segment seg;
// esc reports that the request path holds a '%' somewhere. It does not
// allocate: an escaped segment is decoded into a stack buffer.
func (n *node) child(seg string, esc bool) *node {
	if len(n.lits) == 0 {
		return nil
	}
	if !esc || strings.IndexByte(seg, '%') < 0 {
		if n.tab != nil {
			return n.tab.get(seg)
		}
		if n.litMap != nil {
			return n.litMap[seg]
		}
		for _, c := range n.lits {
			if c.lit == seg {
				return c
			}
		}
		return nil
	}
	if n.tab != nil || n.litMap != nil {
		var buf [128]byte
		if k, ok := unescapeInto(buf[:], seg); ok {
			if n.tab != nil {
				return n.tab.getBytes(buf[:k])
			}
			return n.litMap[string(buf[:k])]
		}
	}
	for _, c := range n.lits {
		if eqUnescaped(seg, c.lit, false) {
			return c
		}
	}
	return nil
}

// request is the per-lookup state. It lives on the caller's stack.
type request struct {
	r      *http.Request
	method string
	esc    bool // the path holds a '%'
	vals   *[MaxParams]string
}

// lookup finds the first route, in precedence order, matching the path rem
// (the escaped path after the slash that precedes the current segment);
// done reports that no segment is left. c is the number of values captured
// so far. It returns the entry and the number of captured values.
//
// The walk is depth-first: a literal child first, then the single wildcard
// child, then this node's multi wildcard. It backtracks when a subtree has
// no route for this method, headers and query, so a less specific route is
// found when the more specific one's conditions fail.
func (n *node) lookup(q *request, rem string, done bool, c int) (*entry, int) {
	if done {
		if n.end != nil {
			if e := n.end.pick(q); e != nil {
				return e, c
			}
		}
		return nil, 0
	}
	// A plain loop beats strings.IndexByte's vectorised call on the short
	// segments of real paths.
	seg, next, more := rem, "", false
	for i := 0; i < len(rem); i++ {
		if rem[i] == '/' {
			seg, next, more = rem[:i], rem[i+1:], true
			break
		}
	}
	if ch := n.child(seg, q.esc); ch != nil {
		if e, k := ch.lookup(q, next, !more, c); e != nil {
			return e, k
		}
	}
	if n.wild != nil && seg != "" && c < MaxParams {
		q.vals[c] = seg
		if e, k := n.wild.lookup(q, next, !more, c+1); e != nil {
			return e, k
		}
	}
	if n.multi != nil {
		if e := n.multi.pick(q); e != nil {
			if c < MaxParams {
				q.vals[c] = rem
				c++
			}
			return e, c
		}
	}
	return nil, 0
}

// pick returns the first entry of l that matches q: routes for exactly the
// request's method, then (for HEAD) routes for GET, then method-less routes.
func (l *leaf) pick(q *request) *entry {
	if len(l.groups) > 0 {
		if e := l.pickMethod(q, q.method); e != nil {
			return e
		}
		if q.method == http.MethodHead {
			if e := l.pickMethod(q, http.MethodGet); e != nil {
				return e
			}
		}
	}
	for _, e := range l.any {
		if e.matches(q.r) {
			return e
		}
	}
	return nil
}

func (l *leaf) pickMethod(q *request, method string) *entry {
	for i := range l.groups {
		g := &l.groups[i]
		if g.method != method {
			continue
		}
		for _, e := range g.entries {
			if e.matches(q.r) {
				return e
			}
		}
		return nil
	}
	return nil
}

// allowed adds to set the methods of every route whose host, path, headers
// and query match, exploring every branch (the 405 path only).
func (n *node) allowed(r *http.Request, rem string, done bool, set map[string]bool) {
	if done {
		if n.end != nil {
			n.end.allowed(r, set)
		}
		return
	}
	seg, next, more := rem, "", false
	if i := strings.IndexByte(rem, '/'); i >= 0 {
		seg, next, more = rem[:i], rem[i+1:], true
	}
	if ch := n.child(seg, true); ch != nil {
		ch.allowed(r, next, !more, set)
	}
	if n.wild != nil && seg != "" {
		n.wild.allowed(r, next, !more, set)
	}
	if n.multi != nil {
		n.multi.allowed(r, set)
	}
}

func (l *leaf) allowed(r *http.Request, set map[string]bool) {
	for i := range l.groups {
		g := &l.groups[i]
		for _, e := range g.entries {
			if e.matches(r) {
				set[g.method] = true
				break
			}
		}
	}
}

// add places e in l, keeping precedence order, and returns the entry it
// conflicts with (same method, matcher set and priority), if any.
func (l *leaf) add(e *entry) *entry {
	list := &l.any
	if m := e.pat.method; m != "" {
		i := sort.Search(len(l.groups), func(i int) bool { return l.groups[i].method >= m })
		if i == len(l.groups) || l.groups[i].method != m {
			l.groups = append(l.groups, methodGroup{})
			copy(l.groups[i+1:], l.groups[i:])
			l.groups[i] = methodGroup{method: m}
		}
		list = &l.groups[i].entries
	}
	for _, o := range *list {
		if o.priority == e.priority && o.setKey == e.setKey {
			return o
		}
	}
	i := sort.Search(len(*list), func(i int) bool { return precedes(e, (*list)[i]) })
	*list = append(*list, nil)
	copy((*list)[i+1:], (*list)[i:])
	(*list)[i] = e
	return nil
}
