package h1

import "strings"

// Validation of what RoundTrip writes verbatim, after RFC 9110/9112 and
// golang.org/x/net/http/httpguts (not imported: it pulls in x/text through
// idna for hosts that this package never converts).

// isTokenByte reports whether b is a tchar (RFC 9110 section 5.6.2).
func isTokenByte(b byte) bool {
	return tokenTable[b]
}

var tokenTable = func() (t [256]bool) {
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

// validToken reports whether s is a non-empty token: a method or a header
// field name.
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isTokenByte(s[i]) {
			return false
		}
	}
	return true
}

// validFieldValue reports whether v may be written as a field value: no
// control bytes other than horizontal tab (so no CR or LF), obs-text allowed.
func validFieldValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if b := v[i]; (b < ' ' && b != '\t') || b == 0x7f {
			return false
		}
	}
	return true
}

// validHost reports whether h may be written as the Host header: the byte
// set of an authority (reg-name, IP literal, port), like httpguts.ValidHostHeader.
func validHost(h string) bool {
	for i := 0; i < len(h); i++ {
		if !hostTable[h[i]] {
			return false
		}
	}
	return true
}

var hostTable = func() (t [256]bool) {
	for c := 0; c < 256; c++ {
		t[c] = tokenTable[c] || c >= 0x80
	}
	for _, c := range "[]:@;=,()" {
		t[c] = true
	}
	return t
}()

// validTrailerName reports whether k may be sent as a trailer field: not a
// field that frames, routes or authenticates the message (RFC 9110 section 6.5.1).
func validTrailerName(k string) bool {
	if !validToken(k) {
		return false
	}
	switch strings.ToLower(k) {
	case "authorization", "cache-control", "connection", "content-encoding", "content-length",
		"content-range", "content-type", "expect", "host", "keep-alive", "max-forwards",
		"pragma", "proxy-authenticate", "proxy-authorization", "proxy-connection", "range",
		"realm", "te", "trailer", "transfer-encoding", "www-authenticate":
		return false
	}
	return true
}
