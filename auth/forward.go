package auth

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gatewaykit/gateway/internal/reqinfo"
)

// maxDeniedBody caps the auth service body relayed to the client.
const maxDeniedBody = 64 << 10

// ForwardConfig configures [Forward].
type ForwardConfig struct {
	// URL is the auth service endpoint the sub-request goes to (GET);
	// required.
	URL string
	// HTTPClient makes the sub-requests; nil means a client with
	// http.DefaultTransport. Redirects are never followed: a 3xx from the
	// auth service (a login redirect) is relayed to the client.
	HTTPClient *http.Client
	// Timeout bounds one sub-request; zero means 5s.
	Timeout time.Duration
	// RequestHeaders lists the client request headers copied to the
	// sub-request; nil means Authorization and Cookie. X-Forwarded-Method,
	// -Proto, -Host, -Uri, -For and X-Request-ID are always sent.
	RequestHeaders []string
	// ResponseHeaders lists the auth service's 2xx response headers copied
	// to the request forwarded upstream (as [Identity.UpstreamHeaders]);
	// nil means none.
	ResponseHeaders []string
	// ConsumerHeader names the 2xx response header that holds the
	// consumer ID; empty means X-Auth-User. When the answer lacks it the
	// consumer ID is "forward-auth".
	ConsumerHeader string
	// GroupsHeader names the 2xx response header with comma-separated
	// groups; empty means X-Auth-Groups.
	GroupsHeader string
	// FailureStatus is the status answered when the auth service cannot be
	// reached, times out or answers 5xx: the request is always denied, never
	// let through. Zero means 503.
	FailureStatus int
}

// Forward delegates authentication to an external auth service, like nginx
// auth_request or Traefik ForwardAuth: each request causes a GET to the
// service with chosen headers. A 2xx admits the request (copying chosen
// response headers upstream); a 3xx or 4xx is relayed to the client as is
// (status, headers, body) through [DeniedError]; a failure denies with
// FailureStatus. Forward always decides: it never reports missing
// credentials, so list it last in [Require]. Build it with [NewForward]; a
// Forward is safe for simultaneous use by multiple goroutines.
type Forward struct {
	url      string
	client   *http.Client
	timeout  time.Duration
	reqHdr   []string
	respHdr  []string
	consumer string
	groups   string
	failure  int
}

var _ Authenticator = (*Forward)(nil)

// NewForward returns a Forward for cfg, or an error wrapping [ErrConfig]
// when URL is not an http(s) URL or FailureStatus is not a 4xx/5xx status.
func NewForward(cfg ForwardConfig) (*Forward, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("%w: forward: URL %q is not an http(s) URL", ErrConfig, cfg.URL)
	}
	f := &Forward{
		url:      cfg.URL,
		timeout:  cmp.Or(cfg.Timeout, 5*time.Second),
		consumer: http.CanonicalHeaderKey(cmp.Or(cfg.ConsumerHeader, "X-Auth-User")),
		groups:   http.CanonicalHeaderKey(cmp.Or(cfg.GroupsHeader, "X-Auth-Groups")),
		failure:  cmp.Or(cfg.FailureStatus, http.StatusServiceUnavailable),
	}
	if f.failure < 400 || f.failure > 599 {
		return nil, fmt.Errorf("%w: forward: FailureStatus %d is not 4xx or 5xx", ErrConfig, f.failure)
	}
	var c http.Client
	if cfg.HTTPClient != nil {
		c = *cfg.HTTPClient
	} else {
		c.Transport = http.DefaultTransport
	}
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	f.client = &c
	reqHdr := cfg.RequestHeaders
	if reqHdr == nil {
		reqHdr = []string{"Authorization", "Cookie"}
	}
	for _, h := range reqHdr {
		f.reqHdr = append(f.reqHdr, http.CanonicalHeaderKey(h))
	}
	for _, h := range cfg.ResponseHeaders {
		f.respHdr = append(f.respHdr, http.CanonicalHeaderKey(h))
	}
	return f, nil
}

// forwardFailure is the error for an auth service failure, carrying the
// configured status.
type forwardFailure struct {
	status int
	err    error
}

func (e *forwardFailure) Error() string   { return "auth: forward auth failed: " + e.err.Error() }
func (e *forwardFailure) Unwrap() []error { return []error{ErrUnavailable, e.err} }
func (e *forwardFailure) HTTPStatus() int { return e.status }

// Authenticate asks the auth service about r. It returns a *[DeniedError]
// for a 3xx/4xx answer and an error wrapping [ErrUnavailable] (answered
// with FailureStatus) when the service fails or times out.
func (f *Forward) Authenticate(r *http.Request) (*Identity, error) {
	ctx, cancel := context.WithTimeout(r.Context(), f.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.url, nil)
	if err != nil {
		return nil, f.fail(err)
	}
	for _, h := range f.reqHdr {
		if v := r.Header[h]; len(v) > 0 {
			req.Header[h] = v
		}
	}
	proto := "http"
	if r.TLS != nil {
		proto = "https"
	}
	req.Header.Set("X-Forwarded-Method", r.Method)
	req.Header.Set("X-Forwarded-Proto", proto)
	req.Header.Set("X-Forwarded-Host", r.Host)
	req.Header.Set("X-Forwarded-Uri", r.URL.RequestURI())
	if info := reqinfo.From(r.Context()); info != nil && info.ClientIP.IsValid() {
		req.Header.Set("X-Forwarded-For", info.ClientIP.String())
	} else if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		req.Header.Set("X-Forwarded-For", host)
	}
	if id := reqinfo.RequestID(r); id != "" {
		req.Header.Set("X-Request-ID", id)
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return nil, f.fail(err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDeniedBody))
		return f.identity(resp.Header), nil
	case resp.StatusCode >= 300 && resp.StatusCode < 500:
		body, err := io.ReadAll(io.LimitReader(resp.Body, maxDeniedBody))
		if err != nil {
			return nil, f.fail(err)
		}
		return nil, &DeniedError{Status: resp.StatusCode, Header: relayHeaders(resp.Header), Body: body}
	default:
		return nil, f.fail(fmt.Errorf("auth service answered %d", resp.StatusCode))
	}
}

func (f *Forward) fail(err error) error {
	return &forwardFailure{status: f.failure, err: err}
}

func (f *Forward) identity(h http.Header) *Identity {
	id := &Identity{ConsumerID: h.Get(f.consumer), Method: MethodForward}
	if id.ConsumerID == "" {
		id.ConsumerID = "forward-auth"
	}
	if g := h.Get(f.groups); g != "" {
		for _, s := range strings.Split(g, ",") {
			if s = strings.TrimSpace(s); s != "" {
				id.Groups = append(id.Groups, s)
			}
		}
	}
	if len(f.respHdr) > 0 {
		// Every chosen header is either the auth service's value or
		// removed: a client must not supply one the service did not send.
		id.UpstreamHeaders = make(http.Header, len(f.respHdr))
		for _, name := range f.respHdr {
			id.UpstreamHeaders[name] = h[name]
		}
	}
	return id
}

// relayHeaders returns the end-to-end headers of an auth service denial
// that may reach the client.
func relayHeaders(h http.Header) http.Header {
	out := make(http.Header, len(h))
	for k, v := range h {
		switch k {
		case "Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Connection", "Te", "Trailer",
			"Transfer-Encoding", "Upgrade", "Content-Length", "Content-Encoding", "Date", "Server":
			continue
		}
		out[k] = v
	}
	return out
}
