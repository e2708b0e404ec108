package upstream

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// healthEvents records health events.
type healthEvents struct {
	mu  sync.Mutex
	evs []string
}

func (h *healthEvents) add(ev HealthEvent) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := string(ev.Type)
	if ev.Endpoint != "" {
		s += " " + ev.Endpoint
	}
	h.evs = append(h.evs, s)
}

func (h *healthEvents) list() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.evs...)
}

func addrsOf(eps []Endpoint) []string {
	out := make([]string, len(eps))
	for i, ep := range eps {
		out[i] = ep.Addr
	}
	return out
}

func epsOf(addrs ...string) []Endpoint {
	eps := make([]Endpoint, len(addrs))
	for i, a := range addrs {
		eps[i] = Endpoint{Addr: a, Weight: 1}
	}
	return eps
}

// healthServer is a loopback server whose /healthz answers the status it
// holds.
func healthServer(t *testing.T, status int) (string, *atomic.Int64) {
	t.Helper()
	var st atomic.Int64
	st.Store(int64(status))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		w.WriteHeader(int(st.Load()))
	}))
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String(), &st
}

func TestHealthCheckHTTP(t *testing.T) {
	t.Parallel()
	good, _ := healthServer(t, http.StatusOK)
	bad, badStatus := healthServer(t, http.StatusServiceUnavailable)
	var ev healthEvents
	hs := newHealthState(healthConfig{
		check:   HealthCheck{Type: "http", Path: "/healthz", HealthyThreshold: 2, UnhealthyThreshold: 2},
		onEvent: ev.add,
	})
	hs.setEndpoints(epsOf(good, bad))
	p := newProber(&hs.cfg)
	defer p.close()
	ctx := context.Background()
	quiet := slog.New(slog.DiscardHandler)

	hs.checkRound(ctx, p, quiet)
	assert.Equal(t, []string{good, bad}, addrsOf(hs.snapshot().eps), "one failure is under the threshold")
	hs.checkRound(ctx, p, quiet)
	assert.Equal(t, []string{good}, addrsOf(hs.snapshot().eps), "two failures take it out")
	h := hs.report()
	require.Len(t, h, 2)
	assert.False(t, h[1].Healthy)
	assert.False(t, h[1].InRotation)
	assert.Contains(t, h[1].LastError, "503")

	badStatus.Store(http.StatusOK)
	hs.checkRound(ctx, p, quiet)
	assert.Equal(t, []string{good}, addrsOf(hs.snapshot().eps), "one success is under the threshold")
	hs.checkRound(ctx, p, quiet)
	assert.Equal(t, []string{good, bad}, addrsOf(hs.snapshot().eps))
	assert.Equal(t, []string{"unhealthy " + bad, "healthy " + bad}, ev.list())
}

func TestHealthCheckHTTPStatuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		status   int
		statuses []int
		pass     bool
	}{
		{"2xx passes by default", 204, nil, true},
		{"3xx passes by default", 302, nil, true},
		{"4xx fails by default", 404, nil, false},
		{"listed status passes", 418, []int{418}, true},
		{"unlisted status fails", 200, []int{204}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			addr, _ := healthServer(t, tt.status)
			cfg := healthConfig{check: HealthCheck{Type: "http", Path: "healthz", Statuses: tt.statuses}.withDefaults()}
			p := newProber(&cfg)
			defer p.close()
			err := p.probe(context.Background(), Endpoint{Addr: addr})
			assert.Equal(t, tt.pass, err == nil, "status %d: %v", tt.status, err)
		})
	}
}

func TestHealthCheckTCP(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	deadAddr := closed.Addr().String()
	closed.Close()

	cfg := healthConfig{check: HealthCheck{Type: "tcp"}.withDefaults()}
	p := newProber(&cfg)
	defer p.close()
	assert.NoError(t, p.probe(context.Background(), Endpoint{Addr: ln.Addr().String()}))
	assert.Error(t, p.probe(context.Background(), Endpoint{Addr: deadAddr}))
}

// grpcHealthServer is a minimal h2c server speaking grpc.health.v1: it is a
// hand-written peer because the gRPC server library is not a dependency
// of this module. Services map to serving statuses; an unknown service
// gets grpc-status 5 (NOT_FOUND) in a trailers-only response, as grpc-go's
// health server does.
func grpcHealthServer(t *testing.T, services map[string]int) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor != 2 || r.URL.Path != "/grpc.health.v1.Health/Check" || r.Header.Get("Content-Type") != "application/grpc" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		body, _ := io.ReadAll(r.Body)
		if len(body) < 5 {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		msg := body[5:]
		service := ""
		if len(msg) > 0 && msg[0] == 0x0a {
			l, n := binary.Uvarint(msg[1:])
			service = string(msg[1+n : 1+n+int(l)])
		}
		w.Header().Set("Content-Type", "application/grpc")
		status, ok := services[service]
		if !ok {
			w.Header().Set("Grpc-Status", "5")
			w.Header().Set("Grpc-Message", "unknown service")
			w.WriteHeader(http.StatusOK)
			return
		}
		w.Header().Set("Trailer", "Grpc-Status, Grpc-Message")
		resp := []byte{0, 0, 0, 0, 2, 0x08, byte(status)}
		_, _ = w.Write(resp)
		w.Header().Set("Grpc-Status", "0")
		w.Header().Set("Grpc-Message", "")
	}))
	var protos http.Protocols
	protos.SetUnencryptedHTTP2(true)
	srv.Config.Protocols = &protos
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

