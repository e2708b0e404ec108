package router

import (
	"errors"
	"fmt"
	"net/http"
	"net/textproto"
	"net/url"
	"regexp"
	"sort"
	"strings"
)

// Matcher is one condition on a request header ([Route.Headers]) or a query
// parameter ([Route.Query]). Exactly one of Value, Regexp or Present selects
// the kind of test:
//
//   - Value: some value of Name equals Value exactly (case-sensitive; query
//     values are compared after decoding).
//   - Regexp: some value of Name matches the RE2 expression, which must match
//     the whole value (it is anchored as ^(?:Regexp)$). It is compiled by
//     [New]; a bad expression is a build error. To require an empty value use
//     Regexp "^$".
//   - Present: Name appears at all, with any value (even empty).
//
// A header with several values (several header lines, or several query
// parameters of the same name) matches when any one value does; header values
// are not split at commas. Invert negates the test: an inverted Present
// requires Name to be absent, and an inverted Value or Regexp requires that
// no value matches (an absent Name satisfies it).
//
// Header names are case-insensitive (canonicalised by [New]); query names
// are case-sensitive and compared after decoding. The Host header cannot be
// matched here: put the host in the pattern.
type Matcher struct {
	// Name is the header or query parameter name. Required.
	Name string
	// Value is the exact value to require. Empty means unset.
	Value string
	// Regexp is an RE2 expression the whole value must match. Empty means
	// unset.
	Regexp string
	// Present requires only that Name appears. False means unset.
	Present bool
	// Invert negates the result of the test. False keeps it.
	Invert bool
}

type matchKind uint8

const (
	kindValue matchKind = iota
	kindRegexp
	kindPresent
)

// matcher is a compiled Matcher.
type matcher struct {
	name   string
	kind   matchKind
	value  string
	re     *regexp.Regexp
	invert bool
}

// compileMatchers validates and compiles ms; header selects header-name
// rules (token syntax, canonical case).
func compileMatchers(ms []Matcher, header bool) ([]matcher, error) {
	out := make([]matcher, 0, len(ms))
	for i, m := range ms {
		cm, err := compileMatcher(m, header)
		if err != nil {
			return nil, fmt.Errorf("[%d] (%q): %w", i, m.Name, err)
		}
		out = append(out, cm)
	}
	return out, nil
}

func compileMatcher(m Matcher, header bool) (matcher, error) {
	cm := matcher{name: m.Name, value: m.Value, invert: m.Invert}
	if m.Name == "" {
		return cm, errors.New("empty Name")
	}
	if header {
		for i := 0; i < len(m.Name); i++ {
			if c := m.Name[i]; c >= 0x80 || !isTokenByte[c] {
				return cm, fmt.Errorf("Name: invalid header name %q", m.Name)
			}
		}
		cm.name = textproto.CanonicalMIMEHeaderKey(m.Name)
		if cm.name == "Host" {
			return cm, errors.New("Name: the Host header is matched by the pattern's host, not by a matcher")
		}
	}
	set := 0
	if m.Value != "" {
		set++
		cm.kind = kindValue
	}
	if m.Regexp != "" {
		set++
		cm.kind = kindRegexp
		re, err := regexp.Compile(`^(?:` + m.Regexp + `)$`)
		if err != nil {
			return cm, fmt.Errorf("Regexp: %w", err)
		}
		cm.re = re
	}
	if m.Present {
		set++
		cm.kind = kindPresent
	}
	if set != 1 {
		return cm, errors.New("set exactly one of Value, Regexp or Present")
	}
	return cm, nil
}

// key is a canonical string for conflict detection.
func (m *matcher) key() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d|%t|%q|", m.kind, m.invert, m.name)
	switch m.kind {
	case kindValue:
		b.WriteString(m.value)
	case kindRegexp:
		b.WriteString(m.re.String())
	}
	return b.String()
}

// matcherSetKey returns an order-independent key for a matcher list.
func matcherSetKey(ms []matcher) string {
	keys := make([]string, len(ms))
	for i := range ms {
		keys[i] = ms[i].key()
	}
	sort.Strings(keys)
	return strings.Join(keys, "\x00")
}

// matchHeader evaluates m against r's headers without allocating.
func (m *matcher) matchHeader(h http.Header) bool {
	vals := h[m.name]
	var ok bool
	switch m.kind {
	case kindPresent:
		ok = len(vals) > 0
	case kindValue:
		for _, v := range vals {
			if v == m.value {
				ok = true
				break
			}
		}
	case kindRegexp:
		for _, v := range vals {
			if m.re.MatchString(v) {
				ok = true
				break
			}
		}
	}
	return ok != m.invert
}

// matchQuery evaluates m against the raw query without parsing it into a
// map. Pairs are separated by '&' only; pairs holding a ';' or an invalid
// escape are skipped, as [net/url.ParseQuery] skips them. It allocates only
// to decode an escaped value tested by a Regexp.
func (m *matcher) matchQuery(raw string) bool {
	ok := false
	for raw != "" && !ok {
		var pair string
		if i := strings.IndexByte(raw, '&'); i >= 0 {
			pair, raw = raw[:i], raw[i+1:]
		} else {
			pair, raw = raw, ""
		}
		if pair == "" || strings.IndexByte(pair, ';') >= 0 {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		if !eqUnescaped(k, m.name, true) {
			continue
		}
		switch m.kind {
		case kindPresent:
			ok = validEscapes(v)
		case kindValue:
			ok = eqUnescaped(v, m.value, true)
		case kindRegexp:
			if strings.IndexByte(v, '%') < 0 && strings.IndexByte(v, '+') < 0 {
				ok = m.re.MatchString(v)
			} else if dv, err := url.QueryUnescape(v); err == nil {
				ok = m.re.MatchString(dv)
			}
		}
	}
	return ok != m.invert
}
