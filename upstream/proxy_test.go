package upstream

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/netip"
	"net/textproto"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatewaykit/gateway/internal/reqinfo"
)

// echoHeaders is a backend that answers with the request's headers (and
// Host, URI) as JSON.
func echoHeaders(w http.ResponseWriter, r *http.Request) {
	h := r.Header.Clone()
	h.Set("X-Seen-Host", r.Host)
	h.Set("X-Seen-Uri", r.RequestURI)
	h.Set("X-Seen-Proto", r.Proto)
	_, _ = io.Copy(io.Discard, r.Body)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(h)
}

func getHeaders(t *testing.T, c *http.Client, req *http.Request) (http.Header, *http.Response) {
	t.Helper()
	res, err := c.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
	var h http.Header
	require.NoError(t, json.NewDecoder(res.Body).Decode(&h))
	return h, res
}

func TestHopByHopRequestHeaders(t *testing.T) {
	t.Parallel()
	forEachPath(t, func(t *testing.T, p transportPath) {
		addr := backend(t, echoHeaders)
		u := newTestUpstream(t, p, Config{
			Discovery: endpointsOf(addr),
			Rewrite: func(pr *ProxyRequest) {
				pr.Out.Header.Set("X-Consumer-Id", "alice") // set by the gateway
			},
		})
		front, client := frontend(t, u)
		req, _ := http.NewRequest("GET", front.URL+"/x", nil)
		req.Header.Set("Connection", "keep-alive, X-Client-Hop, X-Consumer-ID, X-Forwarded-For, X-Request-ID")
		req.Header.Set("X-Client-Hop", "secret")
		req.Header.Set("X-Consumer-ID", "spoofed")
		req.Header.Set("Keep-Alive", "timeout=5")
		req.Header.Set("Proxy-Connection", "keep-alive")
		req.Header.Set("Proxy-Authorization", "Basic Zm9vOmJhcg==")
		req.Header.Set("Te", "trailers, deflate")
		req.Header.Set("X-Kept", "yes")
		h, _ := getHeaders(t, client, req)

		for _, k := range []string{"X-Client-Hop", "Keep-Alive", "Proxy-Connection", "Proxy-Authorization", "Trailer", "Upgrade"} {
			assert.False(t, hasHeader(h, k), "%s must not reach the upstream", k)
		}
		assert.Equal(t, []string{"alice"}, h["X-Consumer-Id"], "header set by Rewrite survives the client's Connection")
		assert.Equal(t, "trailers", h.Get("Te"), "TE: trailers passed on, other TE values not")
		assert.Equal(t, "127.0.0.1", h.Get("X-Forwarded-For"), "X-Forwarded-For set by the gateway survives Connection")
		assert.Equal(t, "rid-1", h.Get("X-Request-Id"), "X-Request-ID set by the gateway survives Connection")
		assert.Equal(t, "yes", h.Get("X-Kept"))
	})
}

// TestConnectionNamedInboundHeader documents the rule for headers a
// preceding middleware set on the inbound request: the client's Connection
// nominates them as hop-by-hop, so they are removed; the spoofed value can
// never pass. Middleware that must hand a value to the upstream sets it in
// Rewrite (see TestHopByHopRequestHeaders).
func TestConnectionNamedInboundHeader(t *testing.T) {
	t.Parallel()
	forEachPath(t, func(t *testing.T, p transportPath) {
		addr := backend(t, echoHeaders)
		u := newTestUpstream(t, p, Config{Discovery: endpointsOf(addr)})
		auth := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			r2 := r.Clone(r.Context())
			r2.Header.Set("X-Consumer-Id", "alice")
			u.ServeHTTP(w, r2)
		})
		front, client := frontend(t, auth)
		req, _ := http.NewRequest("GET", front.URL, nil)
		req.Header.Set("Connection", "X-Consumer-ID")
		req.Header.Set("X-Consumer-ID", "spoofed")
		h, _ := getHeaders(t, client, req)
		assert.False(t, hasHeader(h, "X-Consumer-Id"), "neither the spoofed nor the middleware value passes")
	})
}

