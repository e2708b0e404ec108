package upstream

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// prober runs the active health probes of one Upstream.
type prober struct {
	hc     HealthCheck
	scheme string // "http" or "https" for HTTP probes
	rt     *http.Transport
	dialer net.Dialer
}

func newProber(cfg *healthConfig) *prober {
	p := &prober{hc: cfg.check, scheme: "http"}
	p.dialer.Timeout = cfg.check.Timeout
	t := &http.Transport{
		DialContext:         p.dialer.DialContext,
		MaxIdleConnsPerHost: 1,
		IdleConnTimeout:     cfg.check.Interval * 3,
		DisableCompression:  true,
	}
	switch {
	case cfg.check.Type == "grpc" || cfg.scheme == "h2c":
		// gRPC health checks speak HTTP/2 without TLS (h2c, prior
		// knowledge): the gRPC library is not a dependency of this
		// package, so the protocol's two messages are encoded by hand.
		var protos http.Protocols
		protos.SetUnencryptedHTTP2(true)
		t.Protocols = &protos
	case cfg.scheme == "https":
		p.scheme = "https"
		if cfg.tls != nil {
			t.TLSClientConfig = cfg.tls.Clone()
		} else {
			t.TLSClientConfig = &tls.Config{}
		}
		if t.TLSClientConfig.ServerName == "" && cfg.check.Host != "" {
			// Endpoints are usually IP addresses: verify the name the
			// probes ask for.
			host := cfg.check.Host
			if h, _, err := net.SplitHostPort(host); err == nil {
				host = h
			}
			t.TLSClientConfig.ServerName = host
		}
		t.ForceAttemptHTTP2 = true
	}
	p.rt = t
	return p
}

func (p *prober) close() { p.rt.CloseIdleConnections() }

// probe checks ep once; nil means it passed.
func (p *prober) probe(ctx context.Context, ep Endpoint) error {
	switch p.hc.Type {
	case "tcp":
		c, err := p.dialer.DialContext(ctx, "tcp", ep.Addr)
		if err != nil {
			return err
		}
		return c.Close()
	case "grpc":
		return p.probeGRPC(ctx, ep)
	}
	return p.probeHTTP(ctx, ep)
}

var errHealthStatus = errors.New("upstream: health check status")

func (p *prober) probeHTTP(ctx context.Context, ep Endpoint) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.scheme+"://"+ep.Addr+p.hc.Path, nil)
	if err != nil {
		return err
	}
	if p.hc.Host != "" {
		req.Host = p.hc.Host
	}
	req.Header.Set("User-Agent", "gatewaykit-health-check/1")
	res, err := p.rt.RoundTrip(req)
	if err != nil {
		return err
	}
	_, _ = io.CopyN(io.Discard, res.Body, 4<<10)
	_ = res.Body.Close()
	if !p.passes(res.StatusCode) {
		return fmt.Errorf("%w %d", errHealthStatus, res.StatusCode)
	}
	return nil
}

func (p *prober) passes(status int) bool {
	if len(p.hc.Statuses) == 0 {
		return status >= 200 && status < 400
	}
	for _, s := range p.hc.Statuses {
		if s == status {
			return true
		}
	}
	return false
}

// gRPC health checking protocol (grpc/grpc doc/health-checking.md):
//
//	message HealthCheckRequest { string service = 1; }
//	message HealthCheckResponse { ServingStatus status = 1; }  // SERVING = 1
const grpcServing = 1

var errGRPCHealth = errors.New("upstream: grpc health check")

// grpcHealthRequest returns the length-prefixed HealthCheckRequest.
func grpcHealthRequest(service string) []byte {
	var msg []byte
	if service != "" {
		msg = append(msg, 0x0a) // field 1, length-delimited
		msg = binary.AppendUvarint(msg, uint64(len(service)))
		msg = append(msg, service...)
	}
	frame := make([]byte, 5, 5+len(msg))
	binary.BigEndian.PutUint32(frame[1:], uint32(len(msg)))
	return append(frame, msg...)
}

