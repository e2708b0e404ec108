package auth

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Defaults of [JWTConfig] and [JWKSConfig].
const (
	DefaultMaxTokenSize       = 8 << 10
	DefaultCacheEntries       = 10_000
	DefaultCacheBytes         = 32 << 20
	DefaultCacheMaxAge        = 5 * time.Minute
	DefaultFetchTimeout       = 5 * time.Second
	DefaultMinRefresh         = time.Minute
	DefaultMaxRefresh         = 24 * time.Hour
	DefaultUnknownKeyInterval = time.Minute
)

// Issuer configures one trusted token issuer: where its keys come from,
// which algorithms it may use and which claims its tokens must carry.
type Issuer struct {
	// Issuer is the expected "iss" claim, matched exactly. It may be empty
	// only when it is the JWT's single issuer; then tokens are not matched
	// on iss (typical of HS256 tokens minted in-house).
	Issuer string
	// Audience lists acceptable "aud" values: a token's aud (a string or
	// an array) must contain at least one. Empty means aud is not checked.
	Audience []string
	// Algorithms is the allowlist of JWS algorithms for this issuer. Empty
	// means the algorithms of Keys, or for a JWKS every asymmetric
	// algorithm (RS*, PS*, ES*, EdDSA). HS* keys are only ever static Keys.
	Algorithms []string
	// Keys are static verification keys, each bound to its algorithm.
	Keys []Key
	// JWKSURL is the URL of the issuer's JSON Web Key Set. Keys listed in
	// a token (jku, x5u, jwk, x5c headers) are never used.
	JWKSURL string
	// Discover, when true and JWKSURL is empty, finds the JWKS URL by
	// OpenID Connect discovery at Issuer + "/.well-known/openid-configuration"
	// (the document's issuer must equal Issuer). Default false.
	Discover bool
	// RequiredClaims lists claims every token must carry (any value).
	RequiredClaims []string
	// ConsumerClaim names the claim that becomes [Identity.ConsumerID];
	// empty means "sub". A token without it is rejected.
	ConsumerClaim string
	// UsernameClaim names the claim that becomes [Identity.Username]; empty
	// means "preferred_username".
	UsernameClaim string
	// GroupsClaim names the claim (array of strings, or a space-separated
	// string) that becomes [Identity.Groups]; empty means "groups".
	GroupsClaim string
	// ScopeClaim names the claim that becomes [Identity.Scopes] (a
	// space-separated string or an array); empty means "scope", then "scp".
	ScopeClaim string
}

// JWKSConfig tunes how remote key sets are fetched and cached.
type JWKSConfig struct {
	// HTTPClient fetches JWKS and discovery documents; nil means a client
	// with http.DefaultTransport. Its own Timeout, if any, also applies.
	HTTPClient *http.Client
	// FetchTimeout bounds one fetch; zero means DefaultFetchTimeout (5s).
	FetchTimeout time.Duration
	// MinRefresh is the floor applied to the Cache-Control lifetime of a
	// key set (and the longest retry backoff after a failure); zero means
	// DefaultMinRefresh (1m).
	MinRefresh time.Duration
	// MaxRefresh is the ceiling applied to the Cache-Control lifetime; zero
	// means DefaultMaxRefresh (24h).
	MaxRefresh time.Duration
	// UnknownKeyInterval is the least time between two refreshes caused by
	// tokens naming an unknown kid, so random kids cannot cause a fetch
	// storm; zero means DefaultUnknownKeyInterval (1m).
	UnknownKeyInterval time.Duration
}

