package cache

import (
	"strings"
	"time"
)

// maxDelta caps delta-seconds values (RFC 9111 §1.2.2: a cache receiving a
// larger value uses 2147483648).
const maxDelta = 2147483648

// directives holds the parsed Cache-Control directives of a request or a
// response (RFC 9111 §5.2). A seconds field is -1 when absent.
type directives struct {
	maxAge, sMaxAge, maxStale, minFresh int64
	swr, sie                            int64

	noStore, noCache, private, public bool
	mustRevalidate, proxyRevalidate   bool
	mustUnderstand, onlyIfCached      bool
	maxStaleAny                       bool
	// invalid is set when a freshness directive is repeated or malformed;
	// RFC 9111 §4.2.1 encourages treating such responses as stale.
	invalid bool
}

// parseDirectives parses every field line of Cache-Control. It does not
// allocate.
func parseDirectives(lines []string) directives {
	d := directives{maxAge: -1, sMaxAge: -1, maxStale: -1, minFresh: -1, swr: -1, sie: -1}
	for _, line := range lines {
		for len(line) > 0 {
			var item string
			item, line = nextItem(line)
			name, value, hasValue := strings.Cut(item, "=")
			name = strings.TrimSpace(name)
			value = strings.TrimSpace(value)
			switch {
			case strings.EqualFold(name, "max-age"):
				d.setSeconds(&d.maxAge, value, hasValue)
			case strings.EqualFold(name, "s-maxage"):
				d.setSeconds(&d.sMaxAge, value, hasValue)
			case strings.EqualFold(name, "max-stale"):
				if !hasValue {
					d.maxStaleAny = true
				} else {
					d.setSeconds(&d.maxStale, value, hasValue)
				}
			case strings.EqualFold(name, "min-fresh"):
				d.setSeconds(&d.minFresh, value, hasValue)
			case strings.EqualFold(name, "stale-while-revalidate"):
				d.setSeconds(&d.swr, value, hasValue)
			case strings.EqualFold(name, "stale-if-error"):
				d.setSeconds(&d.sie, value, hasValue)
			case strings.EqualFold(name, "no-store"):
				d.noStore = true
			case strings.EqualFold(name, "no-cache"):
				// The qualified form (no-cache="field") is treated as
				// unqualified: stricter, and allowed by §5.2.2.4.
				d.noCache = true
			case strings.EqualFold(name, "private"):
				// A shared cache must not store a response with private,
				// qualified or not (§5.2.2.7 lets it store the rest of a
				// qualified one; storing nothing is the safe reading).
				d.private = true
			case strings.EqualFold(name, "public"):
				d.public = true
			case strings.EqualFold(name, "must-revalidate"):
				d.mustRevalidate = true
			case strings.EqualFold(name, "proxy-revalidate"):
				d.proxyRevalidate = true
			case strings.EqualFold(name, "must-understand"):
				d.mustUnderstand = true
			case strings.EqualFold(name, "only-if-cached"):
				d.onlyIfCached = true
			}
		}
	}
	return d
}

// nextItem splits the first comma-separated item off s, skipping commas in
// quoted strings.
func nextItem(s string) (item, rest string) {
	inQuote := false
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			inQuote = !inQuote
		case '\\':
			if inQuote {
				i++
			}
		case ',':
			if !inQuote {
				return s[:i], s[i+1:]
			}
		}
	}
	return s, ""
}

func (d *directives) setSeconds(dst *int64, v string, hasValue bool) {
	if *dst != -1 {
		d.invalid = true // repeated directive
	}
	v = strings.Trim(v, `"`) // quoted form is tolerated (§5.2)
	n, ok := parseDelta(v)
	if !hasValue || !ok {
		d.invalid = true
		*dst = 0
		return
	}
	*dst = n
}

// parseDelta parses delta-seconds (RFC 9111 §1.2.2).
func parseDelta(s string) (int64, bool) {
	if s == "" {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		if n < maxDelta {
			n = n*10 + int64(c-'0')
		}
	}
	if n > maxDelta {
		n = maxDelta
	}
	return n, true
}

func seconds(n int64) time.Duration { return time.Duration(n) * time.Second }

// hasToken reports whether the comma-separated field lines contain token
// (case-insensitively).
func hasToken(lines []string, token string) bool {
	for _, line := range lines {
		for len(line) > 0 {
			var item string
			item, line = nextItem(line)
			if strings.EqualFold(strings.TrimSpace(item), token) {
				return true
			}
		}
	}
	return false
}
