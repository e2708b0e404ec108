package h1

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync"
	"time"
)

// Default values used for zero [Config] fields.
const (
	// DefaultDialTimeout is used when Config.DialTimeout is zero.
	DefaultDialTimeout = 5 * time.Second
	// DefaultExpectContinueTimeout is used when Config.ExpectContinueTimeout is zero.
	DefaultExpectContinueTimeout = 1 * time.Second
	// DefaultIdleConnTimeout is used when Config.IdleConnTimeout is zero.
	DefaultIdleConnTimeout = 90 * time.Second
	// DefaultMaxIdleConnsPerHost is used when Config.MaxIdleConnsPerHost is zero.
	DefaultMaxIdleConnsPerHost = 64
	// DefaultMaxResponseHeaderBytes is used when Config.MaxResponseHeaderBytes is zero.
	DefaultMaxResponseHeaderBytes = 1 << 20
	// DefaultBufferSize is used when Config.ReadBufferSize or
	// Config.WriteBufferSize is zero.
	DefaultBufferSize = 4 << 10
)

// Config configures a [Client]. The zero value is ready to use; every zero
// field means the documented default. Negative durations and sizes are
// programmer errors and make [New] panic.
type Config struct {
	// Dial opens a connection to addr ("host:port", network "tcp"). The
	// context carries the request's cancellation and the DialTimeout.
	// If nil, a [net.Dialer] with a 30s TCP keep-alive is used.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)

	// DialTimeout bounds establishing a new connection. Zero means
	// DefaultDialTimeout (5s).
	DialTimeout time.Duration

	// ResponseHeaderTimeout, if non-zero, bounds the wait for the response
	// headers after the request (including its body) has been written. When
	// it expires RoundTrip returns [ErrResponseHeaderTimeout]. Zero means no
	// limit beyond the request's context, as in [net/http.Transport].
	ResponseHeaderTimeout time.Duration

	// ReadTimeout, if non-zero, bounds each wait for the next bytes of the
	// response body (like nginx's proxy_read_timeout, applied between two
	// successive reads, not to the whole body). When it expires the body's
	// Read returns [ErrReadTimeout]. Zero means no limit beyond the
	// request's context.
	ReadTimeout time.Duration

	// WriteTimeout, if non-zero, bounds each write of the request to the
	// upstream (like nginx's proxy_send_timeout, applied between two
	// successive writes, not to the whole body). When it expires RoundTrip
	// returns [ErrWriteTimeout], unless the upstream answered early. Zero
	// means no limit beyond the request's context.
	WriteTimeout time.Duration

	// ExpectContinueTimeout is how long to wait for a "100 Continue" after
	// sending the headers of a request with "Expect: 100-continue" and a body
	// before sending the body anyway. Zero means DefaultExpectContinueTimeout
	// (1s).
	ExpectContinueTimeout time.Duration

	// IdleConnTimeout is how long a connection may sit unused in the pool.
	// Expired connections are closed lazily when a request for the same host
	// checks the pool, by [Client.Run] if it runs, and by
	// [Client.CloseIdleConnections]. Set it below the upstream's own
	// keep-alive timeout. Zero means DefaultIdleConnTimeout (90s).
	IdleConnTimeout time.Duration

	// MaxIdleConnsPerHost caps the idle connections kept per host:port;
	// connections released beyond it are closed. Zero means
	// DefaultMaxIdleConnsPerHost (64).
	MaxIdleConnsPerHost int

	// MaxConnsPerHost caps all connections (dialling, active and idle) per
	// host:port. When the cap is reached RoundTrip waits for a connection to
	// be released or for the request's context to end. Zero means no limit.
	MaxConnsPerHost int

	// MaxResponseHeaderBytes caps the bytes of response headers (status line
	// and header fields, 1xx responses included unless delivered to a
	// Got1xxResponse hook). Zero means DefaultMaxResponseHeaderBytes (1 MiB).
	MaxResponseHeaderBytes int64

	// ReadBufferSize sizes each connection's read buffer. Zero means
	// DefaultBufferSize (4 KiB).
	ReadBufferSize int

	// WriteBufferSize sizes the write buffers, which are pooled and held
	// only while a request is written. Zero means DefaultBufferSize (4 KiB).
	WriteBufferSize int

	// MaxRequestsPerConn, if non-zero, closes a connection after it has
	// carried that many requests (like nginx's keepalive_requests), so that
	// long-lived clients rebalance over new upstream instances. Zero means
	// no limit.
	MaxRequestsPerConn int

	// MaxConnLifetime, if non-zero, closes a connection, once its current
	// exchange ends, when it is older than this (like nginx's
	// keepalive_time or Envoy's max_connection_duration). Zero means no
	// limit.
	MaxConnLifetime time.Duration

	// DisableKeepAlives, if true, sends "Connection: close" and uses each
	// connection for one request only.
	DisableKeepAlives bool
}