// JWTConfig configures a [JWT] authenticator. Either fill the single-issuer
// shorthand (Issuer, Audience, JWKSURL or Keys, Algorithms) or list
// Issuers; both may be used together.
type JWTConfig struct {
	// Issuer is the shorthand single issuer's expected iss claim. The
	// shorthand fields (Issuer, Audience, JWKSURL, Discover, Keys,
	// Algorithms) form one [Issuer] entry when Issuer, JWKSURL, Keys or
	// Discover is set; see [Issuer] for each field's meaning. Empty Issuer
	// with static Keys and no Issuers means tokens are not matched on iss.
	Issuer string
	// Audience is the shorthand issuer's required aud value; empty means
	// aud is not checked.
	Audience string
	// JWKSURL is the shorthand issuer's key set URL; empty means none.
	JWKSURL string
	// Discover enables OIDC discovery for the shorthand issuer; default
	// false.
	Discover bool
	// Keys are the shorthand issuer's static keys; nil means none.
	Keys []Key
	// Algorithms is the shorthand issuer's allowlist; nil means derived
	// as documented on [Issuer.Algorithms].
	Algorithms []string
	// Issuers lists further trusted issuers; a token is matched to one by
	// its iss claim.
	Issuers []Issuer
	// Leeway is the clock skew tolerated on exp, nbf and iat; zero means
	// none.
	Leeway time.Duration
	// OptionalExpiry, when true, accepts tokens without exp. Default false:
	// exp is required.
	OptionalExpiry bool
	// MaxTokenSize caps the token length in bytes; zero means
	// DefaultMaxTokenSize (8 KiB).
	MaxTokenSize int
	// PassOpaqueTokens, when true, leaves a bearer token that is not shaped
	// like a compact JWS (three dot-separated segments) to the next
	// authenticator, so that Require(jwt, introspection) sends JWTs to
	// the JWT check and opaque tokens to [Introspection]. Default false: such
	// a token is rejected as invalid.
	PassOpaqueTokens bool
	// Cookie, if set, names a cookie read for the token when the request
	// has no Authorization header. Empty means the header only.
	Cookie string
	// Realm is the realm of the Bearer challenge; empty means "gateway".
	Realm string
	// CriticalHeaders lists the JWS header parameters this deployment
	// understands when they appear in "crit" (RFC 7515 §4.1.11). Empty
	// means none: any token with a crit header is rejected.
	CriticalHeaders []string
	// CacheEntries bounds the number of verified tokens cached; zero means
	// DefaultCacheEntries (10,000).
	CacheEntries int
	// CacheBytes bounds the approximate memory of the verified-token
	// cache; zero means DefaultCacheBytes (32 MiB).
	CacheBytes int64
	// CacheMaxAge caps how long a verified token is served from the cache
	// (it never outlives the token's exp); zero means DefaultCacheMaxAge
	// (5m).
	CacheMaxAge time.Duration
	// DisableCache, when true, verifies every token. Default false.
	DisableCache bool
	// JWKS tunes remote key sets.
	JWKS JWKSConfig
	// Clock returns the current time; nil means time.Now. Tests inject one.
	Clock func() time.Time
	// Logger receives key-set refresh failures; nil means slog.Default().
	Logger *slog.Logger
}

// JWT authenticates bearer JSON Web Tokens (RFC 7519) signed with HS256/384/
// 512, RS256/384/512, PS256/384/512, ES256/384/512 or EdDSA, with keys
// given statically or fetched from JWKS endpoints. Verified tokens are
// cached. Build it with [NewJWT]; run [JWT.Run] to refresh remote key sets
// in the background (without Run they are fetched on first use and
// refreshed on demand). A JWT is safe for simultaneous use by multiple
// goroutines.
type JWT struct {
	issuers   map[string]*issuer
	anyIssuer *issuer // the single issuer with Issuer == ""
	maxSize   int
	cookie    string
	opaque    bool
	challenge string
	crit      []string
	cache     *identityCache
	maxAge    time.Duration
	now       func() time.Time
	remote    []*keySet
}

type issuer struct {
	cfg       Issuer
	allowed   []string
	keys      *keySet
	validator *jwt.Validator
	consumer  string
	username  string
	groups    string
	scope     string
}

