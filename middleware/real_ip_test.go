package middleware

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatewaykit/gateway/internal/reqinfo"
)

func prefixes(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

func TestRealIP(t *testing.T) {
	t.Parallel()
	trusted := prefixes("10.0.0.0/8", "192.168.0.0/16", "2001:db8:ffff::/48")
	tests := []struct {
		name    string
		header  string
		trusted []netip.Prefix
		remote  string
		values  []string
		want    string
	}{
		{name: "no trust ignores header", remote: "203.0.113.5:1234", values: []string{"1.2.3.4"}, want: "203.0.113.5"},
		{name: "untrusted peer spoofing", trusted: trusted, remote: "203.0.113.5:1234", values: []string{"10.0.0.1, 1.2.3.4"}, want: "203.0.113.5"},
		{name: "trusted peer no header", trusted: trusted, remote: "10.0.0.2:1234", want: "10.0.0.2"},
		{name: "trusted peer one hop", trusted: trusted, remote: "10.0.0.2:1234", values: []string{"198.51.100.7"}, want: "198.51.100.7"},
		{name: "spoofed left-most ignored", trusted: trusted, remote: "10.0.0.2:1234", values: []string{"6.6.6.6, 198.51.100.7"}, want: "198.51.100.7"},
		{name: "chain of trusted proxies", trusted: trusted, remote: "10.0.0.2:1234", values: []string{"6.6.6.6, 198.51.100.7, 192.168.1.1, 10.1.1.1"}, want: "198.51.100.7"},
		{name: "all trusted takes left-most", trusted: trusted, remote: "10.0.0.2:1234", values: []string{"10.9.9.9, 192.168.1.1"}, want: "10.9.9.9"},
		{name: "multiple lines in order", trusted: trusted, remote: "10.0.0.2:1234", values: []string{"6.6.6.6, 198.51.100.7", "192.168.1.1"}, want: "198.51.100.7"},
		{name: "multiple lines last is client", trusted: trusted, remote: "10.0.0.2:1234", values: []string{"198.51.100.7", "203.0.113.9"}, want: "203.0.113.9"},
		{name: "garbage fails closed to peer", trusted: trusted, remote: "10.0.0.2:1234", values: []string{"6.6.6.6, garbage"}, want: "10.0.0.2"},
		{name: "garbage after trusted hop", trusted: trusted, remote: "10.0.0.2:1234", values: []string{"6.6.6.6, nonsense, 192.168.1.1"}, want: "192.168.1.1"},
		{name: "unknown fails closed", trusted: trusted, remote: "10.0.0.2:1234", values: []string{"unknown"}, want: "10.0.0.2"},
		{name: "empty elements skipped", trusted: trusted, remote: "10.0.0.2:1234", values: []string{"198.51.100.7,, "}, want: "198.51.100.7"},
		{name: "ipv4 with port", trusted: trusted, remote: "10.0.0.2:1234", values: []string{"198.51.100.7:4444"}, want: "198.51.100.7"},
		{name: "ipv6 plain", trusted: trusted, remote: "[2001:db8:ffff::1]:443", values: []string{"2001:db8:1::7"}, want: "2001:db8:1::7"},
		{name: "ipv6 bracketed port", trusted: trusted, remote: "[2001:db8:ffff::1]:443", values: []string{"[2001:db8:1::7]:80"}, want: "2001:db8:1::7"},
		{name: "ipv6 zone rejected", trusted: trusted, remote: "10.0.0.2:1", values: []string{"fe80::1%eth0"}, want: "10.0.0.2"},
		{name: "mapped v4 peer trusted", trusted: trusted, remote: "[::ffff:10.0.0.2]:1234", values: []string{"198.51.100.7"}, want: "198.51.100.7"},
		{name: "mapped v4 in header unmapped", trusted: trusted, remote: "10.0.0.2:1", values: []string{"::ffff:198.51.100.7"}, want: "198.51.100.7"},
		{name: "bad port", trusted: trusted, remote: "10.0.0.2:1", values: []string{"198.51.100.7:http"}, want: "10.0.0.2"},
		{name: "remote without port", trusted: trusted, remote: "10.0.0.2", values: []string{"198.51.100.7"}, want: "198.51.100.7"},
		{name: "unparsable remote", trusted: trusted, remote: "pipe", values: []string{"198.51.100.7"}, want: "invalid IP"},

		{name: "x-real-ip trusted", header: "X-Real-IP", trusted: trusted, remote: "10.0.0.2:1", values: []string{" 198.51.100.7 "}, want: "198.51.100.7"},
		{name: "x-real-ip untrusted", header: "X-Real-IP", trusted: trusted, remote: "203.0.113.5:1", values: []string{"198.51.100.7"}, want: "203.0.113.5"},
		{name: "x-real-ip list fails closed", header: "X-Real-IP", trusted: trusted, remote: "10.0.0.2:1", values: []string{"1.1.1.1, 2.2.2.2"}, want: "10.0.0.2"},
		{name: "x-real-ip two lines fail closed", header: "x-real-ip", trusted: trusted, remote: "10.0.0.2:1", values: []string{"1.1.1.1", "2.2.2.2"}, want: "10.0.0.2"},

		{name: "forwarded simple", header: "Forwarded", trusted: trusted, remote: "10.0.0.2:1", values: []string{"for=198.51.100.7;proto=https"}, want: "198.51.100.7"},
		{name: "forwarded chain", header: "Forwarded", trusted: trusted, remote: "10.0.0.2:1", values: []string{`for=6.6.6.6, for="198.51.100.7:80";by=x, for=192.168.3.3`}, want: "198.51.100.7"},
		{name: "forwarded ipv6 quoted", header: "Forwarded", trusted: trusted, remote: "10.0.0.2:1", values: []string{`For="[2001:db8:cafe::17]:4711"`}, want: "2001:db8:cafe::17"},
		{name: "forwarded multiple lines", header: "Forwarded", trusted: trusted, remote: "10.0.0.2:1", values: []string{"for=6.6.6.6", "for=198.51.100.7", "for=10.3.3.3"}, want: "198.51.100.7"},
		{name: "forwarded unknown fails closed", header: "Forwarded", trusted: trusted, remote: "10.0.0.2:1", values: []string{"for=6.6.6.6, for=unknown, for=10.3.3.3"}, want: "10.3.3.3"},
		{name: "forwarded obfuscated fails closed", header: "Forwarded", trusted: trusted, remote: "10.0.0.2:1", values: []string{"for=6.6.6.6, for=_hidden"}, want: "10.0.0.2"},
		{name: "forwarded element without for", header: "Forwarded", trusted: trusted, remote: "10.0.0.2:1", values: []string{"for=6.6.6.6, proto=http"}, want: "10.0.0.2"},
		{name: "forwarded syntax error", header: "Forwarded", trusted: trusted, remote: "10.0.0.2:1", values: []string{`for="6.6.6.6`}, want: "10.0.0.2"},
		{name: "forwarded unquoted port is syntax error", header: "Forwarded", trusted: trusted, remote: "10.0.0.2:1", values: []string{`for=6.6.6.6:80`}, want: "10.0.0.2"},
		{name: "forwarded duplicate for", header: "Forwarded", trusted: trusted, remote: "10.0.0.2:1", values: []string{`for=6.6.6.6;for=7.7.7.7`}, want: "10.0.0.2"},
		{name: "forwarded escaped value", header: "Forwarded", trusted: trusted, remote: "10.0.0.2:1", values: []string{`for="6.6.6.\6"`}, want: "10.0.0.2"},
		{name: "forwarded quoted comma", header: "Forwarded", trusted: trusted, remote: "10.0.0.2:1", values: []string{`for=198.51.100.7;ext="a,b"`}, want: "198.51.100.7"},
		{name: "forwarded ignores xff", header: "Forwarded", trusted: trusted, remote: "10.0.0.2:1", want: "10.0.0.2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got, accessor netip.Addr
			h := RealIP(RealIPConfig{TrustedProxies: tt.trusted, Header: tt.header})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				got = reqinfo.From(r.Context()).ClientIP
				accessor = ClientIP(r)
			}))
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			req.RemoteAddr = tt.remote
			name := tt.header
			if name == "" {
				name = "X-Forwarded-For"
			}
			for _, v := range tt.values {
				req.Header.Add(name, v)
			}
			if tt.header == "Forwarded" {
				req.Header.Set("X-Forwarded-For", "1.1.1.1")
			}
			h.ServeHTTP(httptest.NewRecorder(), req)
			assert.Equal(t, tt.want, got.String(), "values %q from %s", tt.values, tt.remote)
			assert.Equal(t, got, accessor)
		})
	}
}

