package cache

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatewaykit/gateway/internal/problem"
)

// use is what a stored response may be used for (RFC 9111 §4).
type use uint8

const (
	useValidate        use = iota // forward a conditional request (§4.3)
	useFresh                      // serve it (§4.2)
	useStale                      // serve it stale: the client allows (max-stale)
	useStaleRefreshing            // serve it stale and refresh (stale-while-revalidate)
)

func (c *Cache) serve(w http.ResponseWriter, r *http.Request, next http.Handler) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
	case http.MethodOptions, http.MethodTrace:
		next.ServeHTTP(w, r)
		return
	default:
		c.serveUnsafe(w, r, next)
		return
	}
	if r.Header["Upgrade"] != nil || r.ContentLength != 0 ||
		r.Header["If-Match"] != nil || r.Header["If-Unmodified-Since"] != nil {
		// Upgrades, GETs with content and preconditions that could
		// fail with 412 go to the origin untouched.
		c.bypass(w, r, next, "bypass")
		return
	}
	rd := parseDirectives(r.Header["Cache-Control"])
	kb := keyBufs.Get().(*keyBuf)
	defer keyBufs.Put(kb)
	key := c.primaryKey(kb, r)
	now := c.now()

	e, vkey, err := c.lookup(r.Context(), key, r, now)
	if err != nil {
		// Fail open: a broken store must not take the service down.
		c.logger.WarnContext(r.Context(), "cache: store get failed", "err", err)
		e = nil
	}
	fwd := "uri-miss" // RFC 9211 §2.2: why the request goes upstream
	if e != nil {
		m := prepare(e)
		age := m.age(e, now)
		lifetime := c.lifetime(m)
		fwd = "stale"
		if age < lifetime && !m.dir.noCache {
			fwd = "request" // fresh, but the request's directives want more
		}
		switch c.usability(m, &rd, age, lifetime) {
		case useFresh:
			ageS := secondsOf(age)
			hv := m.hitValues(c.name, ageS, secondsOf(lifetime)-ageS)
			c.writeEntry(w, r, e, m, hv.ageV, hv.statusV)
			c.event(EventHit)
			return
		case useStale:
			c.writeStale(w, r, e, m, age, lifetime, "max-stale")
			c.event(EventStale)
			return
		case useStaleRefreshing:
			if c.enqueueRefresh(key, vkey, r, e, next) {
				c.writeStale(w, r, e, m, age, lifetime, "stale-while-revalidate")
				c.event(EventStale)
				return
			}
		}
	}
	if rd.onlyIfCached {
		problem.Write(w, r, http.StatusGatewayTimeout, "cache: no stored response for an only-if-cached request")
		return
	}
	if r.Method == http.MethodHead || r.Header["Range"] != nil {
		// A HEAD response is not stored, and a partial one neither:
		// forward both as they are.
		c.event(EventMiss)
		c.bypass(w, r, next, fwd)
		return
	}
	c.fill(w, r, next, key, e, rd, now, fwd)
}

// lookup returns the stored response for r under key, following a Vary
// record to the variant r selects; vkey is the variant's key.
func (c *Cache) lookup(ctx context.Context, key string, r *http.Request, now time.Time) (e *Entry, vkey string, err error) {
	if c.mem != nil {
		// The memory store's fast path takes the time the request
		// already read: the clock is slow on some VMs.
		e, err = c.mem.getAt(key, now.UnixNano())
	} else {
		e, err = c.store.Get(ctx, key)
	}
	if err != nil {
		if errors.Is(err, ErrMiss) {
			return nil, "", nil
		}
		return nil, "", err
	}
	if e.Status != 0 {
		return e, "", nil
	}
	names := prepare(e).vary
	if len(names) == 0 {
		return nil, "", nil
	}
	vkey = secondaryKey(key, names, r)
	var v *Entry
	if c.mem != nil {
		v, err = c.mem.getAt(vkey, now.UnixNano())
	} else {
		v, err = c.store.Get(ctx, vkey)
	}
	if err != nil {
		if errors.Is(err, ErrMiss) {
			return nil, vkey, nil
		}
		return nil, vkey, err
	}
	// §4.1: the variant's own Vary must name the same fields the key
	// was computed from.
	if v.Status == 0 || !slices.Equal(prepare(v).vary, names) {
		return nil, vkey, nil
	}
	return v, vkey, nil
}