var _ Authenticator = (*JWT)(nil)

// NewJWT returns a JWT authenticator for cfg, or an error wrapping
// [ErrConfig] when an issuer has no key source, a key does not fit its
// algorithm, or an algorithm is unknown. It does no I/O.
func NewJWT(cfg JWTConfig) (*JWT, error) {
	j := &JWT{
		issuers:   make(map[string]*issuer),
		maxSize:   cfg.MaxTokenSize,
		cookie:    cfg.Cookie,
		opaque:    cfg.PassOpaqueTokens,
		crit:      cfg.CriticalHeaders,
		maxAge:    cfg.CacheMaxAge,
		now:       cfg.Clock,
		challenge: "Bearer realm=" + quote(cmp.Or(cfg.Realm, "gateway")),
	}
	if j.maxSize <= 0 {
		j.maxSize = DefaultMaxTokenSize
	}
	if j.maxAge <= 0 {
		j.maxAge = DefaultCacheMaxAge
	}
	if j.now == nil {
		j.now = time.Now
	}
	if !cfg.DisableCache {
		j.cache = newIdentityCache(cmp.Or(cfg.CacheEntries, DefaultCacheEntries), cmp.Or(cfg.CacheBytes, DefaultCacheBytes))
	}
	opts := cfg.JWKS
	opts.FetchTimeout = cmp.Or(opts.FetchTimeout, DefaultFetchTimeout)
	opts.MinRefresh = cmp.Or(opts.MinRefresh, DefaultMinRefresh)
	opts.MaxRefresh = max(cmp.Or(opts.MaxRefresh, DefaultMaxRefresh), opts.MinRefresh)
	opts.UnknownKeyInterval = cmp.Or(opts.UnknownKeyInterval, DefaultUnknownKeyInterval)
	client := opts.HTTPClient
	if client == nil {
		client = &http.Client{Transport: http.DefaultTransport}
	}
	logger := cmp.Or(cfg.Logger, slog.Default())

	list := cfg.Issuers
	if cfg.Issuer != "" || cfg.JWKSURL != "" || len(cfg.Keys) > 0 || cfg.Discover {
		iss := Issuer{Issuer: cfg.Issuer, JWKSURL: cfg.JWKSURL, Discover: cfg.Discover, Keys: cfg.Keys, Algorithms: cfg.Algorithms}
		if cfg.Audience != "" {
			iss.Audience = []string{cfg.Audience}
		}
		list = append([]Issuer{iss}, list...)
	}
	if len(list) == 0 {
		return nil, fmt.Errorf("%w: jwt: no issuer configured", ErrConfig)
	}
	for _, ic := range list {
		is, err := newIssuer(ic, cfg, opts, client, logger, j.now)
		if err != nil {
			return nil, err
		}
		if ic.Issuer == "" {
			if len(list) > 1 {
				return nil, fmt.Errorf("%w: jwt: an issuer without Issuer must be the only one", ErrConfig)
			}
			j.anyIssuer = is
		} else {
			if _, dup := j.issuers[ic.Issuer]; dup {
				return nil, fmt.Errorf("%w: jwt: issuer %q listed twice", ErrConfig, ic.Issuer)
			}
			j.issuers[ic.Issuer] = is
		}
		if is.keys.remote {
			j.remote = append(j.remote, is.keys)
		}
	}
	return j, nil
}

