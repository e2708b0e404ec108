package cache

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gatewaykit/gateway/internal/respwriter"
)

// flight is one upstream request that concurrent requests for the same key
// wait for (request collapsing).
type flight struct {
	done chan struct{}
	// entry is the response the waiters may use, set before done closes;
	// nil when it is not shareable (uncacheable, private, failed, too
	// large): the waiters then go upstream themselves.
	entry *Entry
	vkey  string
}

// fill answers r from upstream and stores the response when allowed. stale
// is the stored response to revalidate, or nil.
func (c *Cache) fill(w http.ResponseWriter, r *http.Request, next http.Handler, key string, stale *Entry, rdv directives, now time.Time, fwd string) {
	rd := &rdv // on the heap only on this path
	// A no-cache request wants its own trip to the origin, and a key that
	// recently gave an uncacheable response would only queue.
	if !rd.noCache && !c.passing(key, now) {
		f, leader := c.join(key)
		if leader {
			defer c.land(key, f)
			c.fetch(w, r, next, key, stale, rd, f, fwd)
			return
		}
		if c.await(w, r, f, key, rd) {
			return
		}
	}
	c.fetch(w, r, next, key, stale, rd, nil, fwd)
}

func (c *Cache) join(key string) (*flight, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if f := c.flights[key]; f != nil {
		return f, false
	}
	f := &flight{done: make(chan struct{})}
	c.flights[strings.Clone(key)] = f
	return f, true
}

func (c *Cache) land(key string, f *flight) {
	c.mu.Lock()
	if c.flights[key] == f {
		delete(c.flights, key)
	}
	c.mu.Unlock()
	close(f.done)
}

// await waits, bounded by CollapseTimeout and r's context, for the leader
// of f, and answers r with its response when that is shareable and fits
// r. It returns false when r must go upstream itself.
func (c *Cache) await(w http.ResponseWriter, r *http.Request, f *flight, key string, rd *directives) bool {
	t := time.NewTimer(c.collapseTO)
	defer t.Stop()
	select {
	case <-f.done:
	case <-t.C:
		return false
	case <-r.Context().Done():
		return true // the client is gone: nothing to answer
	}
	e := f.entry
	if e == nil {
		return false
	}
	m := prepare(e)
	if len(m.vary) > 0 && secondaryKey(key, m.vary, r) != f.vkey {
		return false // another variant
	}
	age := m.age(e, c.now())
	if rd.maxAge >= 0 && age > seconds(rd.maxAge) {
		return false
	}
	// The response came from the origin while r waited, so it counts as
	// validated for r even when it is stale at once (no-cache, max-age=0).
	c.writeEntry(w, r, e, m, []string{strconv.FormatInt(secondsOf(age), 10)},
		m.statusValue(c.name+"; fwd=uri-miss; collapsed"))
	c.event(EventCollapsed)
	return true
}

// fetch sends r upstream (a conditional request when stale is set),
// streams the response to the client while storing it, and publishes a
// shareable result to f.
func (c *Cache) fetch(w http.ResponseWriter, r *http.Request, next http.Handler, key string, stale *Entry, rd *directives, f *flight, fwd string) {
	out := c.outbound(r, stale)
	fl := &filler{c: c, r: r, rd: rd, key: key, stale: stale, f: f, fwd: fwd, reqTime: c.now()}
	fl.rw.Reset(w)
	fl.rw.OnHeader = fl.onHeader
	// Upstream gets a detached Writer around the client's: it writes its
	// header fields into a map of its own, so that what is stored is the
	// upstream response alone, never fields an outer middleware set on
	// the client's map (a request ID, CORS or rate-limit fields of this
	// one client), and its status is held until onUpstreamHeader has
	// seen it, so that a 304 answering the cache's own conditional
	// request, or an error hidden by a stale response (stale-if-error),
	// never reaches the client.
	fl.up = make(http.Header)
	fl.cw.Reset(&fl.rw)
	fl.cw.Detach(fl.up)
	// A revalidation's 1xx may precede a response the client never gets.
	fl.cw.DropInformational = stale != nil
	fl.cw.OnHeader = fl.onUpstreamHeader
	if stale == nil {
		c.event(EventMiss)
		next.ServeHTTP(&fl.cw, out)
		fl.finish()
		return
	}
	next.ServeHTTP(&fl.cw, out)
	if !fl.absorbed {
		c.event(EventMiss)
		fl.finish()
		return
	}
	if status := fl.cw.Status(); status == http.StatusNotModified {
		ne, ok := c.revalidated(stale, fl.up, fl.reqTime, fl.upTime)
		if !ok {
			// The 304 is for another representation (§4.3.4): fetch
			// the full response instead.
			c.fetch(w, r, next, key, nil, rd, f, fwd)
			return
		}
		vkey, shareable := c.put(r.Context(), key, ne, r, nil)
		if shareable && f != nil {
			f.entry, f.vkey = ne, vkey
		}
		nm := prepare(ne)
		age := nm.age(ne, c.now())
		c.writeEntry(w, r, ne, nm, []string{strconv.FormatInt(secondsOf(age), 10)},
			nm.statusValue(c.name+"; fwd="+fwd+"; fwd-status=304"))
		c.event(EventRevalidated)
		return
	}
	m := prepare(stale)
	now := c.now()
	c.writeStale(w, r, stale, m, m.age(stale, now), c.lifetime(m),
		"stale-if-error; fwd=stale; fwd-status="+strconv.Itoa(fl.cw.Status()))
	c.event(EventStale)
}