// lifetime returns the freshness lifetime (§4.2.1), with the configured
// heuristic (§4.2.2) when the response has no explicit one.
func (c *Cache) lifetime(m *entryMeta) time.Duration {
	if m.explicit {
		return m.lifetime
	}
	if !m.heuristicOK {
		return 0
	}
	if m.hasLastMod {
		// §4.2.2: no more than a fraction (10%) of the time since
		// Last-Modified.
		return min(c.cfg.TTL, max(m.date.Sub(m.lastMod)/10, 0))
	}
	return c.cfg.TTL
}

// noStale reports whether the response forbids serving it stale: a shared
// cache obeys must-revalidate, proxy-revalidate and s-maxage (§5.2.2.2,
// §5.2.2.8, §5.2.2.10).
func noStale(m *entryMeta) bool {
	return m.dir.mustRevalidate || m.dir.proxyRevalidate || m.dir.sMaxAge >= 0
}

// usability decides how a stored response of the given age and freshness
// lifetime may answer a request with directives rd (§4, §4.2.4, §5.2.1).
func (c *Cache) usability(m *entryMeta, rd *directives, age, lifetime time.Duration) use {
	if m.dir.noCache || rd.noCache {
		return useValidate
	}
	if rd.maxAge >= 0 && age > seconds(rd.maxAge) {
		return useValidate
	}
	if rd.minFresh >= 0 && lifetime-age < seconds(rd.minFresh) {
		return useValidate
	}
	if age < lifetime {
		return useFresh
	}
	if noStale(m) {
		return useValidate
	}
	staleness := age - lifetime
	if rd.maxStaleAny || (rd.maxStale >= 0 && staleness <= seconds(rd.maxStale)) {
		return useStale
	}
	if m.dir.swr >= 0 && staleness <= seconds(m.dir.swr) {
		return useStaleRefreshing
	}
	return useValidate
}

// staleIfError reports whether the stale response may answer the request
// when validation fails (RFC 5861 §4).
func staleIfError(m *entryMeta, rd *directives, staleness time.Duration) bool {
	if noStale(m) {
		return false
	}
	window := max(m.dir.sie, rd.sie)
	return window >= 0 && staleness <= seconds(window)
}

func (c *Cache) writeStale(w http.ResponseWriter, r *http.Request, e *Entry, m *entryMeta, age, lifetime time.Duration, detail string) {
	// ttl is negative for a stale response (RFC 9211 §2.5).
	ttl := secondsOf(lifetime) - secondsOf(age)
	c.writeEntry(w, r, e, m, []string{strconv.FormatInt(secondsOf(age), 10)},
		m.statusValue(c.name+"; hit; ttl="+strconv.FormatInt(ttl, 10)+"; detail="+detail))
}

// writeEntry answers r from a stored response: a 304 when r's conditions
// match (RFC 9110 §13.2.2), a 206 for a satisfiable single range of a
// stored 200, else the stored response (without body for HEAD). The
// stored field slices are shared with w's header map read-only: net/http
// and well-behaved middleware replace or append to values, and the
// stored slices have no spare capacity, so appending copies.
func (c *Cache) writeEntry(w http.ResponseWriter, r *http.Request, e *Entry, m *entryMeta, ageV, statusV []string) {
	h := w.Header()
	if e.Status >= 200 && e.Status < 300 && notModified(r, m) {
		copyFields(h, m.notModified, m.names)
		h["Age"] = ageV
		h["Cache-Status"] = statusV
		w.WriteHeader(http.StatusNotModified)
		return
	}
	copyFields(h, m.fields, m.names)
	h["Age"] = ageV
	h["Cache-Status"] = statusV
	body := e.Body
	status := e.Status
	if r.Header["Range"] != nil && status == http.StatusOK && r.Method == http.MethodGet {
		start, end, ok, satisfiable := rangeOf(r, m, int64(len(body)))
		if ok && !satisfiable {
			for _, f := range m.fields {
				delete(h, f.k)
			}
			h.Set("Content-Range", "bytes */"+strconv.Itoa(len(body)))
			problem.Write(w, r, http.StatusRequestedRangeNotSatisfiable, "cache: range not satisfiable")
			return
		}
		if ok {
			h["Content-Range"] = []string{"bytes " + strconv.FormatInt(start, 10) + "-" +
				strconv.FormatInt(end, 10) + "/" + strconv.Itoa(len(body))}
			h["Content-Length"] = []string{strconv.FormatInt(end-start+1, 10)}
			body = body[start : end+1]
			status = http.StatusPartialContent
		}
	}
	w.WriteHeader(status)
	if r.Method != http.MethodHead && len(body) > 0 {
		_, _ = w.Write(body)
	}
}