// grpcHealthStatus decodes a HealthCheckResponse message, skipping unknown
// fields.
func grpcHealthStatus(msg []byte) (int, error) {
	status := 0 // UNKNOWN when absent
	for len(msg) > 0 {
		key, n := binary.Uvarint(msg)
		if n <= 0 {
			return 0, fmt.Errorf("%w: bad field key", errGRPCHealth)
		}
		msg = msg[n:]
		switch key & 7 {
		case 0: // varint
			v, n := binary.Uvarint(msg)
			if n <= 0 {
				return 0, fmt.Errorf("%w: bad varint", errGRPCHealth)
			}
			msg = msg[n:]
			if key>>3 == 1 {
				status = int(v)
			}
		case 1: // 64-bit
			if len(msg) < 8 {
				return 0, fmt.Errorf("%w: short field", errGRPCHealth)
			}
			msg = msg[8:]
		case 2: // length-delimited
			l, n := binary.Uvarint(msg)
			if n <= 0 || uint64(len(msg)-n) < l {
				return 0, fmt.Errorf("%w: bad length", errGRPCHealth)
			}
			msg = msg[n+int(l):]
		case 5: // 32-bit
			if len(msg) < 4 {
				return 0, fmt.Errorf("%w: short field", errGRPCHealth)
			}
			msg = msg[4:]
		default:
			return 0, fmt.Errorf("%w: wire type %d", errGRPCHealth, key&7)
		}
	}
	return status, nil
}

func (p *prober) probeGRPC(ctx context.Context, ep Endpoint) error {
	body := grpcHealthRequest(p.hc.Service)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+ep.Addr+"/grpc.health.v1.Health/Check", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/grpc")
	req.Header.Set("Te", "trailers")
	req.Header.Set("User-Agent", "gatewaykit-health-check/1")
	if p.hc.Host != "" {
		req.Host = p.hc.Host
	}
	res, err := p.rt.RoundTrip(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("%w: http status %d", errGRPCHealth, res.StatusCode)
	}
	msg, rerr := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	// grpc-status is a trailer, or a header in a trailers-only response.
	gs := res.Trailer.Get("Grpc-Status")
	if gs == "" {
		gs = res.Header.Get("Grpc-Status")
	}
	if gs != "0" {
		if gs == "" && rerr != nil {
			return rerr
		}
		return fmt.Errorf("%w: grpc-status %s %s", errGRPCHealth, gs, firstNonEmpty(res.Trailer.Get("Grpc-Message"), res.Header.Get("Grpc-Message")))
	}
	if rerr != nil {
		return rerr
	}
	if len(msg) < 5 || msg[0] != 0 {
		return fmt.Errorf("%w: bad response frame", errGRPCHealth)
	}
	n := binary.BigEndian.Uint32(msg[1:5])
	if uint64(len(msg)-5) < uint64(n) {
		return fmt.Errorf("%w: short response", errGRPCHealth)
	}
	status, err := grpcHealthStatus(msg[5 : 5+n])
	if err != nil {
		return err
	}
	if status != grpcServing {
		return fmt.Errorf("%w: status %s", errGRPCHealth, grpcStatusName(status))
	}
	return nil
}

func grpcStatusName(s int) string {
	switch s {
	case 0:
		return "UNKNOWN"
	case 2:
		return "NOT_SERVING"
	case 3:
		return "SERVICE_UNKNOWN"
	}
	return strconv.Itoa(s)
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return strings.TrimSpace(b)
}

// checkRound probes every endpoint once, concurrently, and records the
// verdicts. A probe cut short because ctx ended records nothing.
func (hs *healthState) checkRound(ctx context.Context, p *prober, log *slog.Logger) {
	var wg sync.WaitGroup
	for _, ep := range hs.current() {
		wg.Go(func() {
			defer func() {
				if v := recover(); v != nil {
					log.Error("upstream: health probe panicked", slog.String("endpoint", ep.Addr), slog.Any("panic", v))
				}
			}()
			pctx, cancel := context.WithTimeout(ctx, p.hc.Timeout)
			err := p.probe(pctx, ep)
			cancel()
			if ctx.Err() != nil {
				return
			}
			hs.checkResult(ep.Addr, err)
		})
	}
	wg.Wait()
}

// runChecks probes the endpoints every Interval ± Jitter until ctx ends.
func (hs *healthState) runChecks(ctx context.Context, p *prober, log *slog.Logger) {
	defer p.close()
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		hs.checkRound(ctx, p, log)
		t.Reset(p.hc.nextInterval())
	}
}
