package auth

import (
	"cmp"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/sync/singleflight"
)

// IntrospectionConfig configures [Introspection].
type IntrospectionConfig struct {
	// URL is the authorization server's introspection endpoint (RFC 7662
	// §2); required.
	URL string
	// ClientID is the gateway's client ID at the authorization server,
	// sent with ClientSecret by HTTP Basic (client credentials, RFC 6749
	// §2.3.1). Empty means the call is unauthenticated.
	ClientID string
	// ClientSecret is the secret for ClientID; never logged.
	ClientSecret string
	// HTTPClient makes the introspection calls; nil means a client with
	// http.DefaultTransport.
	HTTPClient *http.Client
	// Timeout bounds one introspection call; zero means 2s. A call that
	// times out or fails makes the request fail with 503: the
	// authorization server, not the client, is at fault.
	Timeout time.Duration
	// Issuer, if set, must equal the response's iss; empty means not
	// checked.
	Issuer string
	// Audience, if set, must be contained in the response's aud; empty
	// means not checked.
	Audience string
	// Realm is the realm of the Bearer challenge; empty means "gateway".
	Realm string
	// CacheTTL caps how long an active token is cached (never past its
	// exp); zero means 5 minutes. Tokens are cached under their SHA-256
	// digest, never in plaintext.
	CacheTTL time.Duration
	// NegativeTTL is how long an inactive token is remembered; zero means
	// 10 seconds.
	NegativeTTL time.Duration
	// CacheEntries bounds the positive and negative cache together; zero
	// means 10,000.
	CacheEntries int
	// ConsumerClaim names the response member used as
	// [Identity.ConsumerID]; empty means "sub", falling back to "username"
	// and then "client_id".
	ConsumerClaim string
	// Clock returns the current time; nil means time.Now.
	Clock func() time.Time
}

// Introspection authenticates opaque bearer tokens by asking an OAuth 2.0
// authorization server (RFC 7662). Active tokens are cached until their
// exp (capped), inactive ones briefly; concurrent checks of one token
// collapse into one call. Build it with [NewIntrospection]; an
// Introspection is safe for simultaneous use by multiple goroutines.
type Introspection struct {
	cfg       IntrospectionConfig
	client    *http.Client
	challenge string
	cache     *identityCache
	sf        singleflight.Group
	now       func() time.Time
}

var _ Authenticator = (*Introspection)(nil)

// inactive marks a negatively cached token.
var inactive = &Identity{}

// NewIntrospection returns an Introspection for cfg, or an error wrapping
// [ErrConfig] when URL is not an http(s) URL.
func NewIntrospection(cfg IntrospectionConfig) (*Introspection, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("%w: introspection: URL %q is not an http(s) URL", ErrConfig, cfg.URL)
	}
	cfg.Timeout = cmp.Or(cfg.Timeout, 2*time.Second)
	cfg.CacheTTL = cmp.Or(cfg.CacheTTL, 5*time.Minute)
	cfg.NegativeTTL = cmp.Or(cfg.NegativeTTL, 10*time.Second)
	in := &Introspection{
		cfg:       cfg,
		client:    cmp.Or(cfg.HTTPClient, &http.Client{Transport: http.DefaultTransport}),
		challenge: "Bearer realm=" + quote(cmp.Or(cfg.Realm, "gateway")),
		cache:     newIdentityCache(cmp.Or(cfg.CacheEntries, 10_000), 64<<20),
		now:       nowFunc(cfg.Clock),
	}
	return in, nil
}

// Challenge returns the Bearer challenge.
func (in *Introspection) Challenge() string { return in.challenge }

// Authenticate introspects r's bearer token. It returns an error wrapping
// [ErrNoCredentials] without one, [ErrInvalidToken] or [ErrTokenExpired]
// for a token the server calls inactive or that fails the configured
// checks, and [ErrUnavailable] when the server fails, answers garbage or
// does not answer within Timeout.
func (in *Introspection) Authenticate(r *http.Request) (*Identity, error) {
	vals := r.Header["Authorization"]
	if len(vals) == 0 {
		return nil, ErrNoCredentials
	}
	if len(vals) > 1 {
		return nil, ErrInvalidRequest
	}
	const prefix = "Bearer "
	v := vals[0]
	if len(v) < len(prefix) || !strings.EqualFold(v[:len(prefix)], prefix) {
		return nil, ErrNoCredentials
	}
	tok := strings.TrimSpace(v[len(prefix):])
	if tok == "" || len(tok) > DefaultMaxTokenSize {
		return nil, ErrInvalidToken
	}
	return in.Introspect(r.Context(), tok)
}

