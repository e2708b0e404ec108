package auth

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Method names recorded in [Identity.Method] by the authenticators of this
// package.
const (
	MethodJWT           = "jwt"
	MethodAPIKey        = "key-auth"
	MethodBasic         = "basic-auth"
	MethodIntrospection = "introspection"
	MethodForward       = "forward-auth"
	MethodMTLS          = "mtls"
)

// Identity is the authenticated caller of a request: the consumer it maps
// to, its groups and scopes, and the verified claims it presented.
//
// An Identity returned by an [Authenticator] may be shared between requests
// (the verified-token cache and the API-key table hand out the same pointer
// for every request with the same credential), so it must be treated as
// immutable: read it, never modify it or its slices and maps.
type Identity struct {
	// ConsumerID is the stable identifier of the consumer (for a JWT the
	// "sub" claim by default; for an API key or a user the configured
	// consumer ID). It is never empty in an Identity produced by this
	// package.
	ConsumerID string
	// Username is the consumer's human-readable name; may be empty.
	Username string
	// Groups are the consumer's groups, used by [ACL].
	Groups []string
	// Scopes are the OAuth 2.0 scopes granted to the credential, used by
	// [Scopes] and [ScopeIncludes].
	Scopes []string
	// Claims holds the verified claims of a token (JWT payload or
	// introspection response) or the consumer's metadata; may be nil.
	// Numbers are json.Number.
	Claims map[string]any
	// Method names the authenticator that produced the Identity, one of the
	// Method constants for this package's authenticators.
	Method string
	// ExpiresAt is when the credential stops being valid; zero when it has
	// no expiry (API keys, Basic, mTLS).
	ExpiresAt time.Time
	// UpstreamHeaders are extra headers set on the request forwarded
	// upstream (for example the headers forward auth copies from the auth
	// service's answer), replacing any the client sent; an entry without
	// values removes the client's header. May be nil.
	UpstreamHeaders http.Header

	// hv caches the joined header values of an Identity shared between
	// requests; set by seal before the Identity is published.
	hv *headerValues
}

type headerValues struct{ groups, scope string }

// seal precomputes the identity-header values of an Identity that will be
// shared between requests, so that forwarding it allocates no strings.
func (id *Identity) seal() *Identity {
	id.hv = &headerValues{groups: strings.Join(id.Groups, ","), scope: strings.Join(id.Scopes, " ")}
	return id
}

func (id *Identity) headerValues() headerValues {
	if id.hv != nil {
		return *id.hv
	}
	return headerValues{groups: strings.Join(id.Groups, ","), scope: strings.Join(id.Scopes, " ")}
}

// HasScope reports whether id was granted scope.
func (id *Identity) HasScope(scope string) bool {
	return id != nil && slices.Contains(id.Scopes, scope)
}

// InGroup reports whether id belongs to group.
func (id *Identity) InGroup(group string) bool {
	return id != nil && slices.Contains(id.Groups, group)
}

// Consumer is a configured API consumer: the owner of API keys, Basic
// credentials or client certificates. Its fields become the [Identity] of
// requests that present one of its credentials.
type Consumer struct {
	// ID is the consumer's stable identifier; required.
	ID string
	// Username is the consumer's human-readable name; optional.
	Username string
	// Groups are the consumer's groups for [ACL]; optional.
	Groups []string
	// Scopes are the scopes granted to the consumer for [Scopes]; optional.
	Scopes []string
	// Meta is arbitrary metadata exposed as [Identity.Claims]; optional.
	Meta map[string]any
}

// identity builds the shared, immutable Identity for c.
func (c Consumer) identity(method string) *Identity {
	id := &Identity{
		ConsumerID: c.ID,
		Username:   c.Username,
		Groups:     slices.Clone(c.Groups),
		Scopes:     slices.Clone(c.Scopes),
		Method:     method,
	}
	if len(c.Meta) > 0 {
		id.Claims = make(map[string]any, len(c.Meta))
		for k, v := range c.Meta {
			id.Claims[k] = v
		}
	}
	return id.seal()
}

type ctxKey struct{}

// NewContext returns a copy of parent that carries id.
func NewContext(parent context.Context, id *Identity) context.Context {
	return context.WithValue(parent, ctxKey{}, id)
}

// FromContext returns the Identity stored in ctx by [Require] (or
// [NewContext]) and whether there was one.
func FromContext(ctx context.Context) (*Identity, bool) {
	id, ok := ctx.Value(ctxKey{}).(*Identity)
	return id, ok && id != nil
}

// Authenticator checks the credential a request presents.
//
// Authenticate returns the caller's Identity, or an error that wraps
// [ErrNoCredentials] when the request carries no credential of this kind
// (so [Require] may try the next authenticator), or another error when the
// credential is present but not acceptable (wrapping one of this package's
// sentinels, which carry the status to answer with). It must not modify r
// and must be safe for simultaneous use by multiple goroutines.
type Authenticator interface {
	Authenticate(r *http.Request) (*Identity, error)
}

// AuthenticatorFunc adapts a function to an [Authenticator].
type AuthenticatorFunc func(r *http.Request) (*Identity, error)

// Authenticate calls f(r).
func (f AuthenticatorFunc) Authenticate(r *http.Request) (*Identity, error) { return f(r) }

// Challenger is implemented by authenticators that know the
// WWW-Authenticate challenge (RFC 9110 §11.6.1) for their scheme, such as
// `Bearer realm="api"`. [Require] sends the challenges of all its
// authenticators when a request carries no credential, and the deciding
// authenticator's challenge (with RFC 6750 error attributes for Bearer)
// when a credential is rejected.
type Challenger interface {
	Challenge() string
}

// CredentialStripper is implemented by authenticators that can remove their
// credential from a request before it goes upstream. [Require] calls it, on
// its own shallow copy of the request with a cloned header (and URL when the
// credential is in the query), when [Config.StripCredentials] is set.
type CredentialStripper interface {
	StripCredentials(r *http.Request)
}