func copyFields(h http.Header, fields []field, names map[string]struct{}) {
	// Fields an outer middleware already set (Vary: Origin from CORS) are
	// kept and the stored values added after them. There are usually
	// fewer of those than stored fields, so look them up in the stored
	// names rather than every stored field in h.
	var keep http.Header
	for k, old := range h {
		if _, ok := names[k]; ok && len(old) > 0 {
			if keep == nil {
				keep = make(http.Header, 2)
			}
			keep[k] = old
		}
	}
	for _, f := range fields {
		h[f.k] = f.v
	}
	for k, old := range keep {
		h[k] = append(old[:len(old):len(old)], h[k]...)
	}
}

// notModified evaluates If-None-Match, or If-Modified-Since when there is
// no If-None-Match, against the stored response (RFC 9110 §13.1.2,
// §13.1.3, §13.2.2).
func notModified(r *http.Request, m *entryMeta) bool {
	if inm := r.Header["If-None-Match"]; len(inm) > 0 {
		for _, line := range inm {
			for len(line) > 0 {
				var tag string
				tag, line = nextItem(line)
				tag = strings.TrimSpace(tag)
				if tag == "*" {
					return true
				}
				if m.etag != "" && weakMatch(tag, m.etag) {
					return true
				}
			}
		}
		return false
	}
	if ims := r.Header["If-Modified-Since"]; len(ims) > 0 && m.hasLastMod {
		t, err := http.ParseTime(ims[0])
		return err == nil && !m.lastMod.After(t)
	}
	return false
}

// weakMatch is the weak entity-tag comparison (RFC 9110 §8.8.3.2).
func weakMatch(a, b string) bool {
	return strings.TrimPrefix(a, "W/") == strings.TrimPrefix(b, "W/")
}

// rangeOf interprets r's Range for a stored representation of size bytes
// (RFC 9110 §14.2). ok is false when the range is to be ignored and the
// whole response sent: a multi-range, a malformed one, a unit other than
// bytes, or an If-Range that does not match. satisfiable is false for a
// valid range outside the representation (416).
func rangeOf(r *http.Request, m *entryMeta, size int64) (start, end int64, ok, satisfiable bool) {
	rh := r.Header["Range"]
	if len(rh) != 1 {
		return 0, 0, false, false
	}
	if ir := r.Header.Get("If-Range"); ir != "" {
		if strings.HasPrefix(ir, `"`) {
			// Strong comparison with a strong stored ETag.
			if m.etag == "" || strings.HasPrefix(m.etag, "W/") || ir != m.etag {
				return 0, 0, false, false
			}
		} else {
			t, err := http.ParseTime(ir)
			if err != nil || !m.hasLastMod || !t.Equal(m.lastMod) {
				return 0, 0, false, false
			}
		}
	}
	spec, found := strings.CutPrefix(rh[0], "bytes=")
	if !found {
		return 0, 0, false, false
	}
	spec = strings.TrimSpace(spec)
	if strings.IndexByte(spec, ',') >= 0 {
		return 0, 0, false, false
	}
	first, last, found := strings.Cut(spec, "-")
	if !found {
		return 0, 0, false, false
	}
	first, last = strings.TrimSpace(first), strings.TrimSpace(last)
	if first == "" {
		// Suffix range: the last n bytes.
		n, err := strconv.ParseInt(last, 10, 64)
		if err != nil || n < 0 {
			return 0, 0, false, false
		}
		if n == 0 || size == 0 {
			return 0, 0, true, false
		}
		return max(size-n, 0), size - 1, true, true
	}
	s, err := strconv.ParseInt(first, 10, 64)
	if err != nil || s < 0 {
		return 0, 0, false, false
	}
	e := size - 1
	if last != "" {
		e, err = strconv.ParseInt(last, 10, 64)
		if err != nil || e < s {
			return 0, 0, false, false
		}
		e = min(e, size-1)
	}
	if s >= size {
		return 0, 0, true, false
	}
	return s, e, true, true
}
