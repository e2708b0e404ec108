package middleware

import (
	"net/http"
	"net/netip"
	"strings"

	"github.com/gatewaykit/gateway/internal/reqinfo"
)

// RealIPConfig configures [RealIP]. RealIP copies what it needs when it is
// called; later changes to the config or its slices have no effect.
type RealIPConfig struct {
	// TrustedProxies are the networks of the proxies and load balancers in
	// front of the gateway whose forwarding header is believed. Empty (the
	// default) trusts no one: the client IP is always the peer address and
	// the header is ignored.
	TrustedProxies []netip.Prefix
	// Header names the header the trusted proxies carry the client address
	// in. Empty means "X-Forwarded-For" (a comma-separated list, each proxy
	// appending its peer). "Forwarded" reads the RFC 7239 for= parameters.
	// Any other name (such as "X-Real-IP", "True-Client-IP" or
	// "CF-Connecting-IP") is read as a header holding exactly one address,
	// set by the trusted proxy.
	Header string
}

type headerKind int

const (
	kindXFF headerKind = iota
	kindForwarded
	kindSingle
)

// RealIP returns a middleware that resolves the client's IP address and
// records it in the request's reqinfo record, where [ClientIP], [IPFilter],
// the access log and rate-limit keys read it.
//
// The client IP is the peer address (r.RemoteAddr) unless the peer is in
// TrustedProxies. Then, for X-Forwarded-For and Forwarded, the header's
// addresses are walked from the right (the most recent hop; several header
// lines count as one list in order), skipping trusted proxies: the first
// address that is not trusted is the client. If every address is trusted,
// the left-most one is. For a single-address header, its value is the
// client. The resolution fails closed: a value that does not parse (garbage,
// "unknown", an obfuscated Forwarded node, a quoting error, several lines of
// a single-address header) stops the walk at the last trusted hop, so a
// client can never inject a left-most address of its choice. IPv4-mapped
// IPv6 addresses are recorded as IPv4 and zones are dropped.
//
// RealIP panics when a prefix is invalid. The middleware is safe for
// simultaneous use by multiple goroutines and allocates nothing once the
// request carries a reqinfo record.
func RealIP(cfg RealIPConfig) func(http.Handler) http.Handler {
	trusted := newIPRanges(cfg.TrustedProxies, "trusted proxy")
	header := http.CanonicalHeaderKey(cfg.Header)
	kind := kindSingle
	switch header {
	case "", "X-Forwarded-For":
		header, kind = "X-Forwarded-For", kindXFF
	case "Forwarded":
		kind = kindForwarded
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			r, info := reqinfo.Ensure(r)
			info.ClientIP = resolveClientIP(r, &trusted, header, kind)
			next.ServeHTTP(w, r)
		})
	}
}

// ClientIP returns the client IP of r: the one [RealIP] resolved, else the
// peer address from r.RemoteAddr, else the zero Addr.
func ClientIP(r *http.Request) netip.Addr {
	if info := reqinfo.From(r.Context()); info != nil && info.ClientIP.IsValid() {
		return info.ClientIP
	}
	return remoteIP(r)
}

func resolveClientIP(r *http.Request, trusted *ipRanges, header string, kind headerKind) netip.Addr {
	peer := remoteIP(r)
	if !peer.IsValid() || !trusted.contains(peer) {
		return peer
	}
	vals := r.Header[header]
	switch kind {
	case kindSingle:
		if len(vals) != 1 {
			return peer
		}
		if a, ok := parseNode(trimOWS(vals[0])); ok {
			return a
		}
		return peer
	case kindForwarded:
		return walkForwarded(vals, peer, trusted)
	}
	client := peer
	for i := len(vals) - 1; i >= 0; i-- {
		line := vals[i]
		end := len(line)
		for end >= 0 {
			start := strings.LastIndexByte(line[:end], ',') + 1
			elem := trimOWS(line[start:end])
			end = start - 1
			if elem == "" {
				continue // empty list elements carry no hop (RFC 9110 §5.6.1)
			}
			a, ok := parseNode(elem)
			if !ok {
				return client
			}
			if !trusted.contains(a) {
				return a
			}
			client = a
		}
	}
	return client
}