// Introspect checks token with the authorization server (or the cache);
// ctx bounds this caller's wait, not the shared call.
func (in *Introspection) Introspect(ctx context.Context, token string) (*Identity, error) {
	sum := sha256.Sum256([]byte(token))
	key := string(sum[:])
	if id := in.cache.get(key, in.now().UnixNano()); id != nil {
		if id == inactive {
			return nil, fmt.Errorf("%w: token inactive (cached)", ErrInvalidToken)
		}
		return id, nil
	}
	ch := in.sf.DoChan(key, func() (any, error) {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), in.cfg.Timeout)
		defer cancel()
		return in.call(cctx, key, token)
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return nil, res.Err
		}
		return res.Val.(*Identity), nil
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, ctx.Err())
	}
}

func (in *Introspection) call(ctx context.Context, key, token string) (*Identity, error) {
	form := url.Values{"token": {token}, "token_type_hint": {"access_token"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, in.cfg.URL, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if in.cfg.ClientID != "" {
		// RFC 6749 §2.3.1: form-urlencode the credentials before Basic.
		req.SetBasicAuth(url.QueryEscape(in.cfg.ClientID), url.QueryEscape(in.cfg.ClientSecret))
	}
	resp, err := in.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: introspection: %w", ErrUnavailable, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("%w: introspection: %w", ErrUnavailable, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: introspection: status %d", ErrUnavailable, resp.StatusCode)
	}
	var claims jwt.MapClaims
	if err := decodeObject(body, &claims); err != nil || claims == nil {
		return nil, fmt.Errorf("%w: introspection: response is not a JSON object", ErrUnavailable)
	}
	now := in.now()
	active, ok := claims["active"].(bool)
	if !ok {
		return nil, fmt.Errorf("%w: introspection: response lacks a boolean active", ErrUnavailable)
	}
	if !active {
		in.cache.put(key, inactive, now.Add(in.cfg.NegativeTTL).UnixNano(), now.UnixNano(), 0)
		return nil, fmt.Errorf("%w: token inactive", ErrInvalidToken)
	}
	id, err := in.identity(claims, now)
	if err != nil {
		// A definite answer about this token: remember it briefly.
		in.cache.put(key, inactive, now.Add(in.cfg.NegativeTTL).UnixNano(), now.UnixNano(), 0)
		return nil, err
	}
	exp := now.Add(in.cfg.CacheTTL)
	if !id.ExpiresAt.IsZero() && id.ExpiresAt.Before(exp) {
		exp = id.ExpiresAt
	}
	in.cache.put(key, id, exp.UnixNano(), now.UnixNano(), len(body))
	return id, nil
}

func (in *Introspection) identity(claims jwt.MapClaims, now time.Time) (*Identity, error) {
	v := jwt.NewValidator(jwt.WithTimeFunc(func() time.Time { return now }))
	if err := v.Validate(claims); err != nil {
		if errors.Is(err, jwt.ErrTokenExpired) {
			return nil, fmt.Errorf("%w: %w", ErrTokenExpired, err)
		}
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	if in.cfg.Issuer != "" {
		if iss, _ := claims["iss"].(string); iss != in.cfg.Issuer {
			return nil, fmt.Errorf("%w: wrong issuer", ErrInvalidToken)
		}
	}
	if in.cfg.Audience != "" {
		aud, err := claims.GetAudience()
		if err != nil || !contains(aud, in.cfg.Audience) {
			return nil, fmt.Errorf("%w: wrong audience", ErrInvalidToken)
		}
	}
	var consumer string
	if in.cfg.ConsumerClaim != "" {
		consumer, _ = claims[in.cfg.ConsumerClaim].(string)
	} else {
		for _, c := range []string{"sub", "username", "client_id"} {
			if s, ok := claims[c].(string); ok && s != "" {
				consumer = s
				break
			}
		}
	}
	if consumer == "" {
		return nil, fmt.Errorf("%w: response names no consumer", ErrInvalidToken)
	}
	id := &Identity{ConsumerID: consumer, Method: MethodIntrospection, Claims: claims}
	id.Username, _ = claims["username"].(string)
	id.Scopes = stringList(claims["scope"])
	id.Groups = stringList(claims["groups"])
	if exp, err := claims.GetExpirationTime(); err == nil && exp != nil {
		id.ExpiresAt = exp.Time
	}
	return id.seal(), nil
}

// StripCredentials removes the bearer Authorization header from r, which
// must be [Require]'s own copy.
func (in *Introspection) StripCredentials(r *http.Request) {
	if v := r.Header["Authorization"]; len(v) == 1 && len(v[0]) > 7 && strings.EqualFold(v[0][:7], "Bearer ") {
		delete(r.Header, "Authorization")
	}
}
