package cache

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gatewaykit/gateway/internal/respwriter"
)

// refreshJob is one stale-while-revalidate refresh.
type refreshJob struct {
	key, vkey string
	out       *http.Request
	e         *Entry
	next      http.Handler
}

// enqueueRefresh queues a background revalidation of e; it returns false
// (the caller then revalidates itself) when Run is not running or the
// queue is full.
func (c *Cache) enqueueRefresh(key, vkey string, r *http.Request, e *Entry, next http.Handler) bool {
	if !c.running.Load() {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	// Checked again under mu: Run clears running under mu before it
	// drains the queue, so no job is left behind.
	if !c.running.Load() {
		return false
	}
	if _, ok := c.refreshing[key]; ok {
		return true
	}
	k := strings.Clone(key)
	j := refreshJob{key: k, vkey: vkey, out: c.outbound(r, e), e: e, next: next}
	select {
	case c.jobs <- j:
		c.refreshing[k] = struct{}{}
		return true
	default:
		return false
	}
}

func (c *Cache) doneRefresh(key string) {
	c.mu.Lock()
	delete(c.refreshing, key)
	c.mu.Unlock()
}

func (c *Cache) worker(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case j := <-c.jobs:
			c.refresh(ctx, j)
		}
	}
}

// refresh revalidates j.e under the Cache's context (not the request's,
// which may end first), bounded by RefreshTimeout.
func (c *Cache) refresh(ctx context.Context, j refreshJob) {
	defer c.doneRefresh(j.key)
	defer func() {
		if p := recover(); p != nil && p != http.ErrAbortHandler {
			c.logger.Error("cache: refresh panicked", "panic", p, "url", urlOfKey(j.key))
		}
	}()
	ctx, cancel := context.WithTimeout(ctx, c.refreshTO)
	defer cancel()
	out := j.out.WithContext(ctx)
	reqTime := c.now()
	// A detached Writer around no client: upstream's fields land in up,
	// its status stays held and its body goes to body, capped.
	up := make(http.Header)
	body := tee{limit: c.maxObject}
	var respTime time.Time
	cw := respwriter.New(nil)
	cw.Detach(up)
	cw.OnHeader = func(int) {
		respTime = c.now()
		cw.Divert(&body, nil)
	}
	j.next.ServeHTTP(cw, out)
	status := cw.Status()
	if ctx.Err() != nil || status == 0 {
		return
	}
	switch {
	case status == http.StatusNotModified:
		ne, ok := c.revalidated(j.e, up, reqTime, respTime)
		if !ok {
			c.dropStale(ctx, j)
			return
		}
		c.put(ctx, j.key, ne, out, nil)
		c.event(EventRevalidated)
	case status >= 500:
		// Keep serving the stale response within its windows.
	default:
		rd := parseDirectives(out.Header["Cache-Control"])
		tags := c.takeTags(up)
		if reason, _ := c.storable(out, &rd, status, up); reason != "" || body.over {
			c.dropStale(ctx, j)
			return
		}
		h := storedHeader(up)
		if cl, ok := contentLength(h); ok && cl != int64(len(body.buf)) {
			return
		}
		h["Content-Length"] = []string{strconv.Itoa(len(body.buf))}
		if h["Date"] == nil {
			h["Date"] = []string{respTime.UTC().Format(http.TimeFormat)}
		}
		e := &Entry{
			Status: status, Header: h, Body: body.buf,
			RequestTime: reqTime, ResponseTime: respTime, URL: j.e.URL, Tags: tags,
		}
		c.put(ctx, j.key, e, out, nil)
	}
}

// dropStale deletes the stale response a refresh found replaced by an
// uncacheable one.
func (c *Cache) dropStale(ctx context.Context, j refreshJob) {
	k := j.key
	if j.vkey != "" {
		k = j.vkey
	}
	if err := c.store.Delete(ctx, k); err == nil {
		c.ix.remove(k)
	}
}

// serveUnsafe forwards a request with an unsafe method and, when the
// response is not an error, invalidates the stored responses for the
// target URI and for same-origin Location and Content-Location URIs
// (RFC 9111 §4.4).
func (c *Cache) serveUnsafe(w http.ResponseWriter, r *http.Request, next http.Handler) {
	rw := respwriter.New(w)
	next.ServeHTTP(rw, r)
	status := rw.Status()
	if status == 0 && !rw.Hijacked() {
		status = http.StatusOK // net/http sends 200 for a handler that wrote nothing
	}
	if status < 200 || status >= 400 {
		return
	}
	ctx := context.WithoutCancel(r.Context())
	kb := keyBufs.Get().(*keyBuf)
	key := c.primaryKey(kb, r)
	target := strings.Clone(urlOfKey(key))
	if err := c.store.Delete(ctx, key); err == nil {
		c.ix.remove(key)
	}
	keyBufs.Put(kb)
	_, _ = c.purgeNormalized(ctx, target)
	base, err := url.Parse(target)
	if err != nil {
		return
	}
	for _, name := range [...]string{"Location", "Content-Location"} {
		v := rw.Header().Get(name)
		if v == "" {
			continue
		}
		ref, err := base.Parse(v)
		if err != nil {
			continue
		}
		u, err := c.normalizeURL(ref.String())
		if err != nil || originOf(u) != originOf(target) {
			continue // §4.4: only same-origin URIs are invalidated
		}
		_, _ = c.purgeNormalized(ctx, u)
	}
}

// originOf returns the scheme://host part of a normalized URL.
func originOf(u string) string {
	i := strings.Index(u, "://")
	if i < 0 {
		return u
	}
	if j := strings.IndexByte(u[i+3:], '/'); j >= 0 {
		return u[:i+3+j]
	}
	return u
}
