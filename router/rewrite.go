package router

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/gatewaykit/gateway/internal/problem"
)

// ErrInvalidRewrite is returned by [StripPrefix], [ReplacePrefix] and
// [RewritePath] for a bad prefix or template.
var ErrInvalidRewrite = errors.New("router: invalid rewrite")

// StripPrefix returns middleware that removes prefix from the request path,
// like [net/http.StripPrefix] but on whole segments: prefix "/api" strips
// "/api" and "/api/users" (to "/" and "/users") but not "/apis". A request
// whose path lacks the prefix gets 404 problem+json, as net/http's does. An
// emptied path becomes "/".
//
// prefix is an unescaped path ("/api"); it must start with "/" and have no
// dot segments. A trailing slash is ignored.
func StripPrefix(prefix string) (func(http.Handler) http.Handler, error) {
	return ReplacePrefix(prefix, "")
}

// ReplacePrefix returns middleware that replaces the leading path segments
// old with replacement: ReplacePrefix("/v1", "/api/v2") turns "/v1/users/7"
// into "/api/v2/users/7". A request whose path lacks old gets 404
// problem+json. Both are unescaped paths that start with "/" (replacement may
// be empty, which strips) and have no dot segments; trailing slashes are
// ignored.
func ReplacePrefix(old, replacement string) (func(http.Handler) http.Handler, error) {
	escOld, err := prefixArg("prefix", old)
	if err != nil {
		return nil, err
	}
	escNew := ""
	if replacement != "" {
		if escNew, err = prefixArg("replacement", replacement); err != nil {
			return nil, err
		}
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ep := r.URL.EscapedPath()
			rest, ok := cutSegmentPrefix(ep, escOld)
			if !ok {
				problem.Write(w, r, http.StatusNotFound, "the path does not start with the route's prefix")
				return
			}
			out := escNew + rest
			if out == "" {
				out = "/"
			}
			serveRewritten(w, r, next, out)
		})
	}, nil
}

// prefixArg validates a prefix argument and returns its escaped form
// without a trailing slash ("" for "/").
func prefixArg(what, p string) (string, error) {
	if !strings.HasPrefix(p, "/") {
		return "", fmt.Errorf("%w: %s %q must start with /", ErrInvalidRewrite, what, p)
	}
	esc := (&url.URL{Path: p}).EscapedPath()
	esc = strings.TrimSuffix(esc, "/")
	if esc != "" {
		if err := checkPath(esc); err != nil {
			return "", fmt.Errorf("%w: %s %q: %v", ErrInvalidRewrite, what, p, err)
		}
	}
	return esc, nil
}

// cutSegmentPrefix removes prefix (escaped, no trailing slash) from the
// escaped path when it ends at a segment boundary. The empty prefix matches
// every path.
func cutSegmentPrefix(path, prefix string) (string, bool) {
	if !strings.HasPrefix(path, prefix) {
		return "", false
	}
	rest := path[len(prefix):]
	if rest != "" && rest[0] != '/' {
		return "", false
	}
	return rest, true
}

// RewritePath returns middleware that replaces the whole path with template
// filled from the request's path values (r.PathValue, set by
// [Router.ServeHTTP] or a ServeMux): RewritePath("/v2/users/{id}") turns a
// request routed by "GET /users/{id}" for "/users/7" into "/v2/users/7".
//
// The template is an escaped path starting with "/". {name} inserts the
// value escaped as one segment (a "/" in it becomes %2F) and may sit inside
// a segment ("/files/{id}.json"); {name...} inserts the value keeping its
// slashes, must end the template and may be empty. A {name} whose value is
// empty, and every rejected result described above, get 400 problem+json.
// Names must be wildcards of the routes the middleware wraps.
func RewritePath(template string) (func(http.Handler) http.Handler, error) {
	parts, err := parseTemplate(template)
	if err != nil {
		return nil, err
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var b strings.Builder
			for _, p := range parts {
				switch {
				case p.name == "":
					b.WriteString(p.lit)
				case p.multi:
					v := r.PathValue(p.name)
					for i, s := range strings.Split(v, "/") {
						if i > 0 {
							b.WriteByte('/')
						}
						b.WriteString(url.PathEscape(s))
					}
				default:
					v := r.PathValue(p.name)
					if v == "" {
						problem.Write(w, r, http.StatusBadRequest, "the path rewrite has no value for {"+p.name+"}")
						return
					}
					b.WriteString(url.PathEscape(v))
				}
			}
			serveRewritten(w, r, next, b.String())
		})
	}, nil
}