func newIssuer(ic Issuer, cfg JWTConfig, opts JWKSConfig, client *http.Client, logger *slog.Logger, now func() time.Time) (*issuer, error) {
	is := &issuer{
		cfg:      ic,
		consumer: cmp.Or(ic.ConsumerClaim, "sub"),
		username: cmp.Or(ic.UsernameClaim, "preferred_username"),
		groups:   cmp.Or(ic.GroupsClaim, "groups"),
		scope:    ic.ScopeClaim,
	}
	for _, a := range ic.Algorithms {
		if _, ok := algorithms[a]; !ok {
			return nil, fmt.Errorf("%w: jwt: issuer %q: unsupported algorithm %q", ErrConfig, ic.Issuer, a)
		}
	}
	remote := ic.JWKSURL != "" || ic.Discover
	switch {
	case len(ic.Keys) > 0 && remote:
		return nil, fmt.Errorf("%w: jwt: issuer %q: set Keys or a JWKS source, not both", ErrConfig, ic.Issuer)
	case len(ic.Keys) > 0:
		bound := make([]*boundKey, 0, len(ic.Keys))
		for _, k := range ic.Keys {
			bk, err := bindKey(k)
			if err != nil {
				return nil, err
			}
			if len(ic.Algorithms) > 0 && !contains(ic.Algorithms, bk.alg) {
				return nil, fmt.Errorf("%w: jwt: issuer %q: key %q algorithm %s is not in Algorithms", ErrConfig, ic.Issuer, k.ID, bk.alg)
			}
			for _, other := range bound {
				if bk.id != "" && other.id == bk.id {
					return nil, fmt.Errorf("%w: jwt: issuer %q: key ID %q listed twice", ErrConfig, ic.Issuer, bk.id)
				}
			}
			if !contains(is.allowed, bk.alg) {
				is.allowed = append(is.allowed, bk.alg)
			}
			bound = append(bound, bk)
		}
		is.keys = newStaticKeySet(bound)
	case remote:
		is.allowed = ic.Algorithms
		if len(is.allowed) == 0 {
			is.allowed = asymmetric
		}
		for _, a := range is.allowed {
			if strings.HasPrefix(a, "HS") {
				return nil, fmt.Errorf("%w: jwt: issuer %q: %s keys cannot come from a JWKS", ErrConfig, ic.Issuer, a)
			}
		}
		ks := &keySet{
			issuer: ic.Issuer, jwksURL: ic.JWKSURL, allowed: is.allowed,
			client: client, now: now, logger: logger, opts: opts, remote: true,
		}
		if ic.JWKSURL == "" {
			if ic.Issuer == "" {
				return nil, fmt.Errorf("%w: jwt: discovery needs Issuer", ErrConfig)
			}
			ks.discoveryURL = strings.TrimSuffix(ic.Issuer, "/") + "/.well-known/openid-configuration"
		}
		for _, u := range []string{ks.jwksURL, ks.discoveryURL} {
			if u == "" {
				continue
			}
			if pu, err := url.Parse(u); err != nil || (pu.Scheme != "https" && pu.Scheme != "http") || pu.Host == "" {
				return nil, fmt.Errorf("%w: jwt: issuer %q: %q is not an http(s) URL", ErrConfig, ic.Issuer, u)
			}
		}
		is.keys = ks
	default:
		return nil, fmt.Errorf("%w: jwt: issuer %q has no Keys and no JWKS source", ErrConfig, ic.Issuer)
	}
	vopts := []jwt.ParserOption{jwt.WithLeeway(cfg.Leeway), jwt.WithIssuedAt(), jwt.WithTimeFunc(now)}
	if !cfg.OptionalExpiry {
		vopts = append(vopts, jwt.WithExpirationRequired())
	}
	if ic.Issuer != "" {
		vopts = append(vopts, jwt.WithIssuer(ic.Issuer))
	}
	if len(ic.Audience) > 0 {
		vopts = append(vopts, jwt.WithAudience(ic.Audience...))
	}
	is.validator = jwt.NewValidator(vopts...)
	return is, nil
}

// Challenge returns the Bearer challenge, `Bearer realm="..."`.
func (j *JWT) Challenge() string { return j.challenge }

