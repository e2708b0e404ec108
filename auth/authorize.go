package auth

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/gatewaykit/gateway/internal/problem"
)

// Scopes returns per-route middleware that admits a request only when its
// [Identity] holds every one of the required scopes, and otherwise answers
// 403 (with an RFC 6750 insufficient_scope challenge for bearer tokens). A
// request without an Identity (the route is not authenticated) gets 401.
// It must run inside [Require]'s middleware; with no scopes it admits every
// authenticated request. The middleware is safe for concurrent use.
func Scopes(required ...string) func(http.Handler) http.Handler {
	required = slices.Clone(required)
	scopeAttr := strings.Join(required, " ")
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id, ok := FromContext(r.Context())
			if !ok {
				problem.Write(w, r, http.StatusUnauthorized, "authentication required")
				return
			}
			for _, s := range required {
				if !id.HasScope(s) {
					if id.Method == MethodJWT || id.Method == MethodIntrospection {
						w.Header().Set("WWW-Authenticate", bearerChallenge("Bearer", ErrInsufficientScope, scopeAttr))
					}
					problem.Write(w, r, http.StatusForbidden, ErrInsufficientScope.detail)
					return
				}
			}
			next.ServeHTTP(w, r)
		})
	}
}

// ACLConfig lists the groups an [ACL] allows and denies.
type ACLConfig struct {
	// Allow lists the groups admitted: an identity must belong to at least
	// one. Empty means every group (and no group) is admitted unless denied.
	Allow []string
	// Deny lists groups that are refused even when also allowed. Empty
	// means none.
	Deny []string
}

// ACL returns per-route middleware that admits a request only when its
// [Identity]'s groups pass cfg (deny wins over allow), and otherwise answers
// 403. A request without an Identity gets 401. The middleware is safe for
// concurrent use.
func ACL(cfg ACLConfig) func(http.Handler) http.Handler {
	allow, deny := slices.Clone(cfg.Allow), slices.Clone(cfg.Deny)
	return Match(func(id *Identity) bool {
		for _, g := range id.Groups {
			if slices.Contains(deny, g) {
				return false
			}
		}
		if len(allow) == 0 {
			return true
		}
		for _, g := range id.Groups {
			if slices.Contains(allow, g) {
				return true
			}
		}
		return false
	})
}

// Matcher is a predicate on an authenticated [Identity], used by [Match] and
// [Issuer.Matchers]. It must not modify the Identity.
type Matcher func(id *Identity) bool

// Match returns per-route middleware that admits a request only when every
// matcher accepts its [Identity], and otherwise answers 403. A request
// without an Identity gets 401. The middleware is safe for concurrent use.
func Match(matchers ...Matcher) func(http.Handler) http.Handler {
	matchers = slices.Clone(matchers)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id, ok := FromContext(r.Context())
			if !ok {
				problem.Write(w, r, http.StatusUnauthorized, "authentication required")
				return
			}
			for _, m := range matchers {
				if !m(id) {
					problem.Write(w, r, http.StatusForbidden, ErrForbidden.detail)
					return
				}
			}
			next.ServeHTTP(w, r)
		})
	}
}

// ClaimEquals returns a Matcher accepting identities whose claim name
// equals value. name may be a dotted path into nested objects
// ("realm_access.role"); an exact top-level key wins over a path. value is
// compared as its JSON text for numbers (so 42 matches the claim 42) and by
// equality for strings and booleans.
func ClaimEquals(name string, value any) Matcher {
	return func(id *Identity) bool {
		v, ok := claim(id.Claims, name)
		return ok && claimEqual(v, value)
	}
}

// ClaimContains returns a Matcher accepting identities whose claim name is
// an array containing value, or a string equal to value or holding it as
// one of its space-separated words.
func ClaimContains(name, value string) Matcher {
	return func(id *Identity) bool {
		v, ok := claim(id.Claims, name)
		if !ok {
			return false
		}
		switch c := v.(type) {
		case string:
			return c == value || slices.Contains(strings.Fields(c), value)
		case []any:
			for _, e := range c {
				if s, ok := e.(string); ok && s == value {
					return true
				}
			}
		case []string:
			return slices.Contains(c, value)
		}
		return false
	}
}

// ScopeIncludes returns a Matcher accepting identities granted scope.
func ScopeIncludes(scope string) Matcher {
	return func(id *Identity) bool { return id.HasScope(scope) }
}

// claim returns the claim at name (a top-level key, else a dotted path).
func claim(claims map[string]any, name string) (any, bool) {
	if v, ok := claims[name]; ok {
		return v, true
	}
	cur := claims
	for {
		i := strings.IndexByte(name, '.')
		if i < 0 {
			v, ok := cur[name]
			return v, ok
		}
		next, ok := cur[name[:i]].(map[string]any)
		if !ok {
			return nil, false
		}
		cur, name = next, name[i+1:]
	}
}

func claimEqual(claimValue, want any) bool {
	switch c := claimValue.(type) {
	case string:
		s, ok := want.(string)
		return ok && s == c
	case bool:
		b, ok := want.(bool)
		return ok && b == c
	case json.Number:
		switch w := want.(type) {
		case json.Number:
			return w == c
		case string:
			return false
		case int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
			return string(c) == fmt.Sprint(w)
		case float32, float64:
			f, err := c.Float64()
			return err == nil && fmt.Sprint(f) == fmt.Sprint(w)
		}
	case float64:
		return fmt.Sprint(c) == fmt.Sprint(want)
	}
	return false
}