// outbound returns the request to send upstream: r itself, or a clone
// with the unkeyed query parameters removed and, for a revalidation, the
// stored validators in place of the client's conditions (§4.3.1).
func (c *Cache) outbound(r *http.Request, stale *Entry) *http.Request {
	rewrite := c.cfg.IgnoreQuery || c.queryKeys != nil
	var q string
	if rewrite {
		q = c.keyedQuery(r.URL.RawQuery)
		rewrite = q != r.URL.RawQuery
	}
	if !rewrite && stale == nil {
		return r
	}
	out := r.Clone(r.Context())
	if rewrite {
		out.URL.RawQuery = q
		out.RequestURI = out.URL.RequestURI()
	}
	if stale != nil {
		h := out.Header
		for _, k := range [...]string{"If-None-Match", "If-Modified-Since", "If-Range", "Range"} {
			delete(h, k)
		}
		if m := prepare(stale); m.etag != "" {
			h["If-None-Match"] = []string{m.etag}
		}
		if lm := stale.Header.Get("Last-Modified"); lm != "" {
			h["If-Modified-Since"] = []string{lm}
		}
	}
	return out
}

// filler stores the response of one upstream request as it streams to
// the client. Upstream writes to cw, a detached [respwriter.Writer] whose
// OnHeader hook, onUpstreamHeader, either absorbs the response (a
// revalidation's 304, or a 5xx the stale response hides) or releases it to
// rw, the client's Writer, whose OnHeader hook, onHeader, decides whether
// to store it.
type filler struct {
	c     *Cache
	r     *http.Request
	rd    *directives
	key   string
	stale *Entry
	f     *flight
	fwd   string
	rw    respwriter.Writer // the client's
	cw    respwriter.Writer // upstream's, detached, around rw
	up    http.Header       // cw's own map: upstream's fields alone

	// absorbed is set when the upstream response is kept from the
	// client; upTime is when upstream's status arrived.
	absorbed          bool
	upTime            time.Time
	reqTime, respTime time.Time
	status            int
	storing           bool
	intrinsic         bool // uncacheable whoever asks
	header            http.Header
	tags              []string
	t                 tee
}

// onUpstreamHeader runs when upstream writes its final status, which cw
// holds: a revalidation absorbs a 304 and a 5xx that stale-if-error
// allows hiding (their bodies are dropped; fetch answers from the stored
// response), and every other response is released to the client.
func (fl *filler) onUpstreamHeader(status int) {
	c := fl.c
	fl.upTime = c.now()
	if e := fl.stale; e != nil {
		absorb := status == http.StatusNotModified
		if !absorb && status >= 500 {
			m := prepare(e)
			absorb = staleIfError(m, fl.rd, m.age(e, c.now())-c.lifetime(m))
		}
		if absorb {
			fl.absorbed = true
			fl.cw.Divert(io.Discard, nil)
			return
		}
	}
	fl.cw.SendHeader()
}

func (fl *filler) onHeader(status int) {
	c := fl.c
	h := fl.rw.Header() // the client's: outer middleware fields + upstream's
	up := fl.up         // upstream's alone
	fl.respTime = c.now()
	fl.status = status
	fl.tags = c.takeTags(up)
	delete(h, c.tagHeader)
	cs := c.name + "; fwd=" + fl.fwd
	if fl.stale != nil {
		cs += "; fwd-status=" + strconv.Itoa(status)
	}
	reason, intrinsic := c.storable(fl.r, fl.rd, status, up)
	if reason == "" {
		if cl, ok := contentLength(up); ok && cl > c.maxObject {
			reason = "too-large"
		}
	}
	if reason != "" {
		fl.intrinsic = intrinsic
		h.Add("Cache-Status", cs+"; detail="+reason)
		return
	}
	if _, ok := up["Date"]; !ok {
		// RFC 9110 §6.6.1: a recipient with a clock adds a missing Date.
		date := []string{fl.respTime.UTC().Format(http.TimeFormat)}
		up["Date"] = date
		if _, ok := h["Date"]; !ok {
			h["Date"] = date
		}
	}
	fl.header = storedHeader(up)
	fl.storing = true
	fl.t = tee{dst: fl.rw.Unwrap(), limit: c.maxObject}
	if cl, ok := contentLength(up); ok {
		fl.t.buf = make([]byte, 0, cl)
	}
	fl.rw.Divert(&fl.t, nil)
	h.Add("Cache-Status", cs+"; stored")
}

