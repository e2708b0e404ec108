// Package auth authenticates and authorizes the requests a gateway
// forwards: JSON Web Tokens (static keys or JWKS, with OIDC discovery), API
// keys, HTTP Basic, OAuth 2.0 token introspection, forward auth to an
// external service, and mTLS client certificates, plus per-route scope,
// group and claim checks.
//
// # Model
//
// An [Authenticator] turns a request's credential into an [Identity]: the
// consumer (ID, username), its groups and scopes, and the verified claims.
// [Require] (or [New] for more options) builds the middleware that runs a
// list of authenticators in order. The first authenticator whose kind of
// credential is present decides, as in Kong: a valid credential admits the
// request, an invalid one rejects it without trying weaker methods. When no
// credential of any kind is present the answer is 401 with the
// WWW-Authenticate challenges of all of them. An admitted request reaches
// the next handler with:
//
//   - the Identity in its context ([FromContext]);
//   - identity headers for the upstream (X-Consumer-ID, X-Consumer-Username,
//     X-Consumer-Groups, X-Authenticated-Scope; names set by [Headers]);
//   - every client-sent X-Consumer-*, X-Authenticated-*, X-Credential-* and
//     X-Anonymous-* header removed, so identities cannot be spoofed
//     ([StripIdentity] does only this, for public routes);
//   - its credentials removed when [Config.StripCredentials] is set.
//
// The inbound request is never modified: the middleware passes on a shallow
// copy, with a copied header map only when headers change.
//
// Auth is the default in a gateway: gateway.Config.Auth takes the value of
// Require and applies it to every route not marked public, so a route added
// without auth configuration is protected. Per-route policies run after it:
// [Scopes] (required scopes), [ACL] (allowed and denied groups) and [Match]
// with [ClaimEquals], [ClaimContains] and [ScopeIncludes]; they answer 403.
//
// # Responses
//
// Every refusal is RFC 9457 problem+json with the request ID: 401 with
// WWW-Authenticate (Bearer with RFC 6750 error codes, Basic with its realm)
// for missing or bad credentials, 400 for ambiguous ones (two Authorization
// headers), 403 for ACL and scope failures (with an insufficient_scope
// challenge for bearer tokens), and 503 with Retry-After when the component
// that must decide (JWKS endpoint for an unknown kid, authorization server,
// auth service) cannot be reached: the identity provider is down, the
// client is not at fault. An unknown API key and a wrong one get the same
// answer after the same work (the key is hashed before the lookup); an
// unknown Basic user is checked against a dummy bcrypt hash.
//
// # Tokens
//
// [JWT] accepts HS256/384/512, RS256/384/512, PS256/384/512,
// ES256/384/512 and EdDSA. Each [Key] is bound to one algorithm and each
// issuer has an algorithm allowlist, so "alg":"none" and algorithm
// confusion (an RSA public key used as an HMAC secret) cannot be expressed.
// Tokens that name or carry their own keys (jku, x5u, jwk, x5c headers) are
// rejected, keys are only ever taken from the configuration, and so are
// tokens whose crit header lists an extension the configuration does not
// understand (RFC 7515 §4.1.11) and tokens with duplicate header parameters
// or claims (which another JSON parser upstream might read differently). exp (required by
// default), nbf and iat are checked with a leeway; iss selects the issuer;
// aud may be a string or an array. Tokens over 8 KiB are refused before
// they are decoded.
//
// Remote key sets are cached for their Cache-Control lifetime (clamped to
// a floor and a ceiling) and refreshed in the background by [JWT.Run]. A
// token with an unknown kid triggers at most one refresh per interval per
// issuer, shared by all concurrent requests, so random kids cannot cause a
// fetch storm; the last good key set stays in use while the endpoint
// fails.
//
// Verified tokens are cached (bounded by entries and bytes, keyed by a hash
// of the whole token and compared in full, never past exp), so a hot token
// costs a map lookup instead of a signature check.
//
// # Example
//
// A gateway that accepts tokens from an OpenID Connect provider or API keys,
// with a scope check on writes:
//
//	jwt, err := auth.NewJWT(auth.JWTConfig{Issuer: "https://id.example.com/", Audience: "api", Discover: true})
//	if err != nil {
//		log.Fatal(err)
//	}
//	keys, err := auth.NewAPIKeys(auth.APIKeyConfig{Keys: []auth.APIKey{
//		{Hash: os.Getenv("PARTNER_KEY_SHA256"), Consumer: auth.Consumer{ID: "partner", Scopes: []string{"users:read"}}},
//	}})
//	if err != nil {
//		log.Fatal(err)
//	}
//	gw := gateway.New(gateway.Config{Auth: auth.Require(jwt, keys)})
//	gw.Manage(jwt) // refreshes the provider's keys in the background
//	gw.Handle("GET /users/{id}", users)
//	gw.Handle("PATCH /users/{id}", users, auth.Scopes("users:write"))
//	gw.Handle("GET /catalog/", catalog, gateway.Public, auth.StripIdentity)
//
// # Concurrency and lifecycle
//
// All types are safe for simultaneous use by multiple goroutines once
// built. Constructors do no I/O and start no goroutines; [JWT.Run] owns the
// background key refresh and returns when its context ends.
package auth
