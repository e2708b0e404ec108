package middleware

import (
	"net/http"
	"net/url"
	"unicode/utf8"

	"github.com/gatewaykit/gateway/internal/problem"
)

// PathConfig configures [NormalizePath]; its zero value is the strict
// default. NormalizePath copies it.
type PathConfig struct {
	// AllowEncodedSlash keeps percent-encoded slashes and backslashes (%2F,
	// %5C, and a raw backslash, which is encoded as %5C) in a path as opaque
	// data inside their segment: they never act as separators and never
	// take part in dot-segment resolution. The gateway's router matches on
	// the escaped path, so they stay data there too; an upstream that
	// decodes them before routing may still see separators. Zero (the
	// default): such a path is answered 400.
	AllowEncodedSlash bool
}

// NormalizePath returns a middleware that puts the request path into one
// canonical form before routing and authorization, so that no spelling of a
// path can reach a route (or an upstream resource) other than the one the
// route table names. Put it before the router and every policy that looks
// at the path.
//
// The canonical form of the escaped path (RFC 3986 §6.2.2):
//   - percent-encodings of unreserved characters (ALPHA, DIGIT, "-", ".",
//     "_", "~") are decoded, all other percent-encodings are upper-cased, and
//     raw characters a path may not hold (such as "[" or "|") are encoded;
//   - runs of slashes are merged ("//" becomes "/");
//   - "." and ".." segments, including encoded ones ("%2e", ".%2E"), are
//     resolved (RFC 3986 §5.2.4); a trailing "." or ".." leaves a trailing
//     slash, and a trailing slash is otherwise kept as sent.
//
// When the canonical form differs, the request is served with it: the
// handler receives a shallow copy whose URL.Path, URL.RawPath and
// RequestURI are rewritten consistently (the inbound request is not
// modified). A path already canonical costs nothing and allocates nothing.
//
// These requests are answered 400 problem+json instead:
//   - a ".." that climbs above the root ("/../etc/passwd");
//   - an encoded slash or backslash (%2F, %5C, raw "\") unless
//     AllowEncodedSlash is set;
//   - invalid percent-encoding ("%zz", "%4"), encoded control characters
//     (%00 to %1F, %7F), encoded bytes that are not valid UTF-8;
//   - a dot segment carrying a path parameter ("..;x", ".;x"), which
//     servlet containers resolve as a dot segment;
//   - a request-target that is neither a path nor, for OPTIONS only, "*":
//     "*" for other methods, or an opaque absolute URI. Absolute-form
//     targets ("GET http://host/a/../b", RFC 9112 §3.2.2) are accepted and
//     their path is normalized; net/http already takes the Host from them.
//
// CONNECT requests, whose target is an authority, pass unchanged. The
// middleware is safe for simultaneous use by multiple goroutines.
func NormalizePath(cfg PathConfig) func(http.Handler) http.Handler {
	allowSlash := cfg.AllowEncodedSlash
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			u := r.URL
			switch {
			case u == nil:
				problem.Write(w, r, http.StatusBadRequest, "invalid request target")
				return
			case r.Method == http.MethodConnect && u.Path == "":
				next.ServeHTTP(w, r)
				return
			case u.Opaque != "":
				problem.Write(w, r, http.StatusBadRequest, "invalid request target")
				return
			case u.Path == "*" && u.RawPath == "":
				if r.Method != http.MethodOptions {
					problem.Write(w, r, http.StatusBadRequest, `the request target "*" is only valid for OPTIONS`)
					return
				}
				next.ServeHTTP(w, r)
				return
			}
			esc := u.EscapedPath()
			out, bad := normalizePath(esc, allowSlash)
			if bad != "" {
				problem.Write(w, r, http.StatusBadRequest, "invalid request path: "+bad)
				return
			}
			if out == esc {
				next.ServeHTTP(w, r)
				return
			}
			dec, err := url.PathUnescape(out)
			if err != nil { // cannot happen: out is validly encoded
				problem.Write(w, r, http.StatusBadRequest, "invalid request path: invalid percent-encoding")
				return
			}
			r2 := r.WithContext(r.Context())
			u2 := *u
			u2.Path, u2.RawPath = dec, ""
			if u2.EscapedPath() != out {
				u2.RawPath = out
			}
			r2.URL = &u2
			r2.RequestURI = out
			if u.RawQuery != "" || u.ForceQuery {
				r2.RequestURI = out + "?" + u.RawQuery
			}
			next.ServeHTTP(w, r2)
		})
	}
}

const upperHex = "0123456789ABCDEF"