// Client is a synchronous HTTP/1.1 [net/http.RoundTripper] for plain-HTTP
// upstreams with a pool of keep-alive connections per host:port. The request
// is written and the response read on the caller's goroutine; the client
// starts no goroutines of its own (see [Client.Run] for optional background
// eviction). Build one with [New]; the zero value is not usable.
//
// Client is safe for simultaneous use by multiple goroutines.
type Client struct {
	cfg  Config
	dial func(ctx context.Context, network, addr string) (net.Conn, error)

	pools   sync.Map // host:port -> *hostPool
	writers sync.Pool

	// now is a test hook; nil means time.Now.
	now func() time.Time
}

var _ http.RoundTripper = (*Client)(nil)

// New returns a Client configured by cfg (copied). It starts no goroutines.
// It panics if a duration or size in cfg is negative.
func New(cfg Config) *Client {
	checkNonNegative("DialTimeout", int64(cfg.DialTimeout))
	checkNonNegative("ResponseHeaderTimeout", int64(cfg.ResponseHeaderTimeout))
	checkNonNegative("ReadTimeout", int64(cfg.ReadTimeout))
	checkNonNegative("WriteTimeout", int64(cfg.WriteTimeout))
	checkNonNegative("ExpectContinueTimeout", int64(cfg.ExpectContinueTimeout))
	checkNonNegative("IdleConnTimeout", int64(cfg.IdleConnTimeout))
	checkNonNegative("MaxIdleConnsPerHost", int64(cfg.MaxIdleConnsPerHost))
	checkNonNegative("MaxConnsPerHost", int64(cfg.MaxConnsPerHost))
	checkNonNegative("MaxResponseHeaderBytes", cfg.MaxResponseHeaderBytes)
	checkNonNegative("MaxRequestsPerConn", int64(cfg.MaxRequestsPerConn))
	checkNonNegative("MaxConnLifetime", int64(cfg.MaxConnLifetime))
	checkNonNegative("ReadBufferSize", int64(cfg.ReadBufferSize))
	checkNonNegative("WriteBufferSize", int64(cfg.WriteBufferSize))
	if cfg.DialTimeout == 0 {
		cfg.DialTimeout = DefaultDialTimeout
	}
	if cfg.ExpectContinueTimeout == 0 {
		cfg.ExpectContinueTimeout = DefaultExpectContinueTimeout
	}
	if cfg.IdleConnTimeout == 0 {
		cfg.IdleConnTimeout = DefaultIdleConnTimeout
	}
	if cfg.MaxIdleConnsPerHost == 0 {
		cfg.MaxIdleConnsPerHost = DefaultMaxIdleConnsPerHost
	}
	if cfg.MaxResponseHeaderBytes == 0 {
		cfg.MaxResponseHeaderBytes = DefaultMaxResponseHeaderBytes
	}
	if cfg.ReadBufferSize == 0 {
		cfg.ReadBufferSize = DefaultBufferSize
	}
	if cfg.WriteBufferSize == 0 {
		cfg.WriteBufferSize = DefaultBufferSize
	}
	c := &Client{cfg: cfg, dial: cfg.Dial}
	if c.dial == nil {
		d := &net.Dialer{KeepAlive: 30 * time.Second}
		c.dial = d.DialContext
	}
	size := cfg.WriteBufferSize
	c.writers.New = func() any { return bufio.NewWriterSize(nil, size) }
	return c
}