// Authenticate verifies the bearer token of r. It returns an error wrapping
// [ErrNoCredentials] without a token, [ErrInvalidRequest] for two
// Authorization headers, [ErrTokenExpired], [ErrUnknownKey] or
// [ErrInvalidToken] for a token that is refused, and [ErrUnavailable] when
// the token's key is unknown and its issuer's key source cannot be reached.
func (j *JWT) Authenticate(r *http.Request) (*Identity, error) {
	tok, err := j.token(r)
	if err != nil {
		return nil, err
	}
	return j.Verify(r.Context(), tok)
}

// token extracts the bearer token without allocating.
func (j *JWT) token(r *http.Request) (string, error) {
	vals := r.Header["Authorization"]
	switch len(vals) {
	case 0:
		if j.cookie != "" {
			if c, err := r.Cookie(j.cookie); err == nil && c.Value != "" {
				return c.Value, nil
			}
		}
		return "", ErrNoCredentials
	case 1:
	default:
		return "", ErrInvalidRequest
	}
	v := vals[0]
	const prefix = "Bearer "
	if len(v) < len(prefix) || !strings.EqualFold(v[:len(prefix)], prefix) {
		return "", ErrNoCredentials // another scheme: let the next authenticator look
	}
	tok := strings.TrimLeft(v[len(prefix):], " ")
	if tok == "" {
		return "", fmt.Errorf("%w: empty bearer token", ErrInvalidToken)
	}
	if j.opaque && strings.Count(tok, ".") != 2 {
		return "", ErrNoCredentials
	}
	return tok, nil
}

// Verify checks token (the compact JWS, without "Bearer ") and returns its
// Identity. A cached verification is answered without touching the
// signature; ctx bounds any key fetch the check needs.
func (j *JWT) Verify(ctx context.Context, token string) (*Identity, error) {
	if len(token) > j.maxSize {
		return nil, fmt.Errorf("%w: token over %d bytes", ErrInvalidToken, j.maxSize)
	}
	now := j.now()
	if j.cache != nil {
		if id := j.cache.get(token, now.UnixNano()); id != nil {
			return id, nil
		}
	}
	id, err := j.verify(ctx, token)
	if err != nil {
		return nil, err
	}
	if j.cache != nil {
		exp := now.Add(j.maxAge)
		if !id.ExpiresAt.IsZero() && id.ExpiresAt.Before(exp) {
			exp = id.ExpiresAt
		}
		j.cache.put(token, id, exp.UnixNano(), now.UnixNano(), len(token))
	}
	return id, nil
}