// TestSanitizeConnectionAtEntrance: with the client's nominations applied
// at the gateway's entrance, a header a middleware sets afterwards reaches
// the upstream, and the spoofed one never does.
func TestSanitizeConnectionAtEntrance(t *testing.T) {
	t.Parallel()
	forEachPath(t, func(t *testing.T, p transportPath) {
		addr := backend(t, echoHeaders)
		u := newTestUpstream(t, p, Config{Discovery: endpointsOf(addr)})
		chain := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			SanitizeConnection(r.Header) // first in the global chain
			r2 := r.Clone(r.Context())   // later: an auth middleware
			r2.Header.Set("X-Consumer-Id", "alice")
			u.ServeHTTP(w, r2)
		})
		front, client := frontend(t, chain)
		req, _ := http.NewRequest("GET", front.URL, nil)
		req.Header.Set("Connection", "keep-alive, X-Consumer-ID, X-Other")
		req.Header.Set("X-Consumer-ID", "spoofed")
		req.Header.Set("X-Other", "hop")
		h, _ := getHeaders(t, client, req)
		assert.Equal(t, []string{"alice"}, h["X-Consumer-Id"])
		assert.False(t, hasHeader(h, "X-Other"), "nominated header removed at the entrance")
	})
}

func TestSanitizeConnection(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   http.Header
		want http.Header
	}{
		{"nothing nominated", http.Header{"Connection": {"keep-alive"}, "X-A": {"1"}},
			http.Header{"Connection": {"keep-alive"}, "X-A": {"1"}}},
		{"nominated removed, options kept", http.Header{"Connection": {"Upgrade, x-a", "close"}, "X-A": {"1"}, "Upgrade": {"websocket"}},
			http.Header{"Connection": {"Upgrade, close"}, "Upgrade": {"websocket"}}},
		{"only nominations", http.Header{"Connection": {"X-A"}, "X-A": {"1"}, "X-B": {"2"}},
			http.Header{"X-B": {"2"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			SanitizeConnection(tt.in)
			assert.Equal(t, tt.want, tt.in)
		})
	}
}

func TestHopByHopResponseHeaders(t *testing.T) {
	t.Parallel()
	forEachPath(t, func(t *testing.T, p transportPath) {
		addr := backend(t, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Connection", "X-Backend-Hop")
			w.Header().Set("X-Backend-Hop", "internal")
			w.Header().Set("Keep-Alive", "timeout=5")
			w.Header().Set("Proxy-Authenticate", "Basic")
			w.Header().Set("X-End-To-End", "kept")
			_, _ = io.WriteString(w, "ok")
		})
		u := newTestUpstream(t, p, Config{Discovery: endpointsOf(addr)})
		front, client := frontend(t, u)
		res, err := client.Get(front.URL)
		require.NoError(t, err)
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		assert.Equal(t, "ok", string(body))
		assert.Equal(t, "kept", res.Header.Get("X-End-To-End"))
		for _, k := range []string{"X-Backend-Hop", "Keep-Alive", "Proxy-Authenticate"} {
			assert.Empty(t, res.Header.Get(k), "%s must not reach the client", k)
		}
	})
}

func TestQueryPassedUnmodified(t *testing.T) {
	t.Parallel()
	queries := []string{
		"a=1&b=2",
		"a=1;b=2",
		"q=%zz&x=%2F%2f",
		"x=a+b&x=c%20d&empty=&flag",
	}
	forEachPath(t, func(t *testing.T, p transportPath) {
		addr := backend(t, func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, r.URL.RawQuery)
		})
		u := newTestUpstream(t, p, Config{Discovery: endpointsOf(addr)})
		front, client := frontend(t, u)
		for _, q := range queries {
			res, err := client.Get(front.URL + "/p?" + q)
			require.NoError(t, err, q)
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			assert.Equal(t, q, string(body), "raw query %q", q)
		}
	})
}