func TestHealthCheckGRPC(t *testing.T) {
	t.Parallel()
	addr := grpcHealthServer(t, map[string]int{"": 1, "users": 1, "orders": 2})
	tests := []struct {
		name    string
		service string
		pass    bool
		errHas  string
	}{
		{"server health", "", true, ""},
		{"serving service", "users", true, ""},
		{"not serving", "orders", false, "NOT_SERVING"},
		{"unknown service", "nope", false, "grpc-status 5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := healthConfig{check: HealthCheck{Type: "grpc", Service: tt.service}.withDefaults()}
			p := newProber(&cfg)
			defer p.close()
			err := p.probe(context.Background(), Endpoint{Addr: addr})
			if tt.pass {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.errHas)
		})
	}
}

func TestGRPCHealthEncoding(t *testing.T) {
	t.Parallel()
	assert.Equal(t, []byte{0, 0, 0, 0, 0}, grpcHealthRequest(""))
	assert.Equal(t, []byte{0, 0, 0, 0, 7, 0x0a, 5, 'u', 's', 'e', 'r', 's'}, grpcHealthRequest("users"))
	tests := []struct {
		name string
		msg  []byte
		want int
		err  bool
	}{
		{"empty is UNKNOWN", nil, 0, false},
		{"serving", []byte{0x08, 1}, 1, false},
		{"unknown fields skipped", []byte{0x12, 2, 'x', 'y', 0x08, 2, 0x1d, 1, 2, 3, 4}, 2, false},
		{"truncated", []byte{0x12, 5, 'x'}, 0, true},
		{"bad wire type", []byte{0x0b}, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := grpcHealthStatus(tt.msg)
			if tt.err {
				assert.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestHealthCheckTimeout(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	defer close(release)
	hs := newHealthState(healthConfig{check: HealthCheck{Type: "http", Timeout: 50 * time.Millisecond, UnhealthyThreshold: 1}})
	hs.setEndpoints(epsOf(srv.Listener.Addr().String()))
	p := newProber(&hs.cfg)
	defer p.close()
	hs.checkRound(context.Background(), p, slog.New(slog.DiscardHandler))
	h := hs.report()
	assert.False(t, h[0].Healthy)
	assert.Contains(t, h[0].LastError, "deadline exceeded")
}

func TestHealthIntervalJitter(t *testing.T) {
	t.Parallel()
	hc := HealthCheck{Type: "tcp", Interval: time.Second, Jitter: 100 * time.Millisecond}.withDefaults()
	seen := map[bool]bool{}
	for range 1000 {
		d := hc.nextInterval()
		require.GreaterOrEqual(t, d, 900*time.Millisecond)
		require.LessOrEqual(t, d, 1100*time.Millisecond)
		seen[d < time.Second] = true
	}
	assert.Len(t, seen, 2, "both sides of the interval")
	assert.Equal(t, time.Second/10, HealthCheck{Type: "http", Interval: time.Second}.withDefaults().Jitter)
	assert.Panics(t, func() { HealthCheck{Type: "udp"}.withDefaults() })
}

// runChecks probes on its own every interval (fake time) and stops with
// its context.
func TestHealthRunChecks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var probes atomic.Int64
		hs := newHealthState(healthConfig{check: HealthCheck{Type: "http", Interval: 10 * time.Second, UnhealthyThreshold: 1}})
		hs.setEndpoints(epsOf("a:1"))
		p := newProber(&hs.cfg)
		p.hc.Type = "test"
		p.rt.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			probes.Add(1)
			return nil, io.ErrUnexpectedEOF
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { hs.runChecks(ctx, p, slog.New(slog.DiscardHandler)); close(done) }()
		synctest.Wait()
		assert.Equal(t, int64(1), probes.Load(), "first round at once")
		time.Sleep(11 * time.Second)
		synctest.Wait()
		assert.Equal(t, int64(2), probes.Load(), "one round per interval")
		assert.False(t, hs.report()[0].Healthy)
		cancel()
		<-done
	})
}

// HTTPS probes verify the certificate for HealthCheck.Host.
func TestHealthCheckHTTPS(t *testing.T) {
	t.Parallel()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Host != "example.com" {
			w.WriteHeader(http.StatusMisdirectedRequest)
		}
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake is expected
	srv.StartTLS()
	t.Cleanup(srv.Close)
	roots := srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	tests := []struct {
		name string
		host string
		pass bool
	}{
		{"name in the certificate", "example.com", true},
		{"IP address only", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := healthConfig{check: HealthCheck{Type: "http", Host: tt.host}.withDefaults(), scheme: "https", tls: &tls.Config{RootCAs: roots}}
			p := newProber(&cfg)
			defer p.close()
			err := p.probe(context.Background(), Endpoint{Addr: srv.Listener.Addr().String()})
			assert.Equal(t, tt.pass, err == nil, "%v", err)
		})
	}
}
