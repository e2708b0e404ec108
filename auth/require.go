package auth

import (
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gatewaykit/gateway/internal/problem"
)

// Default names of the identity headers set on the request forwarded
// upstream (Kong's names).
const (
	DefaultConsumerIDHeader = "X-Consumer-ID"
	DefaultUsernameHeader   = "X-Consumer-Username"
	DefaultGroupsHeader     = "X-Consumer-Groups"
	DefaultScopeHeader      = "X-Authenticated-Scope"
)

// spoofPrefixes are header-name prefixes that only the gateway may set:
// any such header sent by a client is removed before the request goes on.
var spoofPrefixes = [...]string{"X-Consumer-", "X-Authenticated-", "X-Credential-", "X-Anonymous-"}

// Headers names the identity headers set on the request forwarded upstream.
// Every zero field takes its Default* name.
type Headers struct {
	// ConsumerID carries [Identity.ConsumerID]; default X-Consumer-ID.
	ConsumerID string
	// Username carries [Identity.Username]; default X-Consumer-Username.
	Username string
	// Groups carries [Identity.Groups], comma-separated; default
	// X-Consumer-Groups.
	Groups string
	// Scope carries [Identity.Scopes], space-separated (RFC 6749 §3.3);
	// default X-Authenticated-Scope.
	Scope string
}

func (h Headers) withDefaults() Headers {
	if h.ConsumerID == "" {
		h.ConsumerID = DefaultConsumerIDHeader
	}
	if h.Username == "" {
		h.Username = DefaultUsernameHeader
	}
	if h.Groups == "" {
		h.Groups = DefaultGroupsHeader
	}
	if h.Scope == "" {
		h.Scope = DefaultScopeHeader
	}
	h.ConsumerID = http.CanonicalHeaderKey(h.ConsumerID)
	h.Username = http.CanonicalHeaderKey(h.Username)
	h.Groups = http.CanonicalHeaderKey(h.Groups)
	h.Scope = http.CanonicalHeaderKey(h.Scope)
	return h
}

// Config configures a [Guard].
type Config struct {
	// Authenticators are tried in order. The first one whose credential is
	// present decides (as in Kong): its Identity admits the request, its
	// error rejects it without trying weaker methods. When no credential of
	// any kind is present the answer is 401 with the challenges of all of
	// them. An empty list rejects every request with 401.
	Authenticators []Authenticator
	// Headers names the identity headers set upstream; zero fields take the
	// Default* names.
	Headers Headers
	// OmitIdentityHeaders, when true, sets no identity headers upstream
	// (client-sent ones are still removed). Default false: they are set.
	OmitIdentityHeaders bool
	// StripCredentials, when true, removes every authenticator's credential
	// (Authorization header, API key header, query parameter or cookie)
	// from the request forwarded upstream. Default false: the credential is
	// forwarded.
	StripCredentials bool
	// Logger receives a line for every request refused because an
	// authentication service was unavailable (Warn) and for every other
	// rejection (Debug). Credentials are never logged. Nil means
	// slog.Default().
	Logger *slog.Logger
}

// Guard is the authentication middleware built by [New]: it authenticates
// every request with its authenticators, answers 401/400/503 for requests it
// refuses, and hands admitted requests to the next handler with the
// [Identity] in their context and the identity headers set.
//
// Guard never modifies the inbound request: when headers must change it
// passes on a shallow copy with a cloned header. A Guard is safe for
// simultaneous use by multiple goroutines.
type Guard struct {
	auths      []Authenticator
	strippers  []CredentialStripper
	challenges []string
	hdr        Headers
	reserved   []string // configured header names outside spoofPrefixes
	setHeaders bool
	strip      bool
	logger     *slog.Logger
}

// New returns a Guard for cfg.
func New(cfg Config) *Guard {
	g := &Guard{
		auths:      append([]Authenticator(nil), cfg.Authenticators...),
		hdr:        cfg.Headers.withDefaults(),
		setHeaders: !cfg.OmitIdentityHeaders,
		strip:      cfg.StripCredentials,
		logger:     cfg.Logger,
	}
	if g.logger == nil {
		g.logger = slog.Default()
	}
	for _, k := range []string{g.hdr.ConsumerID, g.hdr.Username, g.hdr.Groups, g.hdr.Scope} {
		if !isSpoofable(k) {
			g.reserved = append(g.reserved, k)
		}
	}
	for _, a := range g.auths {
		if c, ok := a.(Challenger); ok {
			if ch := c.Challenge(); ch != "" {
				g.challenges = append(g.challenges, ch)
			}
		}
		if s, ok := a.(CredentialStripper); ok {
			g.strippers = append(g.strippers, s)
		}
	}
	return g
}

// Require returns the authentication middleware trying authenticators in
// order with the default identity headers: the value for
// gateway.Config.Auth. It is shorthand for
// New(Config{Authenticators: authenticators}).Handler.
func Require(authenticators ...Authenticator) func(http.Handler) http.Handler {
	return New(Config{Authenticators: authenticators}).Handler
}

// Authenticate runs g's authenticators on r and returns the Identity of
// the first one whose credential is present, or an error (wrapping
// [ErrNoCredentials] when none was present).
func (g *Guard) Authenticate(r *http.Request) (*Identity, error) {
	id, _, err := g.authenticate(r)
	return id, err
}

func (g *Guard) authenticate(r *http.Request) (*Identity, Authenticator, error) {
	for _, a := range g.auths {
		id, err := a.Authenticate(r)
		if err == nil {
			if id == nil || id.ConsumerID == "" {
				return nil, a, ErrInvalidCredentials
			}
			return id, a, nil
		}
		if errors.Is(err, ErrNoCredentials) {
			continue
		}
		return nil, a, err
	}
	return nil, nil, ErrNoCredentials
}