type tmplPart struct {
	lit   string
	name  string
	multi bool
}

func parseTemplate(t string) ([]tmplPart, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: template %q: %s", ErrInvalidRewrite, t, fmt.Sprintf(format, args...))
	}
	if !strings.HasPrefix(t, "/") {
		return nil, bad("must start with /")
	}
	if strings.ContainsAny(t, "?#") {
		return nil, bad("must be a path only (no ? or #)")
	}
	var parts []tmplPart
	var lits strings.Builder // the template with placeholders removed, for checks
	rest := t
	for rest != "" {
		i := strings.IndexByte(rest, '{')
		if i < 0 {
			if strings.IndexByte(rest, '}') >= 0 {
				return nil, bad("unmatched }")
			}
			parts = append(parts, tmplPart{lit: rest})
			lits.WriteString(rest)
			break
		}
		if i > 0 {
			if strings.IndexByte(rest[:i], '}') >= 0 {
				return nil, bad("unmatched }")
			}
			parts = append(parts, tmplPart{lit: rest[:i]})
			lits.WriteString(rest[:i])
		}
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			return nil, bad("unmatched {")
		}
		name := rest[i+1 : i+j]
		rest = rest[i+j+1:]
		name, multi := strings.CutSuffix(name, "...")
		if !validWildcardName(name) {
			return nil, bad("bad wildcard name %q", name)
		}
		if multi && rest != "" {
			return nil, bad("{%s...} must end the template", name)
		}
		if multi && !strings.HasSuffix(lits.String(), "/") {
			return nil, bad("{%s...} must be a whole segment", name)
		}
		parts = append(parts, tmplPart{name: name, multi: multi})
		lits.WriteString("x")
	}
	if !validEscapes(t) {
		return nil, bad("invalid %% escape")
	}
	if err := checkPath(lits.String()); err != nil {
		return nil, bad("%v", err)
	}
	return parts, nil
}

// checkPath rejects an escaped path that does not start with "/", has an
// empty interior segment, or has a dot segment (also escaped).
func checkPath(esc string) error {
	if !strings.HasPrefix(esc, "/") {
		return errors.New("path does not start with /")
	}
	rest := esc[1:]
	for {
		seg, next, more := strings.Cut(rest, "/")
		if seg == "" && more {
			return errors.New("path has an empty segment")
		}
		if isDotSegment(seg) {
			return errors.New("path has a dot segment")
		}
		if !more {
			return nil
		}
		rest = next
	}
}

func isDotSegment(seg string) bool {
	switch len(seg) {
	case 1, 3:
		return eqUnescaped(seg, ".", false)
	case 2, 4, 6:
		return eqUnescaped(seg, "..", false)
	}
	return false
}

// serveRewritten checks the escaped path out and calls next with a shallow
// copy of r whose URL carries it.
func serveRewritten(w http.ResponseWriter, r *http.Request, next http.Handler, out string) {
	if err := checkPath(out); err != nil {
		problem.Write(w, r, http.StatusBadRequest, "the rewritten path is not allowed: "+err.Error())
		return
	}
	p, err := url.PathUnescape(out)
	if err != nil {
		problem.Write(w, r, http.StatusBadRequest, "the rewritten path has an invalid escape")
		return
	}
	// One allocation for both copies.
	c := new(struct {
		req http.Request
		u   url.URL
	})
	c.req, c.u = *r, *r.URL
	r2 := &c.req
	r2.URL = &c.u
	r2.URL.Path = p
	r2.URL.RawPath = ""
	if r2.URL.EscapedPath() != out {
		r2.URL.RawPath = out
	}
	next.ServeHTTP(w, r2)
}