func TestClientIPWithoutRealIP(t *testing.T) {
	t.Parallel()
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.RemoteAddr = "[2001:db8::5]:80"
	assert.Equal(t, netip.MustParseAddr("2001:db8::5"), ClientIP(req))
}

func TestRealIPPanicsOnInvalidPrefix(t *testing.T) {
	t.Parallel()
	assert.Panics(t, func() { RealIP(RealIPConfig{TrustedProxies: []netip.Prefix{{}}}) })
}

func TestRealIPRealServer(t *testing.T) {
	t.Parallel()
	got := make(chan netip.Addr, 1)
	h := RealIP(RealIPConfig{TrustedProxies: prefixes("127.0.0.0/8")})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- ClientIP(r)
	}))
	srv, client := newServer(t, h)
	req, err := http.NewRequest(http.MethodGet, srv.URL, nil)
	require.NoError(t, err)
	req.Header.Set("X-Forwarded-For", "6.6.6.6, 198.51.100.7")
	res, err := client.Do(req)
	require.NoError(t, err)
	_ = res.Body.Close()
	assert.Equal(t, netip.MustParseAddr("198.51.100.7"), <-got)
}

func BenchmarkRealIP(b *testing.B) {
	next := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	cases := []struct {
		name, header, remote, value string
	}{
		{"untrusted-peer", "", "203.0.113.5:1234", "1.2.3.4"},
		{"xff-3-hops", "", "10.0.0.2:1234", "6.6.6.6, 198.51.100.7, 10.1.1.1"},
		{"forwarded-2-hops", "Forwarded", "10.0.0.2:1234", `for=198.51.100.7;proto=https, for="[2001:db8::1]"`},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			h := RealIP(RealIPConfig{TrustedProxies: prefixes("10.0.0.0/8", "2001:db8::/32"), Header: c.header})(next)
			req, _ := reqinfo.Ensure(httptest.NewRequest(http.MethodGet, "/", nil))
			req.RemoteAddr = c.remote
			name := c.header
			if name == "" {
				name = "X-Forwarded-For"
			}
			req.Header.Set(name, c.value)
			w := &discardWriter{h: make(http.Header)}
			b.ReportAllocs()
			for b.Loop() {
				h.ServeHTTP(w, req)
			}
		})
	}
	b.Run("trusted-1000-prefixes", func(b *testing.B) {
		ps := make([]netip.Prefix, 0, 1000)
		for i := range 1000 {
			ps = append(ps, netip.MustParsePrefix("10."+strconv.Itoa(i/256)+"."+strconv.Itoa(i%256)+".0/24"))
		}
		h := RealIP(RealIPConfig{TrustedProxies: ps})(next)
		req, _ := reqinfo.Ensure(httptest.NewRequest(http.MethodGet, "/", nil))
		req.RemoteAddr = "10.2.3.4:1"
		req.Header.Set("X-Forwarded-For", "198.51.100.7, 10.1.1.1")
		w := &discardWriter{h: make(http.Header)}
		b.ReportAllocs()
		for b.Loop() {
			h.ServeHTTP(w, req)
		}
	})
}

