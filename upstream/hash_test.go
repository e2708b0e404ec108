package upstream

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/gatewaykit/gateway/internal/reqinfo"
)

func TestXXH64ReferenceVectors(t *testing.T) {
	t.Parallel()
	// From the reference implementation (github.com/cespare/xxhash/v2
	// v2.3.0, seed 0 unless stated): the hash must never change, or keys
	// would move between gateway versions.
	tests := []struct {
		name string
		in   string
		seed uint64
		want uint64
	}{
		{"empty", "", 0, 0xef46db3751d8e999},
		{"one byte", "a", 0, 0xd24ec4f1a98c6e5b},
		{"three bytes", "abc", 0, 0x44bc2cf5ad770999},
		{"addr", "10.0.0.1:8080", 0, 0xcb972177068eb685},
		{"addr seed 1", "10.0.0.1:8080", 1, 0x0dfce9efd349b428},
		{"14 bytes", "message digest", 0, 0x066ed728fceeb3be},
		{"31 bytes", "0123456789abcdef0123456789abcde", 0, 0x1fdfc63febacfde7},
		{"32 bytes", "0123456789abcdef0123456789abcdef", 0, 0x642a94958e71e6c5},
		{"108 bytes", strings.Repeat("abcdefghijklmnopqrstuvwxyz0123456789", 3), 0, 0x873af01d71bd0c23},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.want, xxh64(tt.in, tt.seed), "xxh64(%q, %d)", tt.in, tt.seed)
		})
	}
}

func withClientIP(r *http.Request, ip string) *http.Request {
	r, info := reqinfo.Ensure(r)
	info.ClientIP = netip.MustParseAddr(ip)
	return r
}

func TestHashKeys(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		key   func(*http.Request) string
		setup func(r *http.Request) *http.Request
		want  string
	}{
		{"header", HashByHeader("x-user-id"), func(r *http.Request) *http.Request {
			r.Header.Set("X-User-Id", "alice")
			r.Header.Add("X-User-Id", "bob")
			return r
		}, "alice"},
		{"header missing", HashByHeader("X-User-ID"), nil, ""},
		{"cookie", HashByCookie("session"), func(r *http.Request) *http.Request {
			r.Header.Add("Cookie", "theme=dark; sessionx=no")
			r.Header.Add("Cookie", "a=1;  session=s3cr3t ;b=2")
			return r
		}, "s3cr3t"},
		{"cookie quoted", HashByCookie("sid"), func(r *http.Request) *http.Request {
			r.Header.Set("Cookie", `sid="abc"`)
			return r
		}, "abc"},
		{"cookie empty value", HashByCookie("sid"), func(r *http.Request) *http.Request {
			r.Header.Set("Cookie", "sid=; x=1")
			return r
		}, ""},
		{"cookie missing", HashByCookie("sid"), func(r *http.Request) *http.Request {
			r.Header.Set("Cookie", "sidx=1; xsid=2; malformed")
			return r
		}, ""},
		{"client ip from peer", HashByClientIP, nil, "192.0.2.1"},
		{"client ip v6 peer", HashByClientIP, func(r *http.Request) *http.Request {
			r.RemoteAddr = "[2001:db8::1]:4711"
			return r
		}, "2001:db8::1"},
		{"client ip peer without port", HashByClientIP, func(r *http.Request) *http.Request {
			r.RemoteAddr = "2001:db8::2"
			return r
		}, "2001:db8::2"},
		{"client ip resolved", HashByClientIP, func(r *http.Request) *http.Request {
			return withClientIP(r, "203.0.113.9")
		}, "203.0.113.9"},
		{"client ip resolved equals peer", HashByClientIP, func(r *http.Request) *http.Request {
			return withClientIP(r, "192.0.2.1")
		}, "192.0.2.1"},
		{"client ip info without address", HashByClientIP, func(r *http.Request) *http.Request {
			r, _ = reqinfo.Ensure(r)
			return r
		}, "192.0.2.1"},
		{"path", HashByPath, func(r *http.Request) *http.Request {
			r.URL.Path = "/users/42"
			return r
		}, "/users/42"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(http.MethodGet, "/", nil) // RemoteAddr 192.0.2.1:1234
			if tt.setup != nil {
				r = tt.setup(r)
			}
			assert.Equal(t, tt.want, tt.key(r))
		})
	}
}

func TestHashKeysDoNotAllocate(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "/p", nil)
	r.Header.Set("X-User", "alice")
	r.Header.Set("Cookie", "a=1; sid=xyz")
	r = withClientIP(r, "192.0.2.1") // same as the peer: no text built
	keys := map[string]func(*http.Request) string{
		"header": HashByHeader("X-User"), "cookie": HashByCookie("sid"),
		"client ip": HashByClientIP, "path": HashByPath,
	}
	for name, key := range keys {
		assert.Zero(t, testing.AllocsPerRun(100, func() { _ = key(r) }), name)
	}
}
