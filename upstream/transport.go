package upstream

import (
	"crypto/tls"
	"net"
	"net/http"
	"time"

	"github.com/gatewaykit/gateway/upstream/internal/h1"
)

// newTransport builds the RoundTripper for cfg.Scheme (cfg has its defaults
// applied): the fast HTTP/1.1 client for "http", an http.Transport for
// "https" (HTTP/2 via ALPN) and "h2c" (HTTP/2 with prior knowledge).
func newTransport(cfg *Config) http.RoundTripper {
	if cfg.Scheme == "http" {
		return newFastTransport(cfg)
	}
	return newStdTransport(cfg)
}

// newStdTransport returns an http.Transport with the Config's timeouts and
// pool sizes. Environment proxies are ignored: the endpoints are the
// service's own addresses.
func newStdTransport(cfg *Config) *http.Transport {
	d := &net.Dialer{Timeout: cfg.DialTimeout, KeepAlive: 30 * time.Second}
	t := &http.Transport{
		DialContext:           d.DialContext,
		TLSHandshakeTimeout:   cfg.DialTimeout,
		ResponseHeaderTimeout: cfg.ResponseHeaderTimeout,
		IdleConnTimeout:       cfg.IdleConnTimeout,
		MaxIdleConns:          0, // bounded per host below
		MaxIdleConnsPerHost:   cfg.MaxIdleConnsPerEndpoint,
		MaxConnsPerHost:       cfg.MaxConnsPerEndpoint,
		ExpectContinueTimeout: time.Second,
		// The proxy forwards Accept-Encoding as the client sent it and must
		// not decompress behind the client's back.
		DisableCompression: true,
	}
	switch cfg.Scheme {
	case "https":
		if cfg.TLSClientConfig != nil {
			t.TLSClientConfig = cfg.TLSClientConfig.Clone()
		}
		if cfg.Host.fixed != "" && (t.TLSClientConfig == nil || t.TLSClientConfig.ServerName == "") {
			// Endpoints are usually IP addresses, which a certificate does
			// not name: the fixed Host is the name to verify and send as SNI.
			if t.TLSClientConfig == nil {
				t.TLSClientConfig = &tls.Config{}
			}
			host := cfg.Host.fixed
			if h, _, err := net.SplitHostPort(host); err == nil {
				host = h
			}
			t.TLSClientConfig.ServerName = host
		}
		t.ForceAttemptHTTP2 = true
	case "h2c":
		var p http.Protocols
		p.SetUnencryptedHTTP2(true)
		t.Protocols = &p
	default:
		if cfg.TLSClientConfig != nil {
			t.TLSClientConfig = cfg.TLSClientConfig.Clone()
		}
	}
	return t
}

// newFastTransport returns the fast HTTP/1.1 client for the "http" scheme.
func newFastTransport(cfg *Config) http.RoundTripper {
	return h1.New(h1.Config{
		DialTimeout:           cfg.DialTimeout,
		ResponseHeaderTimeout: cfg.ResponseHeaderTimeout,
		IdleConnTimeout:       cfg.IdleConnTimeout,
		MaxIdleConnsPerHost:   cfg.MaxIdleConnsPerEndpoint,
		MaxConnsPerHost:       cfg.MaxConnsPerEndpoint,
	})
}
