package cache

import (
	"net/http"
	"strconv"
	"sync/atomic"
	"time"
)

// field is one stored header field, in the order the hit path copies it.
type field struct {
	k string
	v []string
}

// entryMeta is what the Cache derives from an Entry once: parsed
// directives, freshness inputs, validators and the header fields ready to
// copy on a hit.
type entryMeta struct {
	dir directives
	// lifetime is the explicit freshness lifetime (§4.2.1), valid when
	// explicit; heuristicOK says §4.2.2 allows a heuristic one otherwise.
	lifetime    time.Duration
	explicit    bool
	heuristicOK bool
	// initialAge is corrected_initial_age (§4.2.3).
	initialAge time.Duration

	date       time.Time // Date, or the response time without one
	etag       string
	lastMod    time.Time
	hasLastMod bool
	vary       []string

	fields         []field // all stored fields but Age and Cache-Status
	names          map[string]struct{}
	notModified    []field // the fields a 304 carries (RFC 9110 §15.4.5)
	upstreamStatus []string
	contentLength  []string

	// hit caches the Age and Cache-Status values of plain hits for the
	// current age in seconds, so that the hit path does not format them.
	hit atomic.Pointer[hitValues]
}

type hitValues struct {
	age, ttl int64
	ageV     []string
	statusV  []string
}

// prepare returns e's meta, deriving it on first use. Concurrent first
// uses derive equal values; one wins.
func prepare(e *Entry) *entryMeta {
	if m := e.meta.Load(); m != nil {
		return m
	}
	m := deriveMeta(e)
	if e.meta.CompareAndSwap(nil, m) {
		return m
	}
	return e.meta.Load()
}

func deriveMeta(e *Entry) *entryMeta {
	h := e.Header
	m := &entryMeta{dir: parseDirectives(h["Cache-Control"])}
	date := e.ResponseTime
	if v := h["Date"]; len(v) > 0 {
		if d, err := http.ParseTime(v[0]); err == nil {
			date = d
		}
	}
	switch {
	case m.dir.invalid:
		m.explicit = true // §4.2.1: treat invalid freshness information as stale
	case m.dir.sMaxAge >= 0:
		m.explicit, m.lifetime = true, seconds(m.dir.sMaxAge)
	case m.dir.maxAge >= 0:
		m.explicit, m.lifetime = true, seconds(m.dir.maxAge)
	case len(h["Expires"]) > 0:
		m.explicit = true
		// An invalid Expires (such as "0") means already expired (§5.3).
		if exp, err := http.ParseTime(h.Get("Expires")); err == nil && len(h["Expires"]) == 1 {
			m.lifetime = max(exp.Sub(date), 0)
		}
	default:
		m.heuristicOK = heuristicallyCacheable(e.Status) || m.dir.public
	}

	// §4.2.3 age calculation.
	var ageValue time.Duration
	if av, ok := parseDelta(h.Get("Age")); ok {
		ageValue = seconds(av)
	}
	apparent := max(e.ResponseTime.Sub(date), 0)
	delay := max(e.ResponseTime.Sub(e.RequestTime), 0)
	m.initialAge = max(apparent, ageValue+delay)
	m.date = date

	if v := h["Etag"]; len(v) > 0 {
		m.etag = v[0]
	}
	if v := h["Last-Modified"]; len(v) > 0 {
		if lm, err := http.ParseTime(v[0]); err == nil {
			m.lastMod, m.hasLastMod = lm, true
		}
	}
	m.vary, _ = varyNames(h["Vary"])

	for k, v := range h {
		switch k {
		case "Age":
			continue
		case "Cache-Status":
			m.upstreamStatus = v
			continue
		case "Content-Length":
			m.contentLength = v
		case "Cache-Control", "Content-Location", "Date", "Etag", "Expires", "Vary":
			m.notModified = append(m.notModified, field{k, v[:len(v):len(v)]})
		}
		m.fields = append(m.fields, field{k, v[:len(v):len(v)]})
	}
	m.names = make(map[string]struct{}, len(m.fields))
	for _, f := range m.fields {
		m.names[f.k] = struct{}{}
	}
	return m
}

// heuristicallyCacheable reports whether RFC 9110 §15.1 defines status as
// heuristically cacheable.
func heuristicallyCacheable(status int) bool {
	switch status {
	case 200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414, 501:
		return true
	}
	return false
}

// understoodStatus reports whether the cache implements the caching
// requirements of status, for must-understand (§5.2.2.3).
func understoodStatus(status int) bool {
	return heuristicallyCacheable(status) && status != 206 || status == 302 || status == 307
}

// age returns the entry's current_age at now (§4.2.3).
func (m *entryMeta) age(e *Entry, now time.Time) time.Duration {
	return m.initialAge + max(now.Sub(e.ResponseTime), 0)
}

// hitValues returns the Age and Cache-Status values of a plain hit.
func (m *entryMeta) hitValues(name string, age, ttl int64) *hitValues {
	if hv := m.hit.Load(); hv != nil && hv.age == age && hv.ttl == ttl {
		return hv
	}
	hv := &hitValues{age: age, ttl: ttl}
	hv.ageV = []string{strconv.FormatInt(age, 10)}
	hv.statusV = m.statusValue(name + "; hit; ttl=" + strconv.FormatInt(ttl, 10))
	m.hit.Store(hv)
	return hv
}

// statusValue returns the Cache-Status field value: the members upstream
// caches added when the response was stored, then ours (RFC 9211 §2: the
// cache closest to the client is last).
func (m *entryMeta) statusValue(ours string) []string {
	v := make([]string, 0, len(m.upstreamStatus)+1)
	v = append(v, m.upstreamStatus...)
	v = append(v, ours)
	return v[:len(v):len(v)]
}

// secondsCeil converts d to whole seconds for Age and ttl.
func secondsOf(d time.Duration) int64 {
	s := int64(d / time.Second)
	if s > maxDelta {
		s = maxDelta
	}
	return s
}