// walkForwarded walks RFC 7239 Forwarded header lines from the right.
func walkForwarded(vals []string, peer netip.Addr, trusted *ipRanges) netip.Addr {
	client := peer
	var stack [8]string
	for i := len(vals) - 1; i >= 0; i-- {
		fors, ok := forwardedFors(vals[i], stack[:0])
		if !ok {
			return client // a syntax error: nothing in this line is believed
		}
		for j := len(fors) - 1; j >= 0; j-- {
			a, good := parseNode(fors[j])
			if !good {
				return client
			}
			if !trusted.contains(a) {
				return a
			}
			client = a
		}
	}
	return client
}

// forwardedFors appends to dst the for= value of each element of one
// Forwarded line, left to right. An element without for= (or with a value
// that cannot be an address) contributes "", which fails to parse, so the
// walk stops there. Empty elements are skipped. ok is false on a syntax
// error, and dst is then returned as it came.
func forwardedFors(line string, dst []string) ([]string, bool) {
	base := len(dst)
	i, n := 0, len(line)
	for i <= n {
		forVal, haveFor, nonEmpty := "", false, false
		for {
			i = skipOWS(line, i)
			if i >= n || line[i] == ',' {
				break
			}
			if line[i] == ';' {
				i++
				continue
			}
			nonEmpty = true
			key, val, j, ok := forwardedPair(line, i)
			if !ok {
				return dst[:base], false
			}
			i = skipOWS(line, j)
			if strings.EqualFold(key, "for") {
				if haveFor {
					return dst[:base], false // two for= in one element
				}
				forVal, haveFor = val, true
			}
			if i < n && line[i] != ';' && line[i] != ',' {
				return dst[:base], false
			}
		}
		if nonEmpty {
			dst = append(dst, forVal)
		}
		i++ // past ',' or the end
	}
	return dst, true
}

// forwardedPair parses token "=" (token / quoted-string) at line[i:]. A
// quoted value with escapes is returned as "" (addresses need none).
func forwardedPair(line string, i int) (key, val string, next int, ok bool) {
	n := len(line)
	ks := i
	for i < n && isTokenChar(line[i]) {
		i++
	}
	key = line[ks:i]
	if key == "" || i >= n || line[i] != '=' {
		return "", "", i, false
	}
	i++
	if i < n && line[i] == '"' {
		i++
		vs := i
		escaped := false
		for i < n && line[i] != '"' {
			if line[i] == '\\' {
				escaped = true
				i++
			}
			i++
		}
		if i >= n {
			return "", "", i, false
		}
		val = line[vs:i]
		if escaped {
			val = ""
		}
		return key, val, i + 1, true
	}
	vs := i
	for i < n && isTokenChar(line[i]) {
		i++
	}
	return key, line[vs:i], i, true
}

func skipOWS(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	return i
}

// isTokenChar reports whether c is an RFC 9110 tchar.
func isTokenChar(c byte) bool { return tokenTable[c] }

var tokenTable = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range []byte("!#$%&'*+-.^_`|~") {
		t[c] = true
	}
	return t
}()

// parseNode parses an address as proxies write it: "192.0.2.1",
// "192.0.2.1:8080", "2001:db8::1", "[2001:db8::1]" or "[2001:db8::1]:8080".
// The result is unmapped and zoneless.
func parseNode(s string) (netip.Addr, bool) {
	if s == "" {
		return netip.Addr{}, false
	}
	if s[0] == '[' {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return netip.Addr{}, false
		}
		rest := s[end+1:]
		if rest != "" && !validPort(rest) {
			return netip.Addr{}, false
		}
		a, err := netip.ParseAddr(s[1:end])
		if err != nil || !a.Is6() || a.Zone() != "" {
			return netip.Addr{}, false
		}
		return a.Unmap(), true
	}
	if a, err := netip.ParseAddr(s); err == nil {
		if a.Zone() != "" {
			return netip.Addr{}, false
		}
		return a.Unmap(), true
	}
	// IPv4 with a port.
	c := strings.LastIndexByte(s, ':')
	if c < 0 || !validPort(s[c:]) {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(s[:c])
	if err != nil || !a.Is4() {
		return netip.Addr{}, false
	}
	return a, true
}

// validPort reports whether s is ":" followed by 1 to 5 digits.
func validPort(s string) bool {
	if len(s) < 2 || len(s) > 6 || s[0] != ':' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// trimOWS trims spaces and horizontal tabs.
func trimOWS(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}
