package upstream

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"net/url"
	"sync"
	"time"

	"github.com/gatewaykit/gateway/internal/problem"
	"github.com/gatewaykit/gateway/internal/reqinfo"
	"github.com/gatewaykit/gateway/upstream/internal/h1"
)

// call is the per-request state of ServeHTTP, allocated once per request so
// that the outbound URL, the body wrapper and the 1xx trace share one
// allocation.
type call struct {
	w     http.ResponseWriter
	url   url.URL
	body  inBody
	trace httptrace.ClientTrace
	pr    ProxyRequest // for Rewrite, kept here to avoid an allocation

	mu   sync.Mutex // protects done and writes to w from Got1xxResponse
	done bool       // RoundTrip returned: w belongs to the handler again
}

// got1xx forwards an informational response (103 Early Hints, 100
// Continue, 102) to the client. It runs on the transport's goroutine while
// the handler waits in RoundTrip.
func (c *call) got1xx(code int, header textproto.MIMEHeader) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done {
		return nil
	}
	// A 1xx carries its own headers (RFC 8297), and net/http sends the
	// whole header map with it and keeps the map afterwards. So the map is
	// swapped to the 1xx headers for the write and restored after, keeping
	// what earlier middleware set for the final response out of the 1xx.
	h := c.w.Header()
	saved := h.Clone()
	clear(h)
	for k, vv := range header {
		h[k] = vv
	}
	c.w.WriteHeader(code)
	clear(h)
	for k, vv := range saved {
		h[k] = vv
	}
	return nil
}

// callPool recycles call states on the fast HTTP/1.1 path only: that client
// is synchronous, so once RoundTrip has returned and the response body is
// closed nothing refers to the state any more. http.Transport and HTTP/2
// may still touch the request (body writer, late 1xx) after RoundTrip
// returns, so their calls are never pooled.
var callPool = sync.Pool{New: func() any {
	c := new(call)
	c.trace.Got1xxResponse = c.got1xx // bound once per pooled state
	return c
}}

func (u *Upstream) newCall(w http.ResponseWriter) *call {
	if !u.poolCalls {
		c := &call{w: w}
		c.trace.Got1xxResponse = c.got1xx
		return c
	}
	c := callPool.Get().(*call)
	c.w = w
	return c
}

func (u *Upstream) releaseCall(c *call) {
	// A transport may still read the request body after the handler
	// returned (http.Transport's writer after an early response); reading
	// the server's body then is not allowed (net/http issue 46866), so the
	// wrapper is closed: later reads fail instead.
	_ = c.body.Close()
	if !u.poolCalls {
		return
	}
	c.w = nil
	c.url = url.URL{}
	c.body.rc = nil
	c.body.n.Store(0)
	c.body.closed.Store(false)
	c.done = false
	callPool.Put(c)
}

func (c *call) roundTripDone() {
	c.mu.Lock()
	c.done = true
	c.mu.Unlock()
}

