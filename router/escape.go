package router

import "net/url"

// unescapeOrRaw returns the path-unescaped s, or s itself when it holds an
// invalid escape, as ServeMux does for pattern literals and path values.
func unescapeOrRaw(s string) string {
	if !hasByte(s, '%') {
		return s
	}
	u, err := url.PathUnescape(s)
	if err != nil {
		return s
	}
	return u
}

func hasByte(s string, b byte) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == b {
			return true
		}
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

// validEscapes reports whether every '%' in s starts a valid %XX escape.
func validEscapes(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == '%' {
			if i+2 >= len(s) {
				return false
			}
			if _, ok := unhex(s[i+1]); !ok {
				return false
			}
			if _, ok := unhex(s[i+2]); !ok {
				return false
			}
			i += 2
		}
	}
	return true
}

// unescapeInto decodes the path escapes of s into buf and returns the number
// of bytes written. It reports false when s has an invalid escape or does not
// fit in buf. A '+' stays a '+' (path, not query, semantics).
func unescapeInto(buf []byte, s string) (int, bool) {
	n := 0
	for i := 0; i < len(s); i++ {
		if n == len(buf) {
			return 0, false
		}
		c := s[i]
		if c == '%' {
			if i+2 >= len(s) {
				return 0, false
			}
			h, ok1 := unhex(s[i+1])
			l, ok2 := unhex(s[i+2])
			if !ok1 || !ok2 {
				return 0, false
			}
			c = h<<4 | l
			i += 2
		}
		buf[n] = c
		n++
	}
	return n, true
}

// eqUnescaped reports whether esc decodes to plain. It applies path
// semantics, or query semantics ('+' is a space) when query is true. An
// invalid escape never equals anything, except that in path mode an esc with
// an invalid escape is compared raw, as ServeMux does. It does not allocate.
func eqUnescaped(esc, plain string, query bool) bool {
	if !query && !validEscapes(esc) {
		return esc == plain
	}
	j := 0
	for i := 0; i < len(esc); i++ {
		c := esc[i]
		switch {
		case c == '%':
			if i+2 >= len(esc) {
				return false
			}
			h, ok1 := unhex(esc[i+1])
			l, ok2 := unhex(esc[i+2])
			if !ok1 || !ok2 {
				return false
			}
			c = h<<4 | l
			i += 2
		case c == '+' && query:
			c = ' '
		}
		if j >= len(plain) || plain[j] != c {
			return false
		}
		j++
	}
	return j == len(plain)
}
