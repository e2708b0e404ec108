package cache

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"unsafe"
)

// keyBuf is a pooled buffer the hit path builds keys in.
type keyBuf struct{ b []byte }

var keyBufs = sync.Pool{New: func() any { return &keyBuf{b: make([]byte, 0, 256)} }}

// primaryKey appends r's primary cache key to kb and returns it as a string
// that aliases kb: it is valid until kb is reused, so anything that keeps
// the key (flights, stores' Set, the index) must clone it. Stores' Get does
// not retain keys (see [Store]).
//
// The key is "GET " followed by the effective URI (scheme://host/path?query,
// with the host lower-cased, its default port removed and the query
// reduced to the keyed parameters, sorted by name), then one
// "\x00Name:value" element per [Config.KeyHeaders] entry and
// "\x00@consumer" when [Config.Consumer] is set. HEAD requests use the GET
// key: they are served from stored GET responses.
func (c *Cache) primaryKey(kb *keyBuf, r *http.Request) string {
	b := append(kb.b[:0], "GET "...)
	b = c.appendURL(b, r)
	for _, name := range c.keyHeaders {
		b = append(b, 0)
		b = append(b, name...)
		b = append(b, ':')
		b = appendFieldValue(b, r.Header[name], false)
	}
	if c.cfg.Consumer != nil {
		b = append(b, 0, '@')
		b = append(b, c.cfg.Consumer(r)...)
	}
	kb.b = b
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// urlOfKey returns the effective-URI part of a primary or secondary key.
func urlOfKey(key string) string {
	key = strings.TrimPrefix(key, "GET ")
	if i := strings.IndexByte(key, 0); i >= 0 {
		key = key[:i]
	}
	return key
}

// appendURL appends r's normalized effective URI.
func (c *Cache) appendURL(b []byte, r *http.Request) []byte {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	b = append(b, scheme...)
	b = append(b, "://"...)
	host := r.Host
	if host == "" {
		host = r.URL.Host
	}
	host = stripDefaultPort(host, scheme)
	for i := 0; i < len(host); i++ {
		ch := host[i]
		if 'A' <= ch && ch <= 'Z' {
			ch += 'a' - 'A'
		}
		b = append(b, ch)
	}
	path := r.URL.EscapedPath()
	if path == "" {
		path = "/"
	}
	b = append(b, path...)
	if !c.cfg.IgnoreQuery {
		b = c.appendQuery(b, r.URL.RawQuery)
	}
	return b
}

func stripDefaultPort(host, scheme string) string {
	if scheme == "http" {
		return strings.TrimSuffix(host, ":80")
	}
	return strings.TrimSuffix(host, ":443")
}

// appendQuery appends "?" and the keyed query parameters of raw sorted by
// name (the order of repeated names is kept: it can carry meaning), or
// nothing when no parameter is keyed. Parameters are compared by their raw
// (escaped) names.
func (c *Cache) appendQuery(b []byte, raw string) []byte {
	if raw == "" {
		return b
	}
	var stack [16]string
	params := stack[:0]
	for raw != "" {
		var p string
		p, raw, _ = strings.Cut(raw, "&")
		if p == "" {
			continue
		}
		if c.queryKeys != nil {
			name, _, _ := strings.Cut(p, "=")
			if !c.keyedParam(name) {
				continue
			}
		}
		params = append(params, p)
	}
	if len(params) == 0 {
		return b
	}
	// Insertion sort by name: stable, allocation-free, and query strings
	// are short.
	for i := 1; i < len(params); i++ {
		for j := i; j > 0 && paramName(params[j]) < paramName(params[j-1]); j-- {
			params[j], params[j-1] = params[j-1], params[j]
		}
	}
	b = append(b, '?')
	for i, p := range params {
		if i > 0 {
			b = append(b, '&')
		}
		b = append(b, p...)
	}
	return b
}

func paramName(p string) string {
	name, _, _ := strings.Cut(p, "=")
	return name
}

func (c *Cache) keyedParam(name string) bool {
	for _, k := range c.queryKeys {
		if k == name {
			return true
		}
	}
	if strings.IndexByte(name, '%') >= 0 {
		if u, err := url.QueryUnescape(name); err == nil {
			return slices.Contains(c.queryKeys, u)
		}
	}
	return false
}

// keyedQuery returns raw reduced to the keyed parameters, sorted, for the
// request sent upstream: an unkeyed parameter must not reach the origin, or
// it could change a response stored for requests without it (cache
// poisoning).
func (c *Cache) keyedQuery(raw string) string {
	if c.cfg.IgnoreQuery {
		return ""
	}
	b := c.appendQuery(nil, raw)
	if len(b) == 0 {
		return ""
	}
	return string(b[1:])
}

// appendFieldValue appends the normalized value of a header field: field
// lines joined with ",", each list member trimmed of whitespace, and
// lower-cased when lower is set (for fields whose values are
// case-insensitive). RFC 9111 §4.1 allows such normalization.
func appendFieldValue(b []byte, lines []string, lower bool) []byte {
	first := true
	for _, line := range lines {
		for len(line) > 0 {
			var item string
			item, line = nextItem(line)
			item = strings.TrimSpace(item)
			if item == "" {
				continue
			}
			if !first {
				b = append(b, ',')
			}
			first = false
			for i := 0; i < len(item); i++ {
				ch := item[i]
				if lower && 'A' <= ch && ch <= 'Z' {
					ch += 'a' - 'A'
				} else if ch == 0 {
					ch = ' ' // a NUL cannot forge a key boundary
				}
				b = append(b, ch)
			}
		}
	}
	return b
}

// caseInsensitiveField reports whether the values of a Vary-listed field
// compare case-insensitively.
func caseInsensitiveField(name string) bool {
	switch name {
	case "Accept", "Accept-Encoding", "Accept-Language", "Accept-Charset", "Origin":
		return true
	}
	return false
}

// secondaryKey returns the key of the variant of primary selected by r's
// values of the fields in names (canonical, sorted).
func secondaryKey(primary string, names []string, r *http.Request) string {
	b := make([]byte, 0, len(primary)+64)
	b = append(b, primary...)
	b = append(b, 0, 'v')
	for _, n := range names {
		b = append(b, 0)
		b = append(b, n...)
		b = append(b, '=')
		b = appendFieldValue(b, r.Header[n], caseInsensitiveField(n))
	}
	return string(b)
}

// varyNames returns the canonical, sorted, de-duplicated field names of the
// Vary field lines, and whether one of them is "*".
func varyNames(lines []string) (names []string, star bool) {
	for _, line := range lines {
		for len(line) > 0 {
			var item string
			item, line = nextItem(line)
			item = strings.TrimSpace(item)
			switch item {
			case "":
				continue
			case "*":
				return nil, true
			}
			names = append(names, http.CanonicalHeaderKey(item))
		}
	}
	slices.Sort(names)
	return slices.Compact(names), false
}