// finish stores the response once the handler returned, unless it is
// incomplete (§3.3): the client went away, the body exceeded the cap or
// did not match Content-Length.
func (fl *filler) finish() {
	c := fl.c
	if !fl.storing {
		if fl.intrinsic {
			c.markPass(fl.key, c.now())
		}
		return
	}
	if fl.r.Context().Err() != nil || fl.t.over || fl.rw.Hijacked() {
		return
	}
	body := fl.t.buf
	if cl, ok := contentLength(fl.header); ok && cl != int64(len(body)) {
		return
	}
	fl.header["Content-Length"] = []string{strconv.Itoa(len(body))}
	e := &Entry{
		Status: fl.status, Header: fl.header, Body: body,
		RequestTime: fl.reqTime, ResponseTime: fl.respTime,
		URL: strings.Clone(urlOfKey(fl.key)), Tags: fl.tags,
	}
	vkey, shareable := c.put(fl.r.Context(), fl.key, e, fl.r, &fl.rw)
	if shareable && fl.f != nil {
		fl.f.entry, fl.f.vkey = e, vkey
	}
}

// storable applies RFC 9111 §3 to a response to r. It returns the reason
// when the response must not be stored, and whether that reason holds for
// any request (so that requests for the key stop collapsing for a while).
func (c *Cache) storable(r *http.Request, rd *directives, status int, h http.Header) (reason string, intrinsic bool) {
	if r.Method != http.MethodGet {
		return "method", false
	}
	if rd.noStore {
		return "request-no-store", false
	}
	if status < 200 || status == http.StatusPartialContent || status == http.StatusNotModified {
		return "status", false
	}
	d := parseDirectives(h["Cache-Control"])
	if d.mustUnderstand {
		// §5.2.2.3: must-understand overrides no-store when the cache
		// implements the status code's caching rules.
		if !understoodStatus(status) {
			return "must-understand", true
		}
	} else if d.noStore {
		return "no-store", true
	}
	if d.private {
		return "private", true
	}
	if r.Header["Authorization"] != nil && !d.public && d.sMaxAge < 0 && !d.mustRevalidate {
		return "authorization", false // §3.5
	}
	if h["Set-Cookie"] != nil {
		return "set-cookie", true
	}
	if _, star := varyNames(h["Vary"]); star {
		return "vary-star", true
	}
	explicit := d.public || d.maxAge >= 0 || d.sMaxAge >= 0 || len(h["Expires"]) > 0 || d.invalid
	if !explicit && !heuristicallyCacheable(status) {
		return "not-cacheable", true
	}
	return "", false
}

// store writes e under key (under its secondary key, with a Vary record at
// key, when it varies), indexes it and reports whether e may be shared
// with collapsed requests. flush, when set and the store is remote, is
// flushed first so the client's response completes before the store
// round trip.
func (c *Cache) put(ctx context.Context, key string, e *Entry, r *http.Request, flush *respwriter.Writer) (vkey string, shareable bool) {
	now := c.now()
	m := prepare(e)
	age := m.age(e, now)
	lifetime := c.lifetime(m)
	if age >= lifetime && m.etag == "" && !m.hasLastMod && m.dir.swr < 0 && m.dir.sie < 0 {
		return "", false // stale at once and impossible to validate: useless
	}
	ttl := lifetime - age + max(c.keepStale, seconds(max(m.dir.swr, m.dir.sie, 0)))
	if ttl <= 0 {
		return "", false
	}
	if flush != nil {
		if _, local := c.store.(*Memory); !local {
			_ = flush.FlushError()
		}
	}
	ctx = context.WithoutCancel(ctx)
	expires := now.Add(ttl)
	pk := strings.Clone(key)
	target := pk
	if len(m.vary) > 0 {
		vkey = secondaryKey(key, m.vary, r)
		marker := &Entry{
			Header:      http.Header{"Vary": m.vary[:len(m.vary):len(m.vary)]},
			RequestTime: e.RequestTime, ResponseTime: e.ResponseTime, URL: e.URL,
		}
		if !c.ix.add(pk, e.URL, nil, expires, now) {
			return vkey, true
		}
		if err := c.set(ctx, pk, marker, ttl, now); err != nil {
			c.ix.remove(pk)
			c.logSetError(ctx, err)
			return vkey, true
		}
		target = vkey
	}
	if !c.ix.add(target, e.URL, e.Tags, expires, now) {
		return vkey, true
	}
	if err := c.set(ctx, target, e, ttl, now); err != nil {
		c.ix.remove(target)
		c.logSetError(ctx, err)
		return vkey, true
	}
	c.unmarkPass(key)
	c.event(EventStored)
	return vkey, true
}