// Handler returns next wrapped by g.
func (g *Guard) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, a, err := g.authenticate(r)
		if err != nil {
			g.deny(w, r, a, err)
			return
		}
		next.ServeHTTP(w, g.outbound(r, id))
	})
}

// outbound returns the request forwarded upstream: r with id in its
// context, client identity headers removed, identity headers set and the
// credentials stripped as configured. r itself is not modified.
func (g *Guard) outbound(r *http.Request, id *Identity) *http.Request {
	out := r.WithContext(NewContext(r.Context(), id))
	if !g.setHeaders && !g.strip && len(id.UpstreamHeaders) == 0 && !hasSpoofed(r.Header) {
		return out
	}
	h := make(http.Header, len(r.Header)+4)
	for k, v := range r.Header {
		if !isSpoofable(k) {
			h[k] = v // values are shared read-only; Set below replaces slices
		}
	}
	out.Header = h
	if g.setHeaders {
		// Custom header names outside the reserved prefixes are removed
		// too, so a client cannot supply a value the identity lacks.
		for _, k := range g.reserved {
			delete(h, k)
		}
		hv := id.headerValues()
		// One backing array for the four values; each header gets a
		// full-capacity slice of it, so an append elsewhere reallocates.
		vals := [...]string{id.ConsumerID, id.Username, hv.groups, hv.scope}
		buf := vals[:]
		h[g.hdr.ConsumerID] = buf[0:1:1]
		if id.Username != "" {
			h[g.hdr.Username] = buf[1:2:2]
		}
		if hv.groups != "" {
			h[g.hdr.Groups] = buf[2:3:3]
		}
		if hv.scope != "" {
			h[g.hdr.Scope] = buf[3:4:4]
		}
	}
	for k, v := range id.UpstreamHeaders {
		if len(v) == 0 {
			delete(h, k) // the authenticator vouches for its absence
		} else {
			h[k] = v
		}
	}
	if g.strip {
		for _, s := range g.strippers {
			s.StripCredentials(out)
		}
	}
	return out
}

// deny writes the rejection for err, decided by authenticator a (nil when
// no credential of any kind was present).
func (g *Guard) deny(w http.ResponseWriter, r *http.Request, a Authenticator, err error) {
	var de *DeniedError
	if errors.As(err, &de) {
		writeDenied(w, de)
		g.logger.LogAttrs(r.Context(), slog.LevelDebug, "auth: denied by auth service",
			slog.Int("status", de.Status), slog.String("path", r.URL.Path))
		return
	}
	s := classify(err)
	status := http.StatusUnauthorized
	var sc problem.StatusCoder
	if errors.As(err, &sc) {
		status = sc.HTTPStatus()
	}
	detail := "authentication required"
	if s != nil && s != ErrNoCredentials {
		detail = s.detail
	}
	h := w.Header()
	switch {
	case status == http.StatusUnauthorized || status == http.StatusBadRequest:
		if a == nil {
			for _, c := range g.challenges {
				h.Add("WWW-Authenticate", c)
			}
		} else if c, ok := a.(Challenger); ok {
			if ch := c.Challenge(); ch != "" {
				h.Add("WWW-Authenticate", bearerChallenge(ch, s, ""))
			}
		}
	case status >= 500:
		if status == http.StatusServiceUnavailable {
			problem.SetRetryAfter(h, time.Second)
		}
		g.logger.LogAttrs(r.Context(), slog.LevelWarn, "auth: authentication service unavailable",
			slog.Int("status", status), slog.String("path", r.URL.Path), slog.String("error", err.Error()))
		problem.Write(w, r, status, ErrUnavailable.detail)
		return
	}
	g.logger.LogAttrs(r.Context(), slog.LevelDebug, "auth: request rejected",
		slog.Int("status", status), slog.String("path", r.URL.Path), slog.String("error", err.Error()))
	problem.Write(w, r, status, detail)
}

func writeDenied(w http.ResponseWriter, de *DeniedError) {
	h := w.Header()
	for k, v := range de.Header {
		h[k] = append([]string(nil), v...)
	}
	h.Set("Cache-Control", "no-store")
	if len(de.Body) > 0 || h.Get("Content-Length") != "" {
		h.Set("Content-Length", itoa(len(de.Body)))
	}
	w.WriteHeader(de.Status)
	_, _ = w.Write(de.Body)
}

// StripIdentity removes identity headers a client sent (X-Consumer-*,
// X-Authenticated-*, X-Credential-*, X-Anonymous-*) so that they cannot
// reach an upstream of a public route and be mistaken for the gateway's.
// [Guard] does the same on authenticated routes. The inbound request is not
// modified: when there is something to remove, next gets a shallow copy
// with a cloned header.
func StripIdentity(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hasSpoofed(r.Header) {
			out := r.WithContext(r.Context()) // shallow copy; only Header is replaced
			h := make(http.Header, len(r.Header))
			for k, v := range r.Header {
				if !isSpoofable(k) {
					h[k] = v
				}
			}
			out.Header = h
			r = out
		}
		next.ServeHTTP(w, r)
	})
}

func hasSpoofed(h http.Header) bool {
	for k := range h {
		if isSpoofable(k) {
			return true
		}
	}
	return false
}

// isSpoofable reports whether the canonical header name k is reserved to the
// gateway. Header names are matched case-insensitively on the prefix because
// a non-canonical key can be present in a header map built by code.
func isSpoofable(k string) bool {
	if len(k) < 2 || (k[0] != 'X' && k[0] != 'x') || k[1] != '-' {
		return false
	}
	for _, p := range spoofPrefixes {
		if len(k) >= len(p) && strings.EqualFold(k[:len(p)], p) {
			return true
		}
	}
	return false
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}