// ServeHTTP proxies r to an endpoint of the service; see [Upstream].
func (u *Upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	u.stats.requests.Add(1)
	ctx := r.Context()
	info := reqinfo.From(ctx)
	var eps []Endpoint
	if u.health == nil {
		eps = *u.eps.Load()
	} else {
		// The endpoints in rotation, precomputed when health changed.
		set := u.health.snapshot()
		if set.fail {
			u.fail(w, r, ErrNoHealthyEndpoints)
			return
		}
		eps = set.eps
	}
	if len(eps) == 0 {
		u.fail(w, r, ErrNoEndpoints)
		return
	}

	upType := upgradeType(r.Header)
	if upType != "" && !isPrintASCII(upType) {
		u.fail(w, r, errInvalidUpgrade)
		return
	}

	// With a ReadTimeout, the upstream request gets its own cancellation so
	// that a stalled body can be abandoned (see copyBody).
	var stall *stallWatch
	if u.cfg.ReadTimeout > 0 {
		stall = new(stallWatch)
		ctx, stall.cancel = context.WithCancelCause(ctx)
		defer stall.cancel(nil)
	}

	c := u.newCall(w)
	defer u.releaseCall(c)
	c.url = *r.URL
	c.url.User = nil // userinfo of an absolute-form target must not become credentials
	c.url.Scheme = u.scheme

	out := r.WithContext(httptrace.WithClientTrace(ctx, &c.trace))
	out.URL = &c.url
	out.Header = u.buildOutHeader(r, info, upType)
	out.Host = u.cfg.Host.outHost(r)
	out.RequestURI = ""
	out.Close = false
	out.Form, out.PostForm, out.MultipartForm = nil, nil, nil
	out.Proto, out.ProtoMajor, out.ProtoMinor = "HTTP/1.1", 1, 1
	// The request trailer map is shared, not copied: net/http fills the
	// inbound map's values once the body is read, which is when the
	// transport reads them to send on.
	out.Trailer = r.Trailer
	if r.ContentLength == 0 {
		out.Body = nil // net/http issue 16036: nil Body lets the transport retry
	} else if r.Body != nil {
		c.body.rc = r.Body
		out.Body = &c.body
		if !u.poolCalls {
			// The transport sends the body while the response may already
			// stream back (an upstream that answers as it reads): without
			// full duplex, net/http's HTTP/1 server would discard the rest
			// of the client's body once the response starts. The h1
			// client writes the whole body first, so it does not need it.
			_ = http.NewResponseController(w).EnableFullDuplex()
		}
	}

	if u.cfg.Rewrite != nil {
		c.pr = ProxyRequest{In: r, Out: out}
		u.cfg.Rewrite(&c.pr)
		out = c.pr.Out
		c.pr = ProxyRequest{}
	}

	var rp *replay
	if u.cfg.Retries > 0 {
		var err error
		if rp, out, err = u.prepareReplay(r, out); err != nil {
			u.fail(w, r, err)
			return
		}
	}

	res, ep, attempts, last, err := u.roundTrip(r, out, eps, rp, c)
	if last != c {
		defer last.body.Close() // a retry's call; see releaseCall
	}
	if info != nil {
		info.UpstreamAddr = ep.Addr
		info.Attempts = attempts
	}
	if err != nil {
		u.fail(w, r, err)
		return
	}
	if res.StatusCode == http.StatusSwitchingProtocols {
		u.handleUpgrade(w, r, res, upType)
		return
	}
	u.copyResponse(w, r, res, stall)
}

// roundTrip sends out to endpoints until an attempt succeeds or may not be
// retried. It returns the response, the endpoint of the last attempt, the
// number of attempts and the call state of the last attempt.
func (u *Upstream) roundTrip(in, out *http.Request, eps []Endpoint, rp *replay, c *call) (*http.Response, Endpoint, int, *call, error) {
	var tried []Endpoint // allocated only on the retry path
	var ep Endpoint
	var lastErr error // of the previous attempt, when it failed to connect
	for attempt := 1; ; attempt++ {
		cand := eps
		if tried != nil {
			cand = remaining(eps, tried)
		}
		picked, err := u.bal.Pick(in, cand)
		if err != nil {
			if lastErr != nil {
				// The balancer has nothing left to retry on: the failure
				// of the last attempt is the answer.
				return nil, ep, attempt - 1, c, lastErr
			}
			return nil, ep, attempt - 1, c, err
		}
		ep = picked
		out.URL.Scheme, out.URL.Host = u.scheme, ep.Addr
		var start time.Time
		if u.obs != nil {
			u.obs.Begin(ep)
			start = time.Now()
		}
		res, err := u.rt.RoundTrip(out)
		c.roundTripDone()
		if u.obs != nil {
			u.obs.End(ep, time.Since(start), err)
		}
		if u.health != nil {
			status := 0
			if res != nil {
				status = res.StatusCode
			}
			u.health.observe(ep.Addr, status, err)
		}
		if err != nil {
			if ctxErr := in.Context().Err(); ctxErr != nil {
				return nil, ep, attempt, c, ctxErr
			}
			if attempt > u.cfg.Retries || !(isDialError(err) || resetRetryable(in, err)) || !bodyIntact(out, rp, c) {
				return nil, ep, attempt, c, err
			}
			u.logRetry(in, ep, attempt, err, 0)
			lastErr = err
		} else {
			if attempt > u.cfg.Retries || rp == nil || !u.retryStatus(res.StatusCode) {
				return res, ep, attempt, c, nil
			}
			drainClose(res.Body)
			u.logRetry(in, ep, attempt, nil, res.StatusCode)
			lastErr = nil
		}
		u.stats.retries.Add(1)
		tried = append(tried, ep)
		out, c = u.nextAttempt(in, out, rp, c)
	}
}