// set writes to the store; the memory store gets the Cache's clock, so
// that an injected Config.Now governs its expiry too.
func (c *Cache) set(ctx context.Context, key string, e *Entry, ttl time.Duration, now time.Time) error {
	if c.mem != nil {
		return c.mem.setAt(key, e, ttl, now)
	}
	return c.store.Set(ctx, key, e, ttl)
}

func (c *Cache) logSetError(ctx context.Context, err error) {
	if !errors.Is(err, ErrTooLarge) {
		c.logger.WarnContext(ctx, "cache: store set failed", "err", err)
	}
}

// revalidated returns the stored response e updated with the header fields
// of a 304 (§3.2, §4.3.4), timed by the validation exchange. It returns
// false when the 304 carries a strong validator that is not e's.
func (c *Cache) revalidated(e *Entry, h304 http.Header, reqTime, respTime time.Time) (*Entry, bool) {
	m := prepare(e)
	if et := h304.Get("Etag"); et != "" && !strings.HasPrefix(et, "W/") && m.etag != "" && et != m.etag {
		return nil, false
	}
	tags := e.Tags
	if h304[c.tagHeader] != nil {
		tags = c.takeTags(h304)
	}
	nh := make(http.Header, len(e.Header)+2)
	for k, v := range e.Header {
		nh[k] = v
	}
	if h304["Age"] == nil {
		delete(nh, "Age") // the old Age described the old exchange
	}
	for k, v := range storedHeader(h304) {
		if k == "Content-Length" || k == "Set-Cookie" {
			continue
		}
		nh[k] = v
	}
	if h304["Date"] == nil {
		nh["Date"] = []string{respTime.UTC().Format(http.TimeFormat)}
	}
	return &Entry{
		Status: e.Status, Header: nh, Body: e.Body,
		RequestTime: reqTime, ResponseTime: respTime, URL: e.URL, Tags: tags,
	}, true
}

// hopByHop lists the fields a cache does not store (§3.1).
var hopByHop = map[string]bool{
	"Connection": true, "Keep-Alive": true, "Proxy-Connection": true, "Proxy-Authenticate": true,
	"Proxy-Authorization": true, "Te": true, "Trailer": true, "Transfer-Encoding": true, "Upgrade": true,
}

// storedHeader returns a copy of h without hop-by-hop fields and the
// fields Connection nominates; value slices have no spare capacity, so an
// append by a later reader copies instead of writing into the store.
func storedHeader(h http.Header) http.Header {
	out := make(http.Header, len(h))
	for k, v := range h {
		if hopByHop[k] || len(v) == 0 {
			continue
		}
		out[k] = append(make([]string, 0, len(v)), v...)
	}
	for _, line := range h["Connection"] {
		for len(line) > 0 {
			var item string
			item, line = nextItem(line)
			delete(out, http.CanonicalHeaderKey(strings.TrimSpace(item)))
		}
	}
	return out
}

// takeTags removes the tag field from h and returns its tags.
func (c *Cache) takeTags(h http.Header) []string {
	v := h[c.tagHeader]
	if v == nil {
		return nil
	}
	delete(h, c.tagHeader)
	var tags []string
	for _, line := range v {
		tags = append(tags, strings.FieldsFunc(line, func(r rune) bool { return r == ' ' || r == ',' || r == '\t' })...)
	}
	return tags
}

func contentLength(h http.Header) (int64, bool) {
	v := h["Content-Length"]
	if len(v) != 1 {
		return 0, false
	}
	n, err := strconv.ParseInt(v[0], 10, 64)
	return n, err == nil && n >= 0
}

// pass forwards r without caching, adding our Cache-Status member last.
func (c *Cache) bypass(w http.ResponseWriter, r *http.Request, next http.Handler, fwd string) {
	rw := respwriter.New(w)
	rw.OnHeader = func(int) { rw.Header().Add("Cache-Status", c.name+"; fwd="+fwd) }
	next.ServeHTTP(rw, r)
}