func checkNonNegative(name string, v int64) {
	if v < 0 {
		panic("h1: negative Config." + name)
	}
}

func (c *Client) timeNow() time.Time {
	if c.now != nil {
		return c.now()
	}
	return time.Now()
}

// RoundTrip sends req over a pooled HTTP/1.1 connection and returns the
// response, with the semantics of [net/http.Transport.RoundTrip] for a plain
// "http" URL: a non-nil error only when no response was obtained, the request
// body always closed, resp.Body reading from the connection until the caller
// reads it to EOF or closes it (which returns the connection to the pool).
//
// Differences from [net/http.Transport], all deliberate:
//   - no User-Agent is added when req.Header has none; a User-Agent header
//     whose first value is empty is not sent (as with Transport);
//   - no Accept-Encoding is added, so bodies are never decompressed;
//   - no proxy (HTTP_PROXY) support, no TLS, no HTTP/2;
//   - the whole request body is written before the response is read; when
//     the upstream answers early and closes, the response it sent is still
//     returned (the connection is not reused);
//   - a request with ContentLength 0 and a non-nil, non-[net/http.NoBody]
//     Body is sent chunked (Transport probes the body first); req.Trailer
//     is sent only with a chunked body;
//   - after a 101 response the connection belongs to the caller: the
//     request's context no longer interrupts it;
//   - for "Expect: 100-continue", a final response that arrives before the
//     body was sent is returned, the body is not sent and the connection is
//     closed (Transport sends the body to keep the connection).
//
// Errors: a failed dial is a [*DialError]; an expired
// Config.ResponseHeaderTimeout is [ErrResponseHeaderTimeout] (and an expired
// Config.ReadTimeout makes the body's Read return [ErrReadTimeout]); an
// expired Config.WriteTimeout is [ErrWriteTimeout]; when the
// request's context ends, the error wraps the context's error. A request
// that failed on a pooled connection the upstream had closed is retried once
// on a new connection when [IsReplayable] reports true.
//
// Supported [net/http/httptrace.ClientTrace] hooks: GetConn, GotConn,
// WroteHeaders, Wait100Continue, Got100Continue, WroteRequest,
// GotFirstResponseByte, Got1xxResponse; the DNS and Connect hooks are called
// by [net.Dialer] when Config.Dial is nil.
func (c *Client) RoundTrip(req *http.Request) (*http.Response, error) {
	body := req.Body
	if body == http.NoBody {
		body = nil
	}
	host, err := c.validate(req)
	if err != nil {
		closeBody(req.Body)
		return nil, err
	}
	key := canonicalAddr(req.URL.Host)
	ctx := req.Context()
	trace := httptrace.ContextClientTrace(ctx)
	fr, err := framingFor(req, body)
	if err != nil {
		closeBody(req.Body)
		return nil, err
	}
	replayable := IsReplayable(req)
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			closeBody(body)
			return nil, fmt.Errorf("h1: %s %s: %w", req.Method, key, err)
		}
		pc, err := c.getConn(ctx, key, trace, !replayable)
		if err != nil {
			closeBody(body)
			return nil, err
		}
		resp, err, retry := c.exchange(ctx, pc, req, host, body, fr, trace, replayable && attempt == 0)
		if err == nil {
			closeBody(body)
			return resp, nil
		}
		closeBody(body)
		if !retry || attempt > 0 || !replayable || ctx.Err() != nil {
			return nil, err
		}
		if body != nil {
			nb, gerr := req.GetBody()
			if gerr != nil {
				return nil, fmt.Errorf("h1: rewind request body: %w (after %w)", gerr, err)
			}
			if nb == nil {
				nb = http.NoBody // framed as before: an empty body
			}
			body = nb
		}
	}
}