func TestForwardingHeaders(t *testing.T) {
	t.Parallel()
	loopback := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	tests := []struct {
		name    string
		trusted []netip.Prefix
		in      map[string]string
		want    map[string]string
	}{
		{
			name: "untrusted peer: client values dropped",
			in: map[string]string{
				"X-Forwarded-For": "6.6.6.6", "X-Forwarded-Host": "evil", "X-Forwarded-Proto": "https",
				"Forwarded": "for=6.6.6.6", "X-Real-IP": "6.6.6.6",
			},
			want: map[string]string{
				"X-Forwarded-For": "127.0.0.1", "X-Forwarded-Host": "api.example.com", "X-Forwarded-Proto": "http",
				"Forwarded": "for=127.0.0.1;host=api.example.com;proto=http", "X-Real-IP": "127.0.0.1",
			},
		},
		{
			name:    "trusted peer: client values kept and extended",
			trusted: loopback,
			in: map[string]string{
				"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Host": "public.example", "X-Forwarded-Proto": "https",
				"Forwarded": `for="[2001:db8::1]";proto=https`, "X-Real-IP": "203.0.113.9",
			},
			want: map[string]string{
				"X-Forwarded-For": "203.0.113.9, 127.0.0.1", "X-Forwarded-Host": "public.example", "X-Forwarded-Proto": "https",
				"X-Real-IP": "203.0.113.9",
				"Forwarded": `for="[2001:db8::1]";proto=https, for=127.0.0.1;host=api.example.com;proto=http`,
			},
		},
		{
			name:    "trusted peer without prior values",
			trusted: loopback,
			want: map[string]string{
				"X-Forwarded-For": "127.0.0.1", "X-Forwarded-Host": "api.example.com", "X-Forwarded-Proto": "http",
				"Forwarded": "for=127.0.0.1;host=api.example.com;proto=http",
			},
		},
		{
			name:    "other trusted range does not cover the peer",
			trusted: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
			in:      map[string]string{"X-Forwarded-For": "6.6.6.6"},
			want:    map[string]string{"X-Forwarded-For": "127.0.0.1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			forEachPath(t, func(t *testing.T, p transportPath) {
				addr := backend(t, echoHeaders)
				u := newTestUpstream(t, p, Config{Discovery: endpointsOf(addr), TrustedProxies: tt.trusted})
				front, client := frontend(t, u)
				req, _ := http.NewRequest("GET", front.URL, nil)
				req.Host = "api.example.com"
				for k, v := range tt.in {
					req.Header.Set(k, v)
				}
				h, _ := getHeaders(t, client, req)
				for k, v := range tt.want {
					assert.Equal(t, []string{v}, h[http.CanonicalHeaderKey(k)], k)
				}
			})
		})
	}
}

func TestRealIPFromReqinfo(t *testing.T) {
	t.Parallel()
	forEachPath(t, func(t *testing.T, p transportPath) {
		addr := backend(t, echoHeaders)
		u := newTestUpstream(t, p, Config{Discovery: endpointsOf(addr)})
		req := httptest.NewRequest("GET", "/", nil)
		req.RemoteAddr = "10.0.0.9:4444" // a load balancer
		req.Header.Set("X-Real-IP", "6.6.6.6")
		req, info := reqinfo.Ensure(req)
		info.ClientIP = netip.MustParseAddr("203.0.113.50") // resolved by RealIP
		rec := httptest.NewRecorder()
		u.ServeHTTP(rec, req)
		var h http.Header
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &h))
		assert.Equal(t, []string{"203.0.113.50"}, h["X-Real-Ip"])
	})
}

func TestForwardedElement(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, ip, host, proto, want string
	}{
		{"ipv4", "192.0.2.1", "example.com", "http", "for=192.0.2.1;host=example.com;proto=http"},
		{"ipv6 quoted in brackets", "2001:db8::1", "example.com", "https", `for="[2001:db8::1]";host=example.com;proto=https`},
		{"host with port quoted", "192.0.2.1", "example.com:8080", "http", `for=192.0.2.1;host="example.com:8080";proto=http`},
		{"unknown peer", "", "h", "http", "for=unknown;host=h;proto=http"},
		{"no host", "192.0.2.1", "", "http", "for=192.0.2.1;proto=http"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.want, forwardedElement(tt.ip, tt.host, tt.proto))
		})
	}
}

func TestForwardedIPv6Peer(t *testing.T) {
	t.Parallel()
	forEachPath(t, func(t *testing.T, p transportPath) {
		addr := backend(t, echoHeaders)
		u := newTestUpstream(t, p, Config{Discovery: endpointsOf(addr)})
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "http://api.example.com/", nil)
		req.RemoteAddr = "[2001:db8::7]:5555"
		u.ServeHTTP(rec, req)
		require.Equal(t, http.StatusOK, rec.Code)
		var h http.Header
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &h))
		assert.Equal(t, "2001:db8::7", h.Get("X-Forwarded-For"))
		assert.Equal(t, `for="[2001:db8::7]";host=api.example.com;proto=http`, h.Get("Forwarded"))
	})
}

func TestHostPolicy(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		policy HostPolicy
		want   func(addr string) string
	}{
		{"client host (default)", ClientHost, func(string) string { return "api.example.com" }},
		{"endpoint host", EndpointHost, func(addr string) string { return addr }},
		{"fixed host", FixedHost("internal.svc"), func(string) string { return "internal.svc" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			forEachPath(t, func(t *testing.T, p transportPath) {
				addr := backend(t, echoHeaders)
				u := newTestUpstream(t, p, Config{Discovery: endpointsOf(addr), Host: tt.policy})
				front, client := frontend(t, u)
				req, _ := http.NewRequest("GET", front.URL, nil)
				req.Host = "api.example.com"
				h, _ := getHeaders(t, client, req)
				assert.Equal(t, tt.want(addr), h.Get("X-Seen-Host"))
			})
		})
	}
}