// remaining returns the endpoints of eps not in tried; when every endpoint
// was tried, all but the last one tried; when there is only that one, eps.
func remaining(eps, tried []Endpoint) []Endpoint {
	rest := make([]Endpoint, 0, len(eps))
	for _, ep := range eps {
		if !triedAddr(tried, ep.Addr) {
			rest = append(rest, ep)
		}
	}
	if len(rest) > 0 {
		return rest
	}
	last := tried[len(tried)-1].Addr
	for _, ep := range eps {
		if ep.Addr != last {
			rest = append(rest, ep)
		}
	}
	if len(rest) > 0 {
		return rest
	}
	return eps
}

func triedAddr(tried []Endpoint, addr string) bool {
	for _, t := range tried {
		if t.Addr == addr {
			return true
		}
	}
	return false
}

// nextAttempt prepares a fresh outbound request and trace for a retry: a
// transport may still hold the previous request, so it is not reused.
func (u *Upstream) nextAttempt(in, prev *http.Request, rp *replay, pc *call) (*http.Request, *call) {
	c := &call{w: pc.w}
	c.url = *prev.URL
	c.trace.Got1xxResponse = c.got1xx
	// prev's context keeps what Rewrite may have added; its trace hook is
	// composed with the new one and is a no-op (its call is done).
	out := prev.WithContext(httptrace.WithClientTrace(prev.Context(), &c.trace))
	out.URL = &c.url
	switch {
	case rp != nil:
		out.Body = rp.reader()
	case prev.Body != nil:
		// The body was never read (checked by the caller): a new wrapper
		// over the same inbound body, the old one was closed.
		c.body.rc = pc.body.rc
		out.Body = &c.body
	}
	return out, c
}

func (u *Upstream) retryStatus(code int) bool {
	for _, s := range u.retryS {
		if s == code {
			return true
		}
	}
	return false
}

// isDialError reports whether err happened while connecting, or otherwise
// before the request was sent (an error with RetryOnOtherEndpoint() true,
// such as an endpoint's open circuit), so the request never reached the
// upstream and may go to another endpoint.
func isDialError(err error) bool {
	var other interface{ RetryOnOtherEndpoint() bool }
	if errors.As(err, &other) && other.RetryOnOtherEndpoint() {
		return true
	}
	var de *h1.DialError
	if errors.As(err, &de) {
		return true
	}
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// resetRetryable reports whether a failed attempt of the idempotent request
// in may go to another endpoint although it may have reached the upstream:
// the connection was reset or closed before a response (as when the
// endpoint was killed), as nginx's proxy_next_upstream error does. Timeouts
// are not retried (a slow service would make every request wait twice),
// nor errors carrying their own status (a policy's refusal, such as an
// open circuit or a full bulkhead, or a deadline).
func resetRetryable(in *http.Request, err error) bool {
	if !idempotent(in) {
		return false
	}
	var sc interface{ HTTPStatus() int }
	if errors.As(err, &sc) {
		return false
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false
	}
	return !errors.Is(err, context.DeadlineExceeded)
}

// fail answers r with err through the ErrorHandler, counts and logs it.
func (u *Upstream) fail(w http.ResponseWriter, r *http.Request, err error) {
	status := problem.Status(err)
	u.stats.countError(status, err)
	level := slog.LevelWarn
	if status == problem.StatusClientClosedRequest {
		level = slog.LevelDebug
	}
	if u.log.Enabled(r.Context(), level) {
		attrs := []slog.Attr{
			slog.String("upstream", u.name),
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.Int("status", status),
			slog.String("error", err.Error()),
		}
		if info := reqinfo.From(r.Context()); info != nil {
			attrs = append(attrs, slog.String("request_id", info.RequestID), slog.String("endpoint", info.UpstreamAddr))
		}
		u.log.LogAttrs(r.Context(), level, "upstream: request failed", attrs...)
	}
	if u.errh != nil {
		u.errh(w, r, err)
		return
	}
	problem.WriteError(w, r, err)
}

func (u *Upstream) logRetry(r *http.Request, ep Endpoint, attempt int, err error, status int) {
	if !u.log.Enabled(r.Context(), slog.LevelInfo) {
		return
	}
	attrs := []slog.Attr{
		slog.String("upstream", u.name),
		slog.String("endpoint", ep.Addr),
		slog.Int("attempt", attempt),
	}
	if err != nil {
		attrs = append(attrs, slog.String("error", err.Error()))
	} else {
		attrs = append(attrs, slog.Int("status", status))
	}
	u.log.LogAttrs(r.Context(), slog.LevelInfo, "upstream: retrying on another endpoint", attrs...)
}

var errInvalidUpgrade = &upgradeError{msg: "upstream: client requested an invalid upgrade protocol", status: http.StatusBadRequest}