// IsReplayable reports whether req may be sent again after a failure in which
// the upstream may have seen part of it: the method is idempotent (GET, HEAD,
// OPTIONS, TRACE) or the request carries an Idempotency-Key or
// X-Idempotency-Key header, and the body is absent or can be recreated with
// req.GetBody. This is the rule [net/http.Transport] applies to stale
// keep-alive connections, and [Client.RoundTrip] applies it too.
func IsReplayable(req *http.Request) bool {
	if req.Body != nil && req.Body != http.NoBody && req.GetBody == nil {
		return false
	}
	switch req.Method {
	case "GET", "HEAD", "OPTIONS", "TRACE", "":
		return true
	}
	if _, ok := req.Header["Idempotency-Key"]; ok {
		return true
	}
	if _, ok := req.Header["X-Idempotency-Key"]; ok {
		return true
	}
	return false
}

func closeBody(b io.ReadCloser) {
	if b != nil {
		_ = b.Close()
	}
}

// canonicalAddr returns host with ":80" added when it has no port.
func canonicalAddr(host string) string {
	if hasPort(host) {
		return host
	}
	return host + ":80"
}

func hasPort(s string) bool {
	i := strings.LastIndexByte(s, ':')
	return i >= 0 && i > strings.LastIndexByte(s, ']')
}

// CloseIdleConnections closes the connections that are idle in the pool.
// Connections in use are not interrupted and return to the pool when their
// response is done. It is safe to call concurrently with RoundTrip.
func (c *Client) CloseIdleConnections() {
	c.pools.Range(func(_, v any) bool {
		v.(*hostPool).closeIdle()
		return true
	})
}

// HostStats is a snapshot of one host's pool, returned by [Client.Stats].
type HostStats struct {
	// Open counts connections dialling, in use or idle.
	Open int
	// Idle counts connections waiting in the pool.
	Idle int
	// Waiting counts requests blocked by Config.MaxConnsPerHost.
	Waiting int
}

// Stats returns a snapshot of the pool of every host:port the client has
// connected to. It takes each host's lock briefly and is safe to call
// concurrently with RoundTrip.
func (c *Client) Stats() map[string]HostStats {
	m := make(map[string]HostStats)
	c.pools.Range(func(k, v any) bool {
		p := v.(*hostPool)
		p.mu.Lock()
		if !p.dead {
			m[k.(string)] = HostStats{Open: p.open, Idle: len(p.idle), Waiting: len(p.waiters)}
		}
		p.mu.Unlock()
		return true
	})
	return m
}

// Run closes expired idle connections in the background, every half
// IdleConnTimeout (at least every second), and forgets hosts that have no
// connection left, until ctx ends; it then closes all idle connections and
// returns nil. Running it is optional: without it expired connections are
// closed when the next request for their host checks the pool.
func (c *Client) Run(ctx context.Context) error {
	every := max(c.cfg.IdleConnTimeout/2, time.Second)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			c.CloseIdleConnections()
			return nil
		case <-t.C:
			c.sweep()
		}
	}
}

// sweep closes expired idle connections in every pool and drops empty pools.
func (c *Client) sweep() {
	now := c.timeNow()
	c.pools.Range(func(k, v any) bool {
		p := v.(*hostPool)
		p.mu.Lock()
		stale := p.evictLocked(now, c.cfg.IdleConnTimeout)
		if p.open == 0 && len(p.waiters) == 0 {
			p.dead = true
			c.pools.CompareAndDelete(k, p)
		}
		p.mu.Unlock()
		closeConns(stale)
		return true
	})
}
