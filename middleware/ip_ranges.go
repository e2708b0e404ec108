package middleware

import (
	"cmp"
	"encoding/binary"
	"net/http"
	"net/netip"
	"slices"
)

// ipRanges is an immutable set of IP prefixes compiled into sorted, disjoint
// address ranges per family, so that membership is a binary search with no
// allocation whatever the number of prefixes.
type ipRanges struct {
	v4 []range4
	v6 []range6
}

type range4 struct{ lo, hi uint32 }

type u128 struct{ hi, lo uint64 }

func (a u128) less(b u128) bool { return a.hi < b.hi || a.hi == b.hi && a.lo < b.lo }

func (a u128) inc() (u128, bool) {
	if a.lo != ^uint64(0) {
		return u128{a.hi, a.lo + 1}, true
	}
	if a.hi != ^uint64(0) {
		return u128{a.hi + 1, 0}, true
	}
	return a, false
}

type range6 struct{ lo, hi u128 }

// normalizePrefix masks p and turns an IPv4-mapped IPv6 prefix
// (::ffff:10.0.0.0/104) into its IPv4 form. It panics on an invalid prefix:
// a configuration error.
func normalizePrefix(p netip.Prefix, what string) netip.Prefix {
	if !p.IsValid() {
		panic("middleware: invalid " + what + " prefix " + p.String())
	}
	if a := p.Addr(); a.Is4In6() {
		bits := p.Bits() - 96
		if bits < 0 {
			bits = 0
		}
		p = netip.PrefixFrom(a.Unmap(), bits)
	}
	return netip.PrefixFrom(p.Addr().WithZone(""), p.Bits()).Masked()
}

// newIPRanges compiles prefixes; it panics on an invalid prefix.
func newIPRanges(prefixes []netip.Prefix, what string) ipRanges {
	var s ipRanges
	for _, p := range prefixes {
		p = normalizePrefix(p, what)
		a := p.Addr()
		if a.Is4() {
			b := a.As4()
			lo := binary.BigEndian.Uint32(b[:])
			host := uint32(0)
			if p.Bits() < 32 {
				host = ^uint32(0) >> p.Bits()
			}
			s.v4 = append(s.v4, range4{lo, lo | host})
			continue
		}
		b := a.As16()
		lo := u128{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])}
		hi := lo
		switch bits := p.Bits(); {
		case bits == 0:
			hi = u128{^uint64(0), ^uint64(0)}
		case bits < 64:
			hi = u128{lo.hi | ^uint64(0)>>bits, ^uint64(0)}
		case bits == 64:
			hi.lo = ^uint64(0)
		case bits < 128:
			hi.lo = lo.lo | ^uint64(0)>>(bits-64)
		}
		s.v6 = append(s.v6, range6{lo, hi})
	}
	slices.SortFunc(s.v4, func(a, b range4) int { return cmp.Compare(a.lo, b.lo) })
	slices.SortFunc(s.v6, func(a, b range6) int {
		switch {
		case a.lo.less(b.lo):
			return -1
		case b.lo.less(a.lo):
			return 1
		}
		return 0
	})
	// Merge overlapping and adjacent ranges.
	if len(s.v4) > 0 {
		out := s.v4[:1]
		for _, r := range s.v4[1:] {
			last := &out[len(out)-1]
			if r.lo <= last.hi || (last.hi != ^uint32(0) && r.lo == last.hi+1) {
				last.hi = max(last.hi, r.hi)
				continue
			}
			out = append(out, r)
		}
		s.v4 = slices.Clip(out)
	}
	if len(s.v6) > 0 {
		out := s.v6[:1]
		for _, r := range s.v6[1:] {
			last := &out[len(out)-1]
			next, ok := last.hi.inc()
			if !last.hi.less(r.lo) || !ok || r.lo == next {
				if last.hi.less(r.hi) {
					last.hi = r.hi
				}
				continue
			}
			out = append(out, r)
		}
		s.v6 = slices.Clip(out)
	}
	return s
}

// empty reports whether the set holds no address.
func (s *ipRanges) empty() bool { return len(s.v4) == 0 && len(s.v6) == 0 }

// contains reports whether a is in the set. IPv4-mapped IPv6 addresses are
// looked up as IPv4; zones are ignored.
func (s *ipRanges) contains(a netip.Addr) bool {
	a = a.Unmap()
	if a.Is4() {
		b := a.As4()
		x := binary.BigEndian.Uint32(b[:])
		v := s.v4
		i, j := 0, len(v) // find the first range with lo > x
		for i < j {
			h := int(uint(i+j) >> 1)
			if v[h].lo <= x {
				i = h + 1
			} else {
				j = h
			}
		}
		return i > 0 && x <= v[i-1].hi
	}
	if !a.Is6() {
		return false
	}
	b := a.As16()
	x := u128{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])}
	v := s.v6
	i, j := 0, len(v)
	for i < j {
		h := int(uint(i+j) >> 1)
		if !x.less(v[h].lo) {
			i = h + 1
		} else {
			j = h
		}
	}
	return i > 0 && !v[i-1].hi.less(x)
}

// remoteIP returns the address of r's peer (r.RemoteAddr, with or without a
// port), unmapped and without zone, or the zero Addr when it does not parse.
func remoteIP(r *http.Request) netip.Addr {
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		return ap.Addr().Unmap().WithZone("")
	}
	if a, err := netip.ParseAddr(r.RemoteAddr); err == nil {
		return a.Unmap().WithZone("")
	}
	return netip.Addr{}
}
