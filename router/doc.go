// Package router matches requests to routes written in [net/http.ServeMux]
// pattern syntax, extended with header and query matchers, priorities,
// weighted traffic splits and path rewrites. It is the gateway's default
// route matcher and depends only on the standard library.
//
// A [Router] is compiled once by [New] from a [Config] into an immutable
// table: one segment trie per host plus one for host-less routes, whose
// leaves hold the candidate routes of one path shape pre-sorted by
// precedence. [Router.Match] walks the trie, never scans the route list, and
// allocates nothing. [Router.ServeHTTP] sets r.Pattern and the path values
// (so handlers read r.PathValue("id")) and calls the route's Handler, or
// answers 405 with Allow, or 404, as RFC 9457 problem+json.
//
// # Patterns
//
// Patterns are "[METHOD ][HOST]/[PATH]", exactly as for ServeMux:
//
//	/users/{id}            one segment, any non-empty value, r.PathValue("id")
//	/files/{path...}       the rest of the path (may be empty), slashes kept
//	/static/               a trailing slash matches the whole subtree
//	/{$}                   only "/" itself; /posts/{$} only "/posts/"
//	GET /users/{id}        GET, and HEAD too (as ServeMux does)
//	api.example.com/v1/    only for that Host (port stripped, any case)
//	*.example.com/         any subdomain of example.com (not example.com itself)
//
// Matching uses r.Host and r.URL.EscapedPath(): the path is split at its
// real slashes and each segment is unescaped before being compared with a
// literal, so an escaped slash (%2F) is part of a segment and never a
// separator. Wildcard values are unescaped on access, as ServeMux does. The
// router does not clean paths: a normalization middleware in front of it
// rejects "..", "//" and escaped separators.
//
// Differences from ServeMux, all deliberate:
//   - host names match case-insensitively, and IPv6 brackets and a trailing
//     dot are ignored; a pattern host with a port is refused;
//   - a host "*.example.com" matches every subdomain (as in Kong, Envoy and
//     NGINX server_name);
//   - there are no redirects, neither "/tree" to "/tree/" nor to a cleaned
//     path: the request gets 404 unless a route matches it as it is;
//   - {$} matches only a real trailing slash, not an escaped one;
//   - a pattern whose path is not clean ("//", "." or ".." segments) is
//     refused even without a method (except for CONNECT);
//   - overlapping patterns that ServeMux refuses to register are accepted
//     and ordered by the rules below;
//   - a pattern may hold at most [MaxParams] wildcards.
//
// # Precedence
//
// When several routes match a request, the first of these rules that tells
// them apart decides:
//
//  1. A route for the request's exact host beats a route for a wildcard
//     host ("*.example.com"; a longer suffix beats a shorter one), which
//     beats a route without a host. A less specific host is considered only
//     when no route for the more specific one matches.
//  2. The more specific path wins, compared segment by segment from the
//     left: at the first position where they differ, a literal beats a
//     {wildcard}, which beats a {rest...} or trailing-slash wildcard. So an
//     exact pattern beats a prefix pattern ("/a/{$}" beats "/a/"), a longer
//     prefix beats a shorter one ("/a/b/" beats "/a/"), and "/a/{x}" beats
//     "/{y}/b" for "/a/b".
//  3. A route for the request's method beats a route for GET (serving a
//     HEAD request), which beats a route without a method.
//  4. A route with more header and query matchers beats one with fewer.
//  5. The higher Priority wins.
//  6. The route registered first wins.
//
// Two routes that rules 1 to 5 cannot tell apart (same host, same path
// shape whatever the wildcard names, same method, same set of matchers and
// same priority) make [New] fail with [ErrConflict], as ServeMux panics on
// such a registration.
//
// Examples, for a request GET http://api.example.com/users/me:
//
//	"/users/{id}"                     loses to  "/users/me"                 (rule 2)
//	"GET /users/{id}"                 loses to  "/users/me"                 (rule 2)
//	"/users/me"                       loses to  "api.example.com/users/"    (rule 1)
//	"/users/me"                       loses to  "GET /users/me"             (rule 3)
//	"GET /users/me"                   loses to  "GET /users/me" + header   (rule 4)
//	"GET /users/me" Priority 0        loses to  "GET /users/me" Priority 5  (rule 5)
//
// When the preferred route's header or query matchers fail, the next route
// in this order is tried, so a route with a matcher falls back cleanly to a
// general one.
//
// # Method not allowed
//
// When no route matches but some route would if only the method differed,
// the router answers 405 with an Allow header listing those methods (HEAD
// included when GET is), like ServeMux; otherwise 404. Both are
// problem+json unless Config.MethodNotAllowed / Config.NotFound are set.
//
// # Splits and rewrites
//
// [NewSplit] builds a handler that divides one route's traffic between
// targets by weight (a 95/5 canary), optionally sticky by a header or cookie
// value through a deterministic hash. [StripPrefix], [ReplacePrefix] and
// [RewritePath] are middleware that change the path passed upstream without
// touching the inbound request, rejecting results with dot or empty
// segments with 400.
//
// # Path rewrites
//
// The rewrite middlewares ([StripPrefix], [ReplacePrefix], [RewritePath]) change only the request's URL path. They
// never modify the inbound request: like [net/http.StripPrefix] they pass on
// a shallow copy of the *http.Request with its own copy of the *url.URL
// (r.Clone would deep-copy headers for no benefit). The copy shares the
// inbound request's header map, context, body and path values; handlers
// after the rewrite must not call SetPathValue on it expecting the inbound
// request to stay unchanged. RequestURI keeps the inbound value.
//
// They work on the escaped path (url.URL.EscapedPath), set URL.RawPath to
// the escaped result when it differs from the default encoding (and clear it
// otherwise), so Path and RawPath stay consistent. A result that contains a
// "." or ".." segment (also when escaped, as %2e), an empty segment ("//"),
// or that does not start with "/", is rejected with a 400 problem+json
// response before the next handler runs: a rewrite must never let a client
// reach a path the route did not intend.
//
// The middleware they return is immutable and safe for simultaneous use by
// multiple goroutines.
//
// # Example
//
//	func main() {
//		users := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
//			fmt.Fprintln(w, "user", r.PathValue("id"))
//		})
//		usersV2 := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
//			fmt.Fprintln(w, "user (v2)", r.PathValue("id"))
//		})
//		// 5% of users, chosen by a sticky cookie, try v2.
//		canary, err := router.NewSplit(router.SplitConfig{
//			Targets: []router.Target{
//				{Name: "stable", Handler: users, Weight: 95},
//				{Name: "canary", Handler: usersV2, Weight: 5},
//			},
//			StickyCookie: "gw_canary",
//			SetCookie:    true,
//		})
//		if err != nil {
//			log.Fatal(err)
//		}
//		toV2, err := router.RewritePath("/v2/users/{id}")
//		if err != nil {
//			log.Fatal(err)
//		}
//		rt, err := router.New(router.Config{Routes: []router.Route{
//			{Pattern: "GET /users/{id}", Handler: canary},
//			{Pattern: "GET /users/{id}", Handler: toV2(usersV2),
//				Headers: []router.Matcher{{Name: "X-Api-Version", Value: "2"}}},
//			{Pattern: "GET /users/me", Handler: users},
//			{Pattern: "*.tenants.example.com/", Handler: http.NotFoundHandler()},
//		}})
//		if err != nil {
//			log.Fatal(err)
//		}
//		log.Fatal(http.ListenAndServe(":8080", rt))
//	}
package router
