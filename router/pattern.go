package router

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"path"
	"strings"
	"unicode"
)

// MaxParams is the largest number of named wildcards one pattern may hold.
// It bounds [Params], which lives on the stack so that matching allocates
// nothing. Patterns with more wildcards are rejected by [New].
const MaxParams = 8

type segKind uint8

const (
	segLit   segKind = iota // a literal segment, stored unescaped
	segWild                 // {name}: exactly one non-empty segment
	segMulti                // {name...} or a trailing slash: the rest of the path
)

// segment is one element of a parsed path pattern. A literal with s == ""
// in the last position is the {$} marker (the empty segment after a trailing
// slash); a segMulti with s == "" is the anonymous wildcard of a pattern that
// ends in a slash.
type segment struct {
	kind segKind
	s    string
}

// pattern is a parsed ServeMux-syntax pattern.
type pattern struct {
	method string
	host   string // lower-case, without brackets or trailing dot
	segs   []segment
	names  []string // named wildcards in order
}

// parsePattern parses "[METHOD ][HOST]/[PATH]" with the rules of
// [net/http.ServeMux] (see the net/http package documentation), except that
// the host is lower-cased, IPv6 brackets and a trailing dot are removed, and
// a host with a port is rejected because requests are matched on the host
// with its port stripped.
func parsePattern(s string) (*pattern, error) {
	if s == "" {
		return nil, errors.New("empty pattern")
	}
	p := &pattern{}
	rest := s
	if i := strings.IndexAny(s, " \t"); i >= 0 {
		p.method = s[:i]
		rest = strings.TrimLeft(s[i+1:], " \t")
		// Like ServeMux, leading blanks (an empty method) are allowed.
		if p.method != "" && !validMethod(p.method) {
			return nil, fmt.Errorf("invalid method %q", p.method)
		}
	}
	i := strings.IndexByte(rest, '/')
	if i < 0 {
		return nil, errors.New("host/path missing /")
	}
	host, path := rest[:i], rest[i:]
	if host != "" {
		h, err := canonicalPatternHost(host)
		if err != nil {
			return nil, err
		}
		p.host = h
	}
	// ServeMux refuses unclean paths for patterns with a method, because
	// it cleans request paths before matching. This router never cleans,
	// and the path normalization in front of it rejects such requests,
	// so an unclean pattern could only ever match a request that should
	// not exist: it is refused with or without a method. CONNECT paths are
	// not cleaned, as in ServeMux.
	if p.method != http.MethodConnect && path != cleanPath(path) {
		return nil, errors.New("unclean path (//, . or .. segments) can never match a normalized request")
	}
	seen := make(map[string]bool)
	for len(path) > 0 {
		path = path[1:] // drop the '/'
		if path == "" {
			// A trailing slash: an anonymous multi wildcard, so the
			// pattern matches the whole subtree, as in ServeMux.
			p.segs = append(p.segs, segment{kind: segMulti})
			break
		}
		j := strings.IndexByte(path, '/')
		if j < 0 {
			j = len(path)
		}
		seg := path[:j]
		path = path[j:]
		k := strings.IndexByte(seg, '{')
		if k < 0 {
			p.segs = append(p.segs, segment{kind: segLit, s: unescapeOrRaw(seg)})
			continue
		}
		if k != 0 {
			return nil, fmt.Errorf("bad wildcard segment %q (must start with '{')", seg)
		}
		if seg[len(seg)-1] != '}' {
			return nil, fmt.Errorf("bad wildcard segment %q (must end with '}')", seg)
		}
		name := seg[1 : len(seg)-1]
		if name == "$" {
			if path != "" {
				return nil, errors.New("{$} not at end")
			}
			p.segs = append(p.segs, segment{kind: segLit, s: ""})
			break
		}
		name, multi := strings.CutSuffix(name, "...")
		if multi && path != "" {
			return nil, fmt.Errorf("%s wildcard not at end", seg)
		}
		if name == "" {
			return nil, errors.New("empty wildcard name")
		}
		if !validWildcardName(name) {
			return nil, fmt.Errorf("bad wildcard name %q", name)
		}
		if seen[name] {
			return nil, fmt.Errorf("duplicate wildcard name %q", name)
		}
		seen[name] = true
		p.names = append(p.names, name)
		if multi {
			p.segs = append(p.segs, segment{kind: segMulti, s: name})
		} else {
			p.segs = append(p.segs, segment{kind: segWild, s: name})
		}
	}
	if len(p.names) > MaxParams {
		return nil, fmt.Errorf("%d wildcards, more than MaxParams (%d)", len(p.names), MaxParams)
	}
	return p, nil
}

// canonicalPatternHost lower-cases a pattern's host and removes IPv6
// brackets and a trailing dot, the same normalisation [canonicalHost] applies
// to requests.
func canonicalPatternHost(h string) (string, error) {
	if strings.ContainsAny(h, "{}") {
		return "", fmt.Errorf("host %q contains a {wildcard} (use *.domain for subdomains)", h)
	}
	if rest, ok := strings.CutPrefix(h, "*."); ok {
		if strings.ContainsAny(rest, "*[]:") || rest == "" || rest == "." {
			return "", fmt.Errorf("host %q: a wildcard host is *. followed by a domain name", h)
		}
		d, err := canonicalPatternHost(rest)
		if err != nil {
			return "", err
		}
		return "*." + d, nil
	}
	if strings.IndexByte(h, '*') >= 0 {
		return "", fmt.Errorf("host %q: '*' is only allowed as the whole first label (*.example.com)", h)
	}
	if strings.HasPrefix(h, "[") {
		if !strings.HasSuffix(h, "]") {
			return "", fmt.Errorf("host %q: missing ']' or has a port (hosts are matched without their port)", h)
		}
		h = h[1 : len(h)-1]
		if _, err := netip.ParseAddr(h); err != nil {
			return "", fmt.Errorf("host %q: bad IPv6 address", h)
		}
	} else if strings.IndexByte(h, ':') >= 0 {
		if _, err := netip.ParseAddr(h); err != nil {
			return "", fmt.Errorf("host %q has a port (hosts are matched without their port)", h)
		}
	}
	for i := 0; i < len(h); i++ {
		if c := h[i]; c <= ' ' || c == 0x7f || c == '/' || c == '?' || c == '#' || c == '@' {
			return "", fmt.Errorf("host %q contains %q", h, c)
		}
	}
	h = strings.ToLower(strings.TrimSuffix(h, "."))
	if h == "" {
		return "", errors.New("empty host")
	}
	return h, nil
}

// cleanPath is net/http's: path.Clean that keeps a trailing slash.
func cleanPath(p string) string {
	if p == "" {
		return "/"
	}
	if p[0] != '/' {
		p = "/" + p
	}
	np := path.Clean(p)
	if p[len(p)-1] == '/' && np != "/" {
		if len(p) == len(np)+1 && strings.HasPrefix(p, np) {
			np = p
		} else {
			np += "/"
		}
	}
	return np
}

// validMethod reports whether m is an RFC 9110 token, as ServeMux requires.
func validMethod(m string) bool {
	if m == "" {
		return false
	}
	for i := 0; i < len(m); i++ {
		c := m[i]
		if c >= 0x80 || !isTokenByte[c] {
			return false
		}
	}
	return true
}

var isTokenByte = func() (t [128]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

// validWildcardName reports whether s is a Go identifier, as ServeMux
// requires of wildcard names.
func validWildcardName(s string) bool {
	for i, c := range s {
		if !unicode.IsLetter(c) && c != '_' && (i == 0 || !unicode.IsDigit(c)) {
			return false
		}
	}
	return s != ""
}
