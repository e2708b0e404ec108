package middleware

import (
	"bufio"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNormalizePath(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		target     string // raw request-target
		method     string
		allowSlash bool
		wantStatus int    // 0: served
		wantPath   string // escaped path served
		wantURI    string // RequestURI served (when different from wantPath)
	}{
		{name: "clean", target: "/a/b", wantPath: "/a/b"},
		{name: "root", target: "/", wantPath: "/"},
		{name: "trailing slash kept", target: "/a/b/", wantPath: "/a/b/"},
		{name: "double slash", target: "//a///b", wantPath: "/a/b"},
		{name: "trailing double slash", target: "/a//", wantPath: "/a/"},
		{name: "dot", target: "/a/./b", wantPath: "/a/b"},
		{name: "dot dot", target: "/a/x/../b", wantPath: "/a/b"},
		{name: "trailing dot", target: "/a/.", wantPath: "/a/"},
		{name: "trailing dot dot", target: "/a/b/..", wantPath: "/a/"},
		{name: "to root", target: "/a/..", wantPath: "/"},
		{name: "climb above root", target: "/../etc/passwd", wantStatus: 400},
		{name: "climb above root later", target: "/a/../../etc", wantStatus: 400},
		{name: "encoded dot dot lower", target: "/public/%2e%2e/admin", wantPath: "/admin"},
		{name: "encoded dot dot upper", target: "/public/%2E%2E/admin", wantPath: "/admin"},
		{name: "mixed dot encoding", target: "/public/.%2e/admin", wantPath: "/admin"},
		{name: "mixed dot encoding 2", target: "/public/%2e./admin", wantPath: "/admin"},
		{name: "encoded single dot", target: "/a/%2e/b", wantPath: "/a/b"},
		{name: "encoded climb", target: "/%2e%2e/x", wantStatus: 400},
		{name: "encoded slash", target: "/a%2Fb", wantStatus: 400},
		{name: "encoded slash lower", target: "/a%2fb", wantStatus: 400},
		{name: "encoded backslash", target: "/a%5Cb", wantStatus: 400},
		{name: "raw backslash", target: `/a\..\admin`, wantStatus: 400},
		{name: "encoded slash allowed", target: "/a%2fb/c", allowSlash: true, wantPath: "/a%2Fb/c"},
		{name: "encoded slash does not separate dots", target: "/a/..%2F..%2Fetc", allowSlash: true, wantPath: "/a/..%2F..%2Fetc"},
		{name: "encoded unreserved decoded", target: "/%41%62%7e%2D", wantPath: "/Ab~-"},
		{name: "reserved kept upper", target: "/a%3bb%3fc%23d", wantPath: "/a%3Bb%3Fc%23d"},
		{name: "space kept", target: "/a%20b", wantPath: "/a%20b"},
		{name: "utf8 kept", target: "/caf%c3%a9", wantPath: "/caf%C3%A9"},
		{name: "invalid utf8", target: "/caf%c3", wantStatus: 400},
		{name: "overlong utf8", target: "/%c0%ae%c0%ae/x", wantStatus: 400},
		{name: "nul", target: "/a%00b", wantStatus: 400},
		{name: "control", target: "/a%0ab", wantStatus: 400},
		{name: "del", target: "/a%7f", wantStatus: 400},
		{name: "percent percent", target: "/a%252e%252e/x", wantPath: "/a%252e%252e/x"},
		{name: "tomcat dot dot param", target: "/public/..;/admin", wantStatus: 400},
		{name: "tomcat dot param", target: "/public/.;x/admin", wantStatus: 400},
		{name: "semicolon elsewhere ok", target: "/a;v=1/b", wantPath: "/a;v=1/b"},
		{name: "sub-delims kept", target: "/a!$&'()*+,=:@b", wantPath: "/a!$&'()*+,=:@b"},
		{name: "brackets encoded", target: "/a[1]", wantPath: "/a%5B1%5D"},
		{name: "query preserved", target: "//a/./b?x=1&y=%2e", wantPath: "/a/b", wantURI: "/a/b?x=1&y=%2e"},
		{name: "absolute form", target: "http://example.com/a/../b", wantPath: "/b"},
		{name: "absolute form empty path", target: "http://example.com", wantPath: "/"},
		{name: "asterisk options", target: "*", method: http.MethodOptions, wantPath: "*"},
		{name: "asterisk get", target: "*", wantStatus: 400},
		{name: "dots in names ok", target: "/a/.well-known/..x/...", wantPath: "/a/.well-known/..x/..."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			method := tt.method
			if method == "" {
				method = http.MethodGet
			}
			var served *http.Request
			h := NormalizePath(PathConfig{AllowEncodedSlash: tt.allowSlash})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				served = r
			}))
			req := readRequest(t, method+" "+tt.target+" HTTP/1.1\r\nHost: example.com\r\n\r\n")
			origPath, origRaw := req.URL.Path, req.URL.RawPath
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			assert.Equal(t, origPath, req.URL.Path, "inbound request untouched")
			assert.Equal(t, origRaw, req.URL.RawPath, "inbound request untouched")
			if tt.wantStatus != 0 {
				assert.Equal(t, tt.wantStatus, rec.Code, "target %q", tt.target)
				assert.Nil(t, served, "handler not called for %q", tt.target)
				assert.Equal(t, "application/problem+json", rec.Header().Get("Content-Type"))
				return
			}
			require.NotNil(t, served, "target %q: status %d body %s", tt.target, rec.Code, rec.Body.String())
			assert.Equal(t, tt.wantPath, served.URL.EscapedPath(), "target %q", tt.target)
			dec, err := url.PathUnescape(tt.wantPath)
			require.NoError(t, err)
			assert.Equal(t, dec, served.URL.Path, "Path consistent with RawPath")
			wantURI := tt.wantURI
			if wantURI == "" {
				wantURI = tt.wantPath
			}
			if served != req {
				assert.Equal(t, wantURI, served.RequestURI)
			}
		})
	}
}