func TestUserAgent(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, sent string
		present    bool
	}{
		{"none sent, none added", "", false},
		{"client's kept", "curl/8.5", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			forEachPath(t, func(t *testing.T, p transportPath) {
				addr := backend(t, echoHeaders)
				u := newTestUpstream(t, p, Config{Discovery: endpointsOf(addr)})
				front, client := frontend(t, u)
				req, _ := http.NewRequest("GET", front.URL, nil)
				req.Header.Set("User-Agent", tt.sent) // "" stops Go's client adding one
				h, _ := getHeaders(t, client, req)
				assert.Equal(t, tt.present, hasHeader(h, "User-Agent"), "User-Agent present")
				assert.Equal(t, tt.sent, h.Get("User-Agent"))
			})
		})
	}
}

func TestRequestIDAndReqinfo(t *testing.T) {
	t.Parallel()
	forEachPath(t, func(t *testing.T, p transportPath) {
		addr := backend(t, echoHeaders)
		u := newTestUpstream(t, p, Config{Discovery: endpointsOf(addr)})
		var got reqinfo.Info
		front, client := frontend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			u.ServeHTTP(w, r)
			got = *reqinfo.From(r.Context())
		}))
		req, _ := http.NewRequest("GET", front.URL, nil)
		req.Header.Set("X-Request-ID", "client-chosen")
		h, _ := getHeaders(t, client, req)
		assert.Equal(t, []string{"rid-1"}, h["X-Request-Id"], "the gateway's request ID replaces the client's")
		assert.Equal(t, addr, got.UpstreamAddr)
		assert.Equal(t, 1, got.Attempts)
	})
}

func TestTrailers(t *testing.T) {
	t.Parallel()
	forEachPath(t, func(t *testing.T, p transportPath) {
		addr := backend(t, func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			w.Header().Set("Trailer", "X-Announced")
			w.Header().Set("X-Req-Trailer", r.Trailer.Get("X-Checksum"))
			w.Header().Set("X-Req-Body", string(body))
			w.WriteHeader(http.StatusOK)
			_, _ = io.WriteString(w, "body")
			w.Header().Set("X-Announced", "a1")
			w.Header().Set(http.TrailerPrefix+"X-Undeclared", "u1")
		})
		u := newTestUpstream(t, p, Config{Discovery: endpointsOf(addr)})
		front, client := frontend(t, u)
		req, _ := http.NewRequest("POST", front.URL, io.MultiReader(strings.NewReader("payload")))
		req.ContentLength = -1
		req.Trailer = http.Header{"X-Checksum": {"sum-42"}}
		res, err := client.Do(req)
		require.NoError(t, err)
		body, err := io.ReadAll(res.Body)
		require.NoError(t, err)
		res.Body.Close()
		assert.Equal(t, "body", string(body))
		assert.Equal(t, "sum-42", res.Header.Get("X-Req-Trailer"), "request trailer forwarded")
		assert.Equal(t, "payload", res.Header.Get("X-Req-Body"))
		assert.Equal(t, "a1", res.Trailer.Get("X-Announced"), "announced response trailer")
		assert.Equal(t, "u1", res.Trailer.Get("X-Undeclared"), "undeclared response trailer")
	})
}

func TestInformationalResponses(t *testing.T) {
	t.Parallel()
	forEachPath(t, func(t *testing.T, p transportPath) {
		addr := backend(t, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Link", "</style.css>; rel=preload; as=style")
			w.WriteHeader(http.StatusEarlyHints)
			w.Header().Del("Link")
			w.WriteHeader(http.StatusProcessing)
			w.Header().Set("X-Final", "yes")
			_, _ = io.WriteString(w, "done")
		})
		u := newTestUpstream(t, p, Config{Discovery: endpointsOf(addr)})
		front, client := frontend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Middleware", "m") // set before the proxy: final response only
			u.ServeHTTP(w, r)
		}))
		var codes []int
		var links []string
		var mwIn1xx bool
		trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
			codes = append(codes, code)
			links = append(links, h.Get("Link"))
			mwIn1xx = mwIn1xx || h.Get("X-Middleware") != ""
			return nil
		}}
		req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), "GET", front.URL, nil)
		res, err := client.Do(req)
		require.NoError(t, err)
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		assert.Equal(t, []int{http.StatusEarlyHints, http.StatusProcessing}, codes)
		assert.Equal(t, []string{"</style.css>; rel=preload; as=style", ""}, links)
		assert.False(t, mwIn1xx, "middleware headers stay out of 1xx responses")
		assert.Equal(t, "done", string(body))
		assert.Equal(t, "yes", res.Header.Get("X-Final"))
		assert.Equal(t, "m", res.Header.Get("X-Middleware"))
		assert.Empty(t, res.Header.Get("Link"), "1xx headers do not leak into the final response")
	})
}

