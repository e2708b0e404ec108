package upstream

import (
	"math/bits"
	"net/http"
	"net/netip"
	"net/textproto"
	"strings"

	"github.com/gatewaykit/gateway/internal/reqinfo"
)

// The hash key helpers below return functions for [MaglevConfig.Key]. Each
// returns "" when the request carries no key, and [Maglev] then spreads the
// request round robin. None of them allocates.

// HashByHeader returns a key function that reads the first value of the
// request header name (canonicalised once, here). Typical keys are a user or
// tenant ID set by authentication, or a session header.
func HashByHeader(name string) func(r *http.Request) string {
	key := textproto.CanonicalMIMEHeaderKey(name)
	return func(r *http.Request) string {
		if v := r.Header[key]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
}

// HashByCookie returns a key function that reads the value of the cookie
// name (surrounding double quotes removed) from the request's Cookie headers.
// It scans the headers in place instead of calling [net/http.Request.Cookie],
// which parses every cookie into new values.
func HashByCookie(name string) func(r *http.Request) string {
	return func(r *http.Request) string {
		for _, line := range r.Header["Cookie"] {
			if v, ok := cookieValue(line, name); ok {
				return v
			}
		}
		return ""
	}
}

// cookieValue finds name in one Cookie header line ("a=1; b=2").
func cookieValue(line, name string) (string, bool) {
	for line != "" {
		var part string
		part, line, _ = strings.Cut(line, ";")
		part = strings.TrimLeft(part, " \t")
		k, v, ok := strings.Cut(part, "=")
		if !ok || strings.TrimRight(k, " \t") != name {
			continue
		}
		v = strings.TrimRight(v, " \t")
		if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
			v = v[1 : len(v)-1]
		}
		return v, true
	}
	return "", false
}

// HashByClientIP is a key function returning the client IP address in its
// canonical text form: the one the RealIP middleware resolved through trusted
// proxies when it ran, else the host part of r.RemoteAddr.
//
// [Maglev] hashes the resolved address without building its text; called on
// its own, HashByClientIP allocates only when the resolved address differs
// from the connection's peer address.
func HashByClientIP(r *http.Request) string {
	host := peerHost(r.RemoteAddr)
	if info := reqinfo.From(r.Context()); info != nil && info.ClientIP.IsValid() {
		// Same address, already in canonical text form: return the text the
		// request holds, so that no string is built.
		if peer, err := netip.ParseAddr(host); err == nil && peer == info.ClientIP && canonicalIP(host, peer) {
			return host
		}
		return info.ClientIP.String()
	}
	return host
}

// canonicalIP reports whether host is exactly the canonical text of ip,
// without building that text.
func canonicalIP(host string, ip netip.Addr) bool {
	var buf [64]byte
	return string(ip.AppendTo(buf[:0])) == host
}

// HashByPath is a key function returning the request's URL path, so that
// each resource is served by one endpoint (cache affinity).
func HashByPath(r *http.Request) string {
	if r.URL == nil {
		return ""
	}
	return r.URL.Path
}

// peerHost returns the host of a "host:port" or "[v6]:port" address, or
// addr itself when it has no port.
func peerHost(addr string) string {
	if addr == "" {
		return ""
	}
	if addr[0] == '[' {
		if end := strings.IndexByte(addr, ']'); end > 0 {
			return addr[1:end]
		}
		return addr
	}
	i := strings.LastIndexByte(addr, ':')
	if i < 0 || strings.IndexByte(addr[:i], ':') >= 0 {
		// No port, or a bare IPv6 address.
		return addr
	}
	return addr[:i]
}

// xxHash64 (https://github.com/Cyan4973/xxHash, XXH64), written out here so
// that upstream needs no dependency for it. Consistent hashing must map a key
// to the same endpoint on every gateway instance, so the hash must not be
// seeded per process (hash/maphash is); XXH64 is fast, well distributed and
// specified, and the tests pin it to the reference vectors.
const (
	xxPrime1 uint64 = 11400714785074694791
	xxPrime2 uint64 = 14029467366897019727
	xxPrime3 uint64 = 1609587929392839161
	xxPrime4 uint64 = 9650029242287828579
	xxPrime5 uint64 = 2870177450012600261
)

func xxRound(acc, input uint64) uint64 {
	acc += input * xxPrime2
	acc = bits.RotateLeft64(acc, 31)
	return acc * xxPrime1
}

func xxMerge(acc, val uint64) uint64 {
	acc ^= xxRound(0, val)
	return acc*xxPrime1 + xxPrime4
}

func le64(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

func le32(s string) uint32 {
	_ = s[3]
	return uint32(s[0]) | uint32(s[1])<<8 | uint32(s[2])<<16 | uint32(s[3])<<24
}

// xxh64 returns the XXH64 hash of s with the given seed.
func xxh64(s string, seed uint64) uint64 {
	n := len(s)
	var h uint64
	if n >= 32 {
		v1 := seed + xxPrime1 + xxPrime2
		v2 := seed + xxPrime2
		v3 := seed
		v4 := seed - xxPrime1
		for len(s) >= 32 {
			v1 = xxRound(v1, le64(s[0:8]))
			v2 = xxRound(v2, le64(s[8:16]))
			v3 = xxRound(v3, le64(s[16:24]))
			v4 = xxRound(v4, le64(s[24:32]))
			s = s[32:]
		}
		h = bits.RotateLeft64(v1, 1) + bits.RotateLeft64(v2, 7) +
			bits.RotateLeft64(v3, 12) + bits.RotateLeft64(v4, 18)
		h = xxMerge(h, v1)
		h = xxMerge(h, v2)
		h = xxMerge(h, v3)
		h = xxMerge(h, v4)
	} else {
		h = seed + xxPrime5
	}
	h += uint64(n)
	for ; len(s) >= 8; s = s[8:] {
		h ^= xxRound(0, le64(s))
		h = bits.RotateLeft64(h, 27)*xxPrime1 + xxPrime4
	}
	if len(s) >= 4 {
		h ^= uint64(le32(s)) * xxPrime1
		h = bits.RotateLeft64(h, 23)*xxPrime2 + xxPrime3
		s = s[4:]
	}
	for ; len(s) > 0; s = s[1:] {
		h ^= uint64(s[0]) * xxPrime5
		h = bits.RotateLeft64(h, 11) * xxPrime1
	}
	h ^= h >> 33
	h *= xxPrime2
	h ^= h >> 29
	h *= xxPrime3
	h ^= h >> 32
	return h
}