// FuzzRealIP checks that whatever the header holds, the resolved client is
// the peer or an address that literally appears in the header, and that
// with an untrusted peer the header is never believed.
func FuzzRealIP(f *testing.F) {
	for _, s := range []string{
		"1.2.3.4", "6.6.6.6, 198.51.100.7, 10.1.1.1", "garbage, 10.0.0.1", "[2001:db8::1]:80",
		`for=198.51.100.7;proto=https, for="[2001:db8::1]:4711"`, `for="x,y";by=1, for=unknown`, `for="\"`, ";;,,",
	} {
		f.Add(s, true)
		f.Add(s, false)
	}
	trusted := newIPRanges(prefixes("10.0.0.0/8", "2001:db8:ffff::/48"), "test")
	f.Fuzz(func(t *testing.T, value string, forwarded bool) {
		header, kind := "X-Forwarded-For", kindXFF
		if forwarded {
			header, kind = "Forwarded", kindForwarded
		}
		for _, remote := range []string{"10.0.0.2:1", "203.0.113.5:1"} {
			req := &http.Request{RemoteAddr: remote, Header: http.Header{header: {value}}}
			got := resolveClientIP(req, &trusted, header, kind)
			peer := netip.MustParseAddrPort(remote).Addr()
			if !trusted.contains(peer) {
				require.Equal(t, peer, got, "untrusted peer: header %q ignored", value)
				continue
			}
			if got == peer {
				continue
			}
			require.True(t, got.IsValid())
			// The address must be spelled somewhere in the header.
			appears := false
			for _, form := range []string{got.String(), strings.ToUpper(got.String())} {
				if strings.Contains(value, form) {
					appears = true
				}
			}
			if !appears { // a mapped or zero-padded spelling; re-parse every token
				for _, tok := range strings.FieldsFunc(value, func(r rune) bool { return strings.ContainsRune(",;= \t\"", r) }) {
					if a, ok := parseNode(tok); ok && a == got {
						appears = true
					}
				}
			}
			require.True(t, appears, "client %s not in header %q", got, value)
		}
	})
}