func TestExpectContinue(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		reject   bool
		wantCode int
		wantBody string
		want100  bool
	}{
		{"upstream accepts the body", false, http.StatusOK, "payload", true},
		{"upstream refuses without reading", true, http.StatusUnauthorized, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			forEachPath(t, func(t *testing.T, p transportPath) {
				addr := backend(t, func(w http.ResponseWriter, r *http.Request) {
					if tt.reject {
						w.WriteHeader(http.StatusUnauthorized)
						return
					}
					b, _ := io.ReadAll(r.Body)
					_, _ = w.Write(b)
				})
				u := newTestUpstream(t, p, Config{Discovery: endpointsOf(addr)})
				front, _ := frontend(t, u)
				tr := &http.Transport{ExpectContinueTimeout: time.Minute}
				t.Cleanup(tr.CloseIdleConnections)
				var got100 atomic.Bool
				trace := &httptrace.ClientTrace{Got100Continue: func() { got100.Store(true) }}
				req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace),
					"PUT", front.URL, strings.NewReader("payload"))
				req.Header.Set("Expect", "100-continue")
				res, err := (&http.Client{Transport: tr}).Do(req)
				require.NoError(t, err)
				body, _ := io.ReadAll(res.Body)
				res.Body.Close()
				assert.Equal(t, tt.wantCode, res.StatusCode)
				assert.Equal(t, tt.wantBody, string(body))
				assert.Equal(t, tt.want100, got100.Load(), "client got 100 Continue")
			})
		})
	}
}

func TestRequestBodyStreamed(t *testing.T) {
	t.Parallel()
	forEachPath(t, func(t *testing.T, p transportPath) {
		gotFirst := make(chan struct{})
		addr := backend(t, func(w http.ResponseWriter, r *http.Request) {
			buf := make([]byte, 5)
			_, err := io.ReadFull(r.Body, buf)
			if err != nil || string(buf) != "first" {
				w.WriteHeader(http.StatusBadRequest)
				return
			}
			close(gotFirst)
			rest, _ := io.ReadAll(r.Body)
			_, _ = w.Write(append(buf, rest...))
		})
		u := newTestUpstream(t, p, Config{Discovery: endpointsOf(addr)})
		front, client := frontend(t, u)
		pr, pw := io.Pipe()
		go func() {
			_, _ = io.WriteString(pw, "first")
			<-gotFirst // the upstream saw the first part before the rest exists
			_, _ = io.WriteString(pw, "-second")
			_ = pw.Close()
		}()
		res, err := client.Post(front.URL, "text/plain", pr)
		require.NoError(t, err)
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		assert.Equal(t, "first-second", string(body))
	})
}

func TestClientCancellationCancelsUpstream(t *testing.T) {
	t.Parallel()
	forEachPath(t, func(t *testing.T, p transportPath) {
		arrived := make(chan struct{})
		upstreamGone := make(chan struct{})
		addr := backend(t, func(w http.ResponseWriter, r *http.Request) {
			close(arrived)
			<-r.Context().Done()
			close(upstreamGone)
		})
		u := newTestUpstream(t, p, Config{Discovery: endpointsOf(addr)})
		handled := make(chan struct{})
		front, client := frontend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			defer close(handled)
			u.ServeHTTP(w, r)
		}))
		ctx, cancel := context.WithCancel(context.Background())
		req, _ := http.NewRequestWithContext(ctx, "GET", front.URL, nil)
		go func() {
			<-arrived
			cancel()
		}()
		_, err := client.Do(req)
		require.ErrorIs(t, err, context.Canceled)
		<-upstreamGone // the upstream request was cancelled
		<-handled
		assert.Equal(t, int64(1), u.Stats().ClientGone)
	})
}