func (j *JWT) verify(ctx context.Context, token string) (*Identity, error) {
	parsed, err := parseCompact(token, j.crit)
	if err != nil {
		return nil, err
	}
	iss, err := j.issuerFor(parsed.claims)
	if err != nil {
		return nil, err
	}
	if !contains(iss.allowed, parsed.header.Alg) {
		return nil, fmt.Errorf("%w: algorithm %q not allowed for this issuer", ErrInvalidToken, parsed.header.Alg)
	}
	keys, err := iss.keys.lookup(ctx, parsed.header.Kid, parsed.header.Alg)
	if err != nil {
		return nil, err
	}
	verified := false
	for _, k := range keys {
		// k.alg == header alg is guaranteed by lookup: the key's own
		// method is used, never one chosen by the token.
		if k.method.Verify(parsed.signingInput, parsed.signature, k.key) == nil {
			verified = true
			break
		}
	}
	if !verified {
		return nil, fmt.Errorf("%w: bad signature", ErrInvalidToken)
	}
	if err := iss.validator.Validate(parsed.claims); err != nil {
		if errors.Is(err, jwt.ErrTokenExpired) {
			return nil, fmt.Errorf("%w: %w", ErrTokenExpired, err)
		}
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	for _, c := range iss.cfg.RequiredClaims {
		if _, ok := parsed.claims[c]; !ok {
			return nil, fmt.Errorf("%w: missing required claim %q", ErrInvalidToken, c)
		}
	}
	return iss.identity(parsed.claims)
}

func (j *JWT) issuerFor(claims jwt.MapClaims) (*issuer, error) {
	if j.anyIssuer != nil {
		return j.anyIssuer, nil
	}
	raw, ok := claims["iss"]
	if !ok {
		return nil, fmt.Errorf("%w: missing iss", ErrInvalidToken)
	}
	s, ok := raw.(string)
	if !ok {
		return nil, fmt.Errorf("%w: iss is not a string", ErrInvalidToken)
	}
	is := j.issuers[s]
	if is == nil {
		return nil, fmt.Errorf("%w: untrusted issuer", ErrInvalidToken)
	}
	return is, nil
}

// identity builds the shared Identity for verified claims.
func (is *issuer) identity(claims jwt.MapClaims) (*Identity, error) {
	sub, ok := claims[is.consumer].(string)
	if !ok || sub == "" {
		return nil, fmt.Errorf("%w: missing or non-string %s claim", ErrInvalidToken, is.consumer)
	}
	id := &Identity{ConsumerID: sub, Method: MethodJWT, Claims: claims}
	if u, ok := claims[is.username].(string); ok {
		id.Username = u
	}
	id.Groups = stringList(claims[is.groups])
	if is.scope != "" {
		id.Scopes = stringList(claims[is.scope])
	} else if v, ok := claims["scope"]; ok {
		id.Scopes = stringList(v)
	} else {
		id.Scopes = stringList(claims["scp"])
	}
	if exp, err := claims.GetExpirationTime(); err == nil && exp != nil {
		id.ExpiresAt = exp.Time
	}
	return id.seal(), nil
}

// stringList reads a claim that is an array of strings or a
// space-separated string; other types yield nil.
func stringList(v any) []string {
	switch c := v.(type) {
	case string:
		return strings.Fields(c)
	case []any:
		out := make([]string, 0, len(c))
		for _, e := range c {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// StripCredentials removes the Authorization header (and the token cookie,
// when configured) from r, which must be [Require]'s own copy.
func (j *JWT) StripCredentials(r *http.Request) {
	if v := r.Header["Authorization"]; len(v) == 1 && len(v[0]) > 7 && strings.EqualFold(v[0][:7], "Bearer ") {
		delete(r.Header, "Authorization")
	}
	if j.cookie != "" {
		removeCookie(r, j.cookie)
	}
}

// Run fetches every remote key set and refreshes each before its
// Cache-Control lifetime ends (retrying failures with backoff from 1s up to
// MinRefresh) until ctx ends, then returns nil once any fetch in flight has
// ended (at most FetchTimeout later). Call it at most once.
func (j *JWT) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, ks := range j.remote {
		wg.Go(func() { ks.run(ctx) })
	}
	<-ctx.Done()
	wg.Wait()
	return nil
}

// Fetches returns how many key-set fetches (JWKS and discovery documents
// included, successful or not) have completed, summed over all issuers.
func (j *JWT) Fetches() int64 {
	var n int64
	for _, ks := range j.remote {
		n += ks.fetches.Load()
	}
	return n
}

// removeCookie drops the named cookie from r's Cookie headers.
func removeCookie(r *http.Request, name string) {
	vals := r.Header["Cookie"]
	if len(vals) == 0 {
		return
	}
	var kept []string
	for _, line := range vals {
		parts := strings.Split(line, ";")
		out := parts[:0]
		for _, p := range parts {
			k, _, _ := strings.Cut(strings.TrimSpace(p), "=")
			if k != name {
				out = append(out, strings.TrimSpace(p))
			}
		}
		if len(out) > 0 {
			kept = append(kept, strings.Join(out, "; "))
		}
	}
	if len(kept) == 0 {
		delete(r.Header, "Cookie")
	} else {
		r.Header["Cookie"] = kept
	}
}

// nowFunc returns clock, or time.Now when clock is nil.
func nowFunc(clock func() time.Time) func() time.Time {
	if clock == nil {
		return time.Now
	}
	return clock
}