// normalizePath returns the canonical form of the escaped path p, or a
// reason why p is rejected. It allocates only when the result differs
// from p or is longer than 256 bytes.
func normalizePath(p string, allowSlash bool) (out, bad string) {
	if p == "" {
		return "/", ""
	}
	if p[0] != '/' {
		return "", "the path must start with /"
	}
	var stack [256]byte
	buf := stack[:0]
	high := false // saw an encoded byte >= 0x80: check UTF-8 at the end
	i := 1
	for {
		j := i
		for j < len(p) && p[j] != '/' {
			j++
		}
		last := j == len(p)
		segStart := len(buf)
		buf = append(buf, '/')
		for k := i; k < j; k++ {
			c := p[k]
			if c == '%' {
				if k+2 >= j {
					return "", "invalid percent-encoding"
				}
				hi, ok1 := unhex(p[k+1])
				lo, ok2 := unhex(p[k+2])
				if !ok1 || !ok2 {
					return "", "invalid percent-encoding"
				}
				v := hi<<4 | lo
				k += 2
				switch {
				case isUnreserved(v):
					buf = append(buf, v)
				case v == '/' || v == '\\':
					if !allowSlash {
						return "", "encoded slash or backslash"
					}
					buf = append(buf, '%', upperHex[v>>4], upperHex[v&15])
				case v < 0x20 || v == 0x7f:
					return "", "encoded control character"
				default:
					if v >= 0x80 {
						high = true
					}
					buf = append(buf, '%', upperHex[v>>4], upperHex[v&15])
				}
				continue
			}
			switch {
			case isUnreserved(c) || isPathPunct(c):
				buf = append(buf, c)
			case c == '\\':
				if !allowSlash {
					return "", "encoded slash or backslash"
				}
				buf = append(buf, '%', '5', 'C')
			case c <= 0x20 || c >= 0x7f:
				return "", "invalid character"
			default:
				buf = append(buf, '%', upperHex[c>>4], upperHex[c&15])
			}
		}
		seg := buf[segStart+1:]
		switch dot := dotSegment(seg); {
		case dot == 0 && len(seg) > 0:
			// a regular segment stays
		case dot < 0:
			return "", "dot segment with a path parameter"
		case len(seg) == 0: // empty: merged slash, or the trailing slash
			buf = buf[:segStart]
			if last {
				buf = append(buf, '/')
			}
		case dot == 1: // "."
			buf = buf[:segStart]
			if last {
				buf = append(buf, '/')
			}
		default: // ".."
			buf = buf[:segStart]
			if len(buf) == 0 {
				return "", "the path climbs above the root"
			}
			for len(buf) > 0 && buf[len(buf)-1] != '/' {
				buf = buf[:len(buf)-1]
			}
			buf = buf[:len(buf)-1] // the slash before the removed segment
			if last {
				buf = append(buf, '/')
			}
		}
		if last {
			break
		}
		i = j + 1
	}
	if len(buf) == 0 {
		buf = append(buf, '/')
	}
	if high && !validUTF8Escaped(buf) {
		return "", "encoded bytes are not valid UTF-8"
	}
	if string(buf) == p {
		return p, ""
	}
	return string(buf), ""
}

// dotSegment classifies a decoded segment: 1 for ".", 2 for "..", -1 for a
// dot segment with a servlet path parameter (".;x", "..;x"), 0 otherwise.
func dotSegment(seg []byte) int {
	n := len(seg)
	for i, c := range seg {
		if c == ';' {
			n = i
			break
		}
	}
	var dot int
	switch {
	case n == 1 && seg[0] == '.':
		dot = 1
	case n == 2 && seg[0] == '.' && seg[1] == '.':
		dot = 2
	default:
		return 0
	}
	if n < len(seg) {
		return -1
	}
	return dot
}

func isUnreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

// isPathPunct reports whether c is a sub-delim, ":" or "@", which a path
// segment may hold raw (RFC 3986 §3.3).
func isPathPunct(c byte) bool {
	switch c {
	case '!', '$', '&', '\'', '(', ')', '*', '+', ',', ';', '=', ':', '@':
		return true
	}
	return false
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// validUTF8Escaped reports whether the percent-decoding of the validly
// encoded path p is valid UTF-8. It decodes one sequence of encoded bytes at
// a time into a small buffer, so it does not allocate.
func validUTF8Escaped(p []byte) bool {
	var seq [utf8.UTFMax]byte
	n := 0
	for i := 0; i < len(p); {
		if p[i] != '%' {
			if n > 0 && !utf8.Valid(seq[:n]) {
				return false
			}
			n = 0
			i++
			continue
		}
		hi, _ := unhex(p[i+1])
		lo, _ := unhex(p[i+2])
		c := hi<<4 | lo
		i += 3
		if c < utf8.RuneSelf {
			if n > 0 && !utf8.Valid(seq[:n]) {
				return false
			}
			n = 0
			continue
		}
		if utf8.RuneStart(c) && n > 0 {
			if !utf8.Valid(seq[:n]) {
				return false
			}
			n = 0
		}
		if n == len(seq) {
			return false
		}
		seq[n] = c
		n++
	}
	return n == 0 || utf8.Valid(seq[:n])
}