func TestStreamingFlush(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		hdr   map[string]string
		cfg   Config
		known bool // Content-Length set by the backend
	}{
		{name: "event-stream", hdr: map[string]string{"Content-Type": "text/event-stream; charset=utf-8"}},
		{name: "X-Accel-Buffering no with length", hdr: map[string]string{"X-Accel-Buffering": "no"}, known: true},
		{name: "unknown length"},
		{name: "flush interval", cfg: Config{FlushInterval: time.Millisecond}, known: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			forEachPath(t, func(t *testing.T, p transportPath) {
				next := make(chan struct{})
				addr := backend(t, func(w http.ResponseWriter, r *http.Request) {
					for k, v := range tt.hdr {
						w.Header().Set(k, v)
					}
					if tt.known {
						w.Header().Set("Content-Length", "12")
					}
					_, _ = io.WriteString(w, "event-one\n")
					http.NewResponseController(w).Flush()
					<-next // the client must see the first event before the second exists
					_, _ = io.WriteString(w, "2\n")
				})
				cfg := tt.cfg
				cfg.Discovery = endpointsOf(addr)
				u := newTestUpstream(t, p, cfg)
				front, client := frontend(t, u)
				res, err := client.Get(front.URL)
				require.NoError(t, err)
				defer res.Body.Close()
				buf := make([]byte, 10)
				_, err = io.ReadFull(res.Body, buf)
				require.NoError(t, err)
				assert.Equal(t, "event-one\n", string(buf))
				close(next)
				rest, _ := io.ReadAll(res.Body)
				assert.Equal(t, "2\n", string(rest))
			})
		})
	}
}

func TestHTTP2OverTLS(t *testing.T) {
	t.Parallel()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Proto", r.Proto)
		w.Header().Set("Trailer", "X-T")
		_, _ = io.WriteString(w, "tls:"+r.Host)
		w.Header().Set("X-T", "t2")
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	tlsCfg := srv.Client().Transport.(*http.Transport).TLSClientConfig
	u := New(Config{
		Scheme:          "https",
		Discovery:       endpointsOf(hostOf(t, srv.URL)),
		TLSClientConfig: tlsCfg,
		Host:            EndpointHost,
	})
	t.Cleanup(u.CloseIdleConnections)
	front, client := frontend(t, u)
	res, err := client.Get(front.URL)
	require.NoError(t, err)
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	assert.Equal(t, "HTTP/2.0", res.Header.Get("X-Proto"), "h2 negotiated by ALPN")
	assert.Equal(t, "tls:"+hostOf(t, srv.URL), string(body))
	assert.Equal(t, "t2", res.Trailer.Get("X-T"))
}

// TestTLSServerNameFromFixedHost: the endpoint is an IP address; the fixed
// Host is the name verified against the certificate (httptest's names
// example.com).
func TestTLSServerNameFromFixedHost(t *testing.T) {
	t.Parallel()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.Host)
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake is expected
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	roots := srv.Client().Transport.(*http.Transport).TLSClientConfig
	tests := []struct {
		name string
		host string
		want int
	}{
		{"name in the certificate", "example.com:443", http.StatusOK},
		{"name not in the certificate", "other.test", http.StatusBadGateway},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			u := newTestUpstream(t, transportPath{name: "https", std: true}, Config{
				Scheme: "https", Discovery: endpointsOf(hostOf(t, srv.URL)),
				TLSClientConfig: &tls.Config{RootCAs: roots.RootCAs}, Host: FixedHost(tt.host),
			})
			rec := httptestRecorder(u, "/")
			assert.Equal(t, tt.want, rec.Code)
			if tt.want == http.StatusOK {
				assert.Equal(t, tt.host, rec.Body.String())
			}
		})
	}
}

func TestH2C(t *testing.T) {
	t.Parallel()
	// An h2c server with prior knowledge. The standard library's
	// http.Protocols replaces golang.org/x/net/http2/h2c (whose idna
	// dependency would add golang.org/x/text to go.mod for a test).
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Proto", r.Proto)
		_, _ = io.WriteString(w, "cleartext")
	}))
	var protos http.Protocols
	protos.SetUnencryptedHTTP2(true)
	srv.Config.Protocols = &protos
	srv.Start()
	t.Cleanup(srv.Close)
	u := New(Config{Scheme: "h2c", Discovery: endpointsOf(hostOf(t, srv.URL))})
	t.Cleanup(u.CloseIdleConnections)
	front, client := frontend(t, u)
	res, err := client.Get(front.URL)
	require.NoError(t, err)
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	assert.Equal(t, "HTTP/2.0", res.Header.Get("X-Proto"))
	assert.Equal(t, "cleartext", string(body))
}

func TestModifyResponseAndErrorHandler(t *testing.T) {
	t.Parallel()
	forEachPath(t, func(t *testing.T, p transportPath) {
		addr := backend(t, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Internal", "1")
			_, _ = io.WriteString(w, r.URL.Path)
		})
		var handled error
		u := newTestUpstream(t, p, Config{
			Discovery: endpointsOf(addr),
			ModifyResponse: func(res *http.Response) error {
				if res.Request.URL.Path == "/fail" {
					return errors.New("refused by policy")
				}
				res.Header.Del("X-Internal")
				res.Header.Set("X-Modified", "yes")
				return nil
			},
			ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
				handled = err
				w.WriteHeader(http.StatusTeapot)
			},
		})
		front, client := frontend(t, u)
		res, err := client.Get(front.URL + "/ok")
		require.NoError(t, err)
		res.Body.Close()
		assert.Equal(t, "yes", res.Header.Get("X-Modified"))
		assert.Empty(t, res.Header.Get("X-Internal"))

		res, err = client.Get(front.URL + "/fail")
		require.NoError(t, err)
		res.Body.Close()
		assert.Equal(t, http.StatusTeapot, res.StatusCode)
		require.Error(t, handled)
		assert.Equal(t, "refused by policy", handled.Error())
	})
}

