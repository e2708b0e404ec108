package middleware

import (
	"encoding/binary"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/gatewaykit/gateway/internal/reqinfo"
)

func TestIPFilter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		cfg    IPFilterConfig
		remote string
		client string // reqinfo ClientIP set by RealIP, if any
		want   int
	}{
		{name: "no rules", remote: "1.2.3.4:1", want: 200},
		{name: "deny hit", cfg: IPFilterConfig{Deny: prefixes("1.2.3.0/24")}, remote: "1.2.3.4:1", want: 403},
		{name: "deny miss", cfg: IPFilterConfig{Deny: prefixes("1.2.3.0/24")}, remote: "1.2.4.4:1", want: 200},
		{name: "allow hit", cfg: IPFilterConfig{Allow: prefixes("10.0.0.0/8")}, remote: "10.9.9.9:1", want: 200},
		{name: "allow miss", cfg: IPFilterConfig{Allow: prefixes("10.0.0.0/8")}, remote: "11.0.0.1:1", want: 403},
		{name: "deny wins", cfg: IPFilterConfig{Allow: prefixes("10.0.0.0/8"), Deny: prefixes("10.1.0.0/16")}, remote: "10.1.2.3:1", want: 403},
		{name: "allow with deny elsewhere", cfg: IPFilterConfig{Allow: prefixes("10.0.0.0/8"), Deny: prefixes("10.1.0.0/16")}, remote: "10.2.2.3:1", want: 200},
		{name: "v6 allow", cfg: IPFilterConfig{Allow: prefixes("2001:db8::/32")}, remote: "[2001:db8:5::1]:1", want: 200},
		{name: "v6 miss", cfg: IPFilterConfig{Allow: prefixes("2001:db8::/32")}, remote: "[2001:db9::1]:1", want: 403},
		{name: "v4 prefix vs mapped peer", cfg: IPFilterConfig{Deny: prefixes("192.0.2.0/24")}, remote: "[::ffff:192.0.2.1]:1", want: 403},
		{name: "mapped prefix vs v4 peer", cfg: IPFilterConfig{Deny: prefixes("::ffff:192.0.2.0/120")}, remote: "192.0.2.1:1", want: 403},
		{name: "v4 rule does not match v6", cfg: IPFilterConfig{Allow: prefixes("0.0.0.0/0")}, remote: "[2001:db8::1]:1", want: 403},
		{name: "all v6", cfg: IPFilterConfig{Deny: prefixes("::/0")}, remote: "[2001:db8::1]:1", want: 403},
		{name: "host route", cfg: IPFilterConfig{Deny: prefixes("2001:db8::1/128")}, remote: "[2001:db8::1]:1", want: 403},
		{name: "uses RealIP client", cfg: IPFilterConfig{Deny: prefixes("198.51.100.0/24")}, remote: "10.0.0.1:1", client: "198.51.100.7", want: 403},
		{name: "unknown client fails closed", cfg: IPFilterConfig{Deny: prefixes("198.51.100.0/24")}, remote: "pipe", want: 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := IPFilter(tt.cfg)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			req.RemoteAddr = tt.remote
			if tt.client != "" {
				var info *reqinfo.Info
				req, info = reqinfo.Ensure(req)
				info.ClientIP = netip.MustParseAddr(tt.client)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			assert.Equal(t, tt.want, rec.Code)
			if tt.want == 403 {
				assert.Equal(t, "application/problem+json", rec.Header().Get("Content-Type"))
			}
		})
	}
}

// TestIPRangesAgainstLinear compares the compiled ranges with a linear scan
// of the prefixes over many addresses, including merged and nested ones.
func TestIPRangesAgainstLinear(t *testing.T) {
	t.Parallel()
	ps := prefixes("10.0.0.0/8", "10.1.0.0/16", "10.255.255.255/32", "11.0.0.0/8", "192.168.1.0/24",
		"192.168.2.0/24", "0.0.0.0/32", "255.255.255.255/32", "2001:db8::/32", "2001:db8:1::/48",
		"2001:db9::/32", "fe80::/10", "::/128", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128", "2001:db8:ffff:ffff::/64")
	s := newIPRanges(ps, "test")
	linear := func(a netip.Addr) bool {
		for _, p := range ps {
			if p.Contains(a) {
				return true
			}
		}
		return false
	}
	probe := []string{"9.255.255.255", "10.0.0.0", "10.200.1.1", "11.255.255.255", "12.0.0.0", "192.168.0.255",
		"192.168.1.0", "192.168.2.255", "192.168.3.0", "0.0.0.0", "0.0.0.1", "255.255.255.255", "255.255.255.254",
		"2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", "2001:db8::", "2001:db9:ffff::1", "2001:dba::", "fe80::1",
		"febf:ffff::1", "fec0::", "::", "::1", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe"}
	for _, p := range probe {
		a := netip.MustParseAddr(p)
		assert.Equal(t, linear(a), s.contains(a), p)
	}
	assert.Len(t, s.v4, 4, "adjacent 10/8 and 11/8, and the two /24s, merge; nested ranges vanish")
}

func manyPrefixes(n int) []netip.Prefix {
	ps := make([]netip.Prefix, 0, n)
	for i := range n {
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], uint32(i)<<10|0x0a000000) // spaced /22s inside 10/8 and up
		ps = append(ps, netip.PrefixFrom(netip.AddrFrom4(b), 22))
		if i%4 == 0 {
			ps = append(ps, netip.MustParsePrefix("2001:db8:"+strconv.FormatInt(int64(i%65536), 16)+"::/48"))
		}
	}
	return ps[:n]
}

// BenchmarkIPFilter measures requests that pass: a deny list that does not
// hold the client, and an allow list that does (the binary search runs to
// the end either way).
func BenchmarkIPFilter(b *testing.B) {
	next := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	for _, n := range []int{10, 10000} {
		for _, c := range []struct {
			name, remote string
			allow        bool
		}{
			{"deny-list/v4", "203.0.113.9:1", false},
			{"deny-list/v6", "[2001:db9:4::1]:1", false},
			{"allow-list/v4", "10.0.4.1:1", true},
			{"allow-list/v6", "[2001:db8:4::1]:1", true},
		} {
			b.Run(strconv.Itoa(n)+"/"+c.name, func(b *testing.B) {
				cfg := IPFilterConfig{Deny: manyPrefixes(n)}
				if c.allow {
					cfg = IPFilterConfig{Allow: manyPrefixes(n)}
				}
				h := IPFilter(cfg)(next)
				req := httptest.NewRequest(http.MethodGet, "/", nil)
				req.RemoteAddr = c.remote
				w := &discardWriter{h: make(http.Header)}
				b.ReportAllocs()
				for b.Loop() {
					h.ServeHTTP(w, req)
				}
				if len(w.h) != 0 {
					b.Fatal("request was refused")
				}
			})
		}
	}
}