func TestNormalizePathCleanIsSameRequest(t *testing.T) {
	t.Parallel()
	req := httptest.NewRequest(http.MethodGet, "/a/b%20c/d", nil)
	var served *http.Request
	NormalizePath(PathConfig{})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { served = r })).ServeHTTP(httptest.NewRecorder(), req)
	assert.Same(t, req, served, "no copy for a canonical path")
}

func TestNormalizePathConnect(t *testing.T) {
	t.Parallel()
	req := readRequest(t, "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n")
	called := false
	NormalizePath(PathConfig{})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { called = true })).ServeHTTP(httptest.NewRecorder(), req)
	assert.True(t, called)
}

// TestNormalizePathRouting checks end to end, through a real server and
// ServeMux, that no spelling reaches /admin from /public.
func TestNormalizePathRouting(t *testing.T) {
	t.Parallel()
	mux := http.NewServeMux()
	mux.HandleFunc("/public/", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "public") })
	mux.HandleFunc("/admin/", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "admin") })
	guard := func(next http.Handler) http.Handler { // an auth check on the normalized path
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasPrefix(r.URL.Path, "/admin") {
				w.WriteHeader(http.StatusForbidden)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
	srv, _ := newServer(t, NormalizePath(PathConfig{})(guard(mux)))
	for _, target := range []string{
		"/public/../admin/x", "/public/%2e%2e/admin/x", "/public/.%2E/admin/x", "//admin/x",
		"/public/..%2fadmin/x", "/public/%2e%2e%2fadmin/x", "/./admin/x", "/admin%2fx",
	} {
		status, body := rawGet(t, srv.Listener.Addr().String(), target)
		assert.NotEqual(t, "admin", body, "target %q reached admin (status %d)", target, status)
		assert.Contains(t, []int{400, 403}, status, "target %q", target)
	}
}

func rawGet(t *testing.T, addr, target string) (int, string) {
	t.Helper()
	conn, err := (&netDialer).Dial("tcp", addr)
	require.NoError(t, err)
	defer conn.Close()
	_, err = io.WriteString(conn, "GET "+target+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	require.NoError(t, err)
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func readRequest(t testing.TB, raw string) *http.Request {
	t.Helper()
	req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
	require.NoError(t, err)
	return req
}

func FuzzNormalizePath(f *testing.F) {
	for _, s := range []string{
		"/", "/a/b", "//a//b/", "/a/./b/../c", "/%2e%2e/", "/.%2e/x", "/a%2Fb", "/a%2fb/%2E", "/%c3%a9",
		"/..;/x", "/a/b/..", "/%41", "/a%5c", "/a%00", "/%zz", "/a/%2e%2e%2f..", "/x/.../y",
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, p string, allowSlash bool) {
		out, bad := normalizePath(p, allowSlash)
		if bad != "" {
			return
		}
		require.True(t, strings.HasPrefix(out, "/"), "%q -> %q", p, out)
		for _, frag := range []string{"//", "/./", "/../"} {
			require.NotContains(t, out, frag, "%q -> %q", p, out)
		}
		require.False(t, strings.HasSuffix(out, "/.") || strings.HasSuffix(out, "/.."), "%q -> %q", p, out)
		if !allowSlash {
			require.NotContains(t, strings.ToUpper(out), "%2F", "%q -> %q", p, out)
			require.NotContains(t, strings.ToUpper(out), "%5C", "%q -> %q", p, out)
			require.NotContains(t, out, `\`, "%q -> %q", p, out)
		}
		dec, err := url.PathUnescape(out)
		require.NoError(t, err, "%q -> %q", p, out)
		require.True(t, utf8.ValidString(dec), "%q -> %q", p, out)
		for i := 0; i < len(dec); i++ {
			require.False(t, dec[i] < 0x20 || dec[i] == 0x7f, "control in %q -> %q", p, out)
		}
		again, bad2 := normalizePath(out, allowSlash)
		require.Empty(t, bad2, "%q -> %q rejected on the second pass", p, out)
		require.Equal(t, out, again, "idempotent for %q", p)
	})
}

func BenchmarkNormalizePath(b *testing.B) {
	next := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	h := NormalizePath(PathConfig{})(next)
	for _, c := range []struct{ name, target string }{
		{"clean", "/api/v1/users/12345/orders"},
		{"clean-encoded", "/api/v1/search/caf%C3%A9%20bar"},
		{"dirty", "/api//v1/./users/../users/%2e/12345"},
	} {
		b.Run(c.name, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, c.target, nil)
			w := &discardWriter{h: make(http.Header)}
			b.ReportAllocs()
			for b.Loop() {
				h.ServeHTTP(w, req)
			}
		})
	}
}
