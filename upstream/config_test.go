package upstream

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatewaykit/gateway/upstream/internal/h1"
)

func TestDefaultsAndTransports(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		cfg    Config
		check  func(t *testing.T, u *Upstream)
		panics bool
	}{
		{name: "http uses the fast client", cfg: Config{}, check: func(t *testing.T, u *Upstream) {
			assert.IsType(t, &h1.Client{}, u.rt)
			assert.True(t, u.poolCalls)
			assert.IsType(t, &RoundRobin{}, u.bal)
			assert.Equal(t, "upstream", u.Name())
		}},
		{name: "https uses http.Transport with h2", cfg: Config{Name: "svc", Scheme: "https", DialTimeout: time.Second,
			ResponseHeaderTimeout: 2 * time.Second, IdleConnTimeout: 3 * time.Second, MaxConnsPerEndpoint: 7},
			check: func(t *testing.T, u *Upstream) {
				tr, ok := u.rt.(*http.Transport)
				require.True(t, ok)
				assert.True(t, tr.ForceAttemptHTTP2)
				assert.Equal(t, time.Second, tr.TLSHandshakeTimeout)
				assert.Equal(t, 2*time.Second, tr.ResponseHeaderTimeout)
				assert.Equal(t, 3*time.Second, tr.IdleConnTimeout)
				assert.Equal(t, 7, tr.MaxConnsPerHost)
				assert.Equal(t, DefaultMaxIdleConnsPerEndpoint, tr.MaxIdleConnsPerHost)
				assert.True(t, tr.DisableCompression)
				assert.Nil(t, tr.Proxy, "no environment proxies")
				assert.False(t, u.poolCalls)
				assert.Equal(t, "svc", u.Name())
			}},
		{name: "h2c", cfg: Config{Scheme: "h2c"}, check: func(t *testing.T, u *Upstream) {
			tr, ok := u.rt.(*http.Transport)
			require.True(t, ok)
			require.NotNil(t, tr.Protocols)
			assert.True(t, tr.Protocols.UnencryptedHTTP2())
		}},
		{name: "given transport used as is", cfg: Config{Transport: http.DefaultTransport}, check: func(t *testing.T, u *Upstream) {
			assert.Same(t, http.DefaultTransport, u.rt)
			assert.False(t, u.poolCalls)
		}},
		{name: "unknown scheme panics", cfg: Config{Scheme: "ftp"}, panics: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := tt.cfg
			cfg.Discovery = endpointsOf("127.0.0.1:1")
			if tt.panics {
				assert.Panics(t, func() { New(cfg) })
				return
			}
			u := New(cfg)
			defer u.CloseIdleConnections()
			tt.check(t, u)
		})
	}
}

func TestNewWithoutDiscoveryPanics(t *testing.T) {
	t.Parallel()
	assert.PanicsWithValue(t, "upstream: Config.Discovery is nil", func() { New(Config{}) })
}

func TestRemoteHost(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, addr, want string }{
		{"ipv4", "192.0.2.1:1234", "192.0.2.1"},
		{"ipv6", "[2001:db8::1]:443", "2001:db8::1"},
		{"bare ipv6", "2001:db8::1", "2001:db8::1"},
		{"no port", "192.0.2.1", ""},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.want, remoteHost(tt.addr))
		})
	}
}

func TestUserinfoNotForwarded(t *testing.T) {
	t.Parallel()
	forEachPath(t, func(t *testing.T, p transportPath) {
		addr := backend(t, echoHeaders)
		u := newTestUpstream(t, p, Config{Discovery: endpointsOf(addr)})
		rec := httptest.NewRecorder()
		u.ServeHTTP(rec, httptest.NewRequest("GET", "http://user:secret@api.example.com/x", nil))
		require.Equal(t, http.StatusOK, rec.Code)
		assert.NotContains(t, rec.Body.String(), "Authorization", "URL userinfo must not become credentials")
	})
}

func TestEndpointsSnapshotIsCopy(t *testing.T) {
	t.Parallel()
	u := New(Config{Discovery: endpointsOf("a:1", "b:2")})
	eps := u.Endpoints()
	eps[0].Addr = "mutated:1"
	assert.Equal(t, "a:1", u.Endpoints()[0].Addr)
}