func TestRewriteSetURL(t *testing.T) {
	t.Parallel()
	forEachPath(t, func(t *testing.T, p transportPath) {
		addr := backend(t, echoHeaders)
		u := newTestUpstream(t, p, Config{
			Discovery: endpointsOf(addr),
			Rewrite: func(pr *ProxyRequest) {
				pr.SetURL(&url.URL{Path: "/base/", RawQuery: "k=v", Host: "backend.internal"})
			},
		})
		front, client := frontend(t, u)
		h, _ := getHeaders(t, client, mustRequest(t, "GET", front.URL+"/items?a=1;b", nil))
		assert.Equal(t, "/base/items?k=v&a=1;b", h.Get("X-Seen-Uri"))
		assert.Equal(t, "backend.internal", h.Get("X-Seen-Host"))
	})
}

func mustRequest(t *testing.T, method, target string, body io.Reader) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, target, body)
	require.NoError(t, err)
	return req
}

// bodyStash is a RoundTripper that remembers the request body it was given
// and delegates to next.
type bodyStash struct {
	next http.RoundTripper
	body io.ReadCloser
}

func (s *bodyStash) RoundTrip(r *http.Request) (*http.Response, error) {
	s.body = r.Body
	return s.next.RoundTrip(r)
}

func (s *bodyStash) CloseIdleConnections() {
	if c, ok := s.next.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// TestRequestBodyClosedAfterServe: once ServeHTTP returned, the outbound
// body no longer reads the server's request body (net/http issue 46866),
// even if the upstream answered without reading it.
func TestRequestBodyClosedAfterServe(t *testing.T) {
	t.Parallel()
	forEachPath(t, func(t *testing.T, p transportPath) {
		addr := backend(t, func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusAccepted) // body never read
		})
		cfg := withDefaults(Config{})
		var next http.RoundTripper = newFastTransport(&cfg)
		if p.std {
			next = newStdTransport(&cfg)
		}
		stash := &bodyStash{next: next}
		u := newTestUpstream(t, p, Config{Discovery: endpointsOf(addr), Transport: stash})
		rec := httptest.NewRecorder()
		u.ServeHTTP(rec, httptest.NewRequest("POST", "/", strings.NewReader(strings.Repeat("b", 1<<10))))
		assert.Equal(t, http.StatusAccepted, rec.Code)
		require.NotNil(t, stash.body)
		_, err := stash.body.Read(make([]byte, 1))
		assert.ErrorIs(t, err, errBodyReadAfterClose)
	})
}

func TestPathsAndBodiesPassIntact(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("0123456789abcdef", 64<<10) // 1 MiB
	tests := []struct {
		name, method, target, body string
		chunked                    bool
		wantURI, wantBody          string
		wantLen                    string
	}{
		{name: "encoded slash and space kept", method: "GET", target: "/a%2Fb/c%20d?x=%2F", wantURI: "/a%2Fb/c%20d?x=%2F"},
		{name: "HEAD keeps Content-Length", method: "HEAD", target: "/len", wantURI: "/len", wantLen: "5"},
		{name: "large request body with length", method: "POST", target: "/up", body: big, wantURI: "/up", wantBody: big},
		{name: "large chunked request body", method: "PUT", target: "/up", body: big, chunked: true, wantURI: "/up", wantBody: big},
		{name: "large response", method: "GET", target: "/big", wantURI: "/big", wantBody: big},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			forEachPath(t, func(t *testing.T, p transportPath) {
				addr := backend(t, func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("X-Uri", r.RequestURI)
					switch r.URL.Path {
					case "/len":
						w.Header().Set("Content-Length", "5")
						_, _ = io.WriteString(w, "hello")
					case "/big":
						_, _ = io.WriteString(w, big)
					default:
						// Read all first: net/http's HTTP/1 server is not full
						// duplex and would cut an echo short.
						b, _ := io.ReadAll(r.Body)
						_, _ = w.Write(b)
					}
				})
				u := newTestUpstream(t, p, Config{Discovery: endpointsOf(addr)})
				front, client := frontend(t, u)
				var body io.Reader
				if tt.body != "" {
					body = strings.NewReader(tt.body)
					if tt.chunked {
						body = io.MultiReader(body) // hides the length
					}
				}
				req, err := http.NewRequest(tt.method, front.URL+tt.target, body)
				require.NoError(t, err)
				res, err := client.Do(req)
				require.NoError(t, err)
				got, err := io.ReadAll(res.Body)
				res.Body.Close()
				require.NoError(t, err)
				assert.Equal(t, http.StatusOK, res.StatusCode)
				assert.Equal(t, tt.wantURI, res.Header.Get("X-Uri"))
				assert.Equal(t, len(tt.wantBody), len(got))
				assert.True(t, tt.wantBody == string(got), "body intact")
				if tt.wantLen != "" {
					assert.Equal(t, tt.wantLen, res.Header.Get("Content-Length"))
				}
			})
		})
	}
}

