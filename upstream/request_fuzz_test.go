package upstream

import (
	"net/http"
	"net/netip"
	"strings"
	"testing"

	"github.com/gatewaykit/gateway/internal/reqinfo"
)

// FuzzBuildOutHeader checks the sanitisation invariants for arbitrary
// Connection values and header names: no hop-by-hop header and no header
// the client named in Connection reaches the upstream, the gateway's own
// headers always do, and the inbound header is never modified.
func FuzzBuildOutHeader(f *testing.F) {
	f.Add("keep-alive", "X-Custom", "v", "203.0.113.1:1", false)
	f.Add("X-Custom, close", "X-Custom", "v", "[2001:db8::1]:443", true)
	f.Add(" ,x-forwarded-for,, X-REQUEST-ID ", "X-Forwarded-For", "6.6.6.6", "127.0.0.1:9", false)
	f.Add("Upgrade", "Upgrade", "websocket", "10.0.0.1:1", true)
	f.Add("te", "Te", "trailers", "10.0.0.1:1", false)
	f.Fuzz(func(t *testing.T, conn, name, value, remote string, trusted bool) {
		key := http.CanonicalHeaderKey(strings.TrimSpace(name))
		if key == "" {
			return
		}
		in := http.Header{"Connection": {conn}, key: {value}, "Accept": {"*/*"}}
		before := in.Clone()
		r := &http.Request{Method: "GET", Header: in, Host: "api.example.com", RemoteAddr: remote}
		cfg := Config{Discovery: endpointsOf("127.0.0.1:1")}
		if trusted {
			cfg.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")}
		}
		u := New(cfg)
		info := &reqinfo.Info{RequestID: "rid"}
		out := u.buildOutHeader(r, info, "")

		for _, k := range []string{"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
			"Proxy-Authorization", "Trailer", "Transfer-Encoding", "Upgrade"} {
			if _, ok := out[k]; ok {
				t.Fatalf("hop-by-hop %s passed: %v", k, out)
			}
		}
		if v, ok := out["Te"]; ok && (len(v) != 1 || v[0] != "trailers") {
			t.Fatalf("Te passed as %q", v)
		}
		gateway := map[string]bool{"X-Forwarded-For": true, "X-Forwarded-Host": true, "X-Forwarded-Proto": true,
			"Forwarded": true, "X-Real-Ip": true, "X-Request-Id": true, "User-Agent": true, "Te": true}
		if namedIn(key, in["Connection"]) && !gateway[key] {
			if _, ok := out[key]; ok {
				t.Fatalf("%s named in Connection %q passed", key, conn)
			}
		}
		if got := out["X-Request-Id"]; len(got) != 1 || got[0] != "rid" {
			t.Fatalf("X-Request-Id = %q", got)
		}
		if got := out["Forwarded"]; len(got) != 1 || !strings.Contains(got[0], "proto=http") {
			t.Fatalf("Forwarded = %q", got)
		}
		if _, ok := out["X-Forwarded-Proto"]; !ok {
			t.Fatal("X-Forwarded-Proto missing")
		}
		for k, vv := range before {
			if strings.Join(in[k], "\x00") != strings.Join(vv, "\x00") || len(in) != len(before) {
				t.Fatalf("inbound header modified: %v -> %v", before, in)
			}
		}
	})
}