// TestFullDuplex: an upstream may stream its response while it still reads
// the request body.
func TestFullDuplex(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("0123456789abcdef", 64<<10) // 1 MiB
	forEachPath(t, func(t *testing.T, p transportPath) {
		addr := backend(t, func(w http.ResponseWriter, r *http.Request) {
			_ = http.NewResponseController(w).EnableFullDuplex()
			_, _ = io.Copy(w, r.Body)
		})
		u := newTestUpstream(t, p, Config{Discovery: endpointsOf(addr)})
		front, client := frontend(t, u)
		res, err := client.Post(front.URL, "text/plain", io.MultiReader(strings.NewReader(big)))
		require.NoError(t, err)
		got, err := io.ReadAll(res.Body)
		res.Body.Close()
		require.NoError(t, err)
		assert.Equal(t, len(big), len(got))
	})
}

func TestProxyRequestHelpers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		target  string // inbound
		rewrite func(*ProxyRequest)
		check   func(t *testing.T, h http.Header)
	}{
		{
			name:   "SetURL joins escaped paths",
			target: "/a%2Fb?q=1",
			rewrite: func(pr *ProxyRequest) {
				pr.SetURL(&url.URL{Path: "/base/x/y", RawPath: "/base/x%2Fy"})
			},
			check: func(t *testing.T, h http.Header) {
				assert.Equal(t, "/base/x%2Fy/a%2Fb?q=1", h.Get("X-Seen-Uri"))
			},
		},
		{
			name:   "SetURL without query or host keeps them",
			target: "/p?q=1",
			rewrite: func(pr *ProxyRequest) {
				pr.SetURL(&url.URL{Path: "/base"})
			},
			check: func(t *testing.T, h http.Header) {
				assert.Equal(t, "/base/p?q=1", h.Get("X-Seen-Uri"))
				assert.Equal(t, "api.example.com", h.Get("X-Seen-Host"))
			},
		},
		{
			name:   "SetXForwarded resets to single-hop values",
			target: "/",
			rewrite: func(pr *ProxyRequest) {
				pr.Out.Header.Set("X-Forwarded-For", "junk")
				pr.SetXForwarded()
			},
			check: func(t *testing.T, h http.Header) {
				assert.Equal(t, []string{"192.0.2.7"}, h["X-Forwarded-For"])
				assert.Equal(t, "api.example.com", h.Get("X-Forwarded-Host"))
				assert.Equal(t, "http", h.Get("X-Forwarded-Proto"))
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			forEachPath(t, func(t *testing.T, p transportPath) {
				addr := backend(t, echoHeaders)
				u := newTestUpstream(t, p, Config{Discovery: endpointsOf(addr), Rewrite: tt.rewrite})
				req := httptest.NewRequest("GET", "http://api.example.com"+tt.target, nil)
				req.RemoteAddr = "192.0.2.7:999"
				rec := httptest.NewRecorder()
				u.ServeHTTP(rec, req)
				require.Equal(t, http.StatusOK, rec.Code)
				var h http.Header
				require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &h))
				tt.check(t, h)
			})
		})
	}
}

func TestForwardedProtoHTTPS(t *testing.T) {
	t.Parallel()
	forEachPath(t, func(t *testing.T, p transportPath) {
		addr := backend(t, echoHeaders)
		u := newTestUpstream(t, p, Config{Discovery: endpointsOf(addr)})
		front := httptest.NewTLSServer(u)
		t.Cleanup(front.Close)
		client := front.Client()
		t.Cleanup(client.CloseIdleConnections)
		h, _ := getHeaders(t, client, mustRequest(t, "GET", front.URL, nil))
		assert.Equal(t, "https", h.Get("X-Forwarded-Proto"))
		assert.Contains(t, h.Get("Forwarded"), ";proto=https")
	})
}
