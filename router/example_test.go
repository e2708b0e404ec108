package router_test

import (
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"

	"github.com/gatewaykit/gateway/router"
)

func text(s string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s (pattern %q, id=%q)", s, r.Pattern, r.PathValue("id"))
	})
}

func Example() {
	rt, err := router.New(router.Config{Routes: []router.Route{
		{Pattern: "GET /users/{id}", Handler: text("v1 user")},
		{Pattern: "GET /users/{id}", Handler: text("v2 user"), Headers: []router.Matcher{{Name: "X-Api-Version", Value: "2"}}},
		{Pattern: "GET /users/me", Handler: text("current user")},
		{Pattern: "api.example.com/", Handler: text("api host")},
	}})
	if err != nil {
		log.Fatal(err)
	}
	for _, tc := range []struct{ method, target, version string }{
		{"GET", "/users/42", ""},
		{"GET", "/users/42", "2"},
		{"HEAD", "/users/me", ""},
		{"GET", "http://API.example.com:8443/users/42", ""},
		{"DELETE", "/users/42", ""},
		{"GET", "/orders", ""},
	} {
		req := httptest.NewRequest(tc.method, tc.target, nil)
		if tc.version != "" {
			req.Header.Set("X-Api-Version", tc.version)
		}
		rec := httptest.NewRecorder()
		rt.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			fmt.Println(tc.method, tc.target, "->", rec.Code, rec.Header().Get("Content-Type"), "Allow:", rec.Header().Get("Allow"))
			continue
		}
		fmt.Println(tc.method, tc.target, "->", rec.Body.String())
	}
	// Output:
	// GET /users/42 -> v1 user (pattern "GET /users/{id}", id="42")
	// GET /users/42 -> v2 user (pattern "GET /users/{id}", id="42")
	// HEAD /users/me -> current user (pattern "GET /users/me", id="")
	// GET http://API.example.com:8443/users/42 -> api host (pattern "api.example.com/", id="")
	// DELETE /users/42 -> 405 application/problem+json Allow: GET, HEAD
	// GET /orders -> 404 application/problem+json Allow:
}

func ExampleRouter_Match() {
	rt, err := router.New(router.Config{Routes: []router.Route{
		{Pattern: "/files/{bucket}/{path...}", Handler: http.NotFoundHandler(), Name: "files"},
	}})
	if err != nil {
		log.Fatal(err)
	}
	route, params, ok := rt.Match(httptest.NewRequest("GET", "/files/photos/2024/caf%C3%A9%2Fbar.jpg", nil))
	fmt.Println(ok, route.Name)
	for name, value := range params.All() {
		fmt.Printf("%s=%q\n", name, value)
	}
	// Output:
	// true files
	// bucket="photos"
	// path="2024/café/bar.jpg"
}

func ExampleNewSplit() {
	stable := text("stable")
	canary := text("canary")
	split, err := router.NewSplit(router.SplitConfig{
		Targets: []router.Target{
			{Name: "stable", Handler: stable, Weight: 95},
			{Name: "canary", Handler: canary, Weight: 5},
		},
		StickyHeader: "X-User-ID",
	})
	if err != nil {
		log.Fatal(err)
	}
	// The same user always reaches the same target.
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("X-User-ID", "alice")
	first := split.Pick(req)
	fmt.Println(split.Pick(req) == first, split.ForKey("alice") == first)

	// Over many users the split follows the weights.
	canaries := 0
	for i := range 10000 {
		canaries += split.ForKey(fmt.Sprint("user-", i))
	}
	fmt.Println(canaries > 400 && canaries < 600)
	// Output:
	// true true
	// true
}

func ExampleRewritePath() {
	rewrite, err := router.RewritePath("/v2/accounts/{id}/profile")
	if err != nil {
		log.Fatal(err)
	}
	upstream := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Println("upstream path:", r.URL.EscapedPath())
	})
	rt, err := router.New(router.Config{Routes: []router.Route{
		{Pattern: "GET /users/{id}", Handler: rewrite(upstream)},
	}})
	if err != nil {
		log.Fatal(err)
	}
	req := httptest.NewRequest("GET", "/users/j%C3%BCrgen", nil)
	rt.ServeHTTP(httptest.NewRecorder(), req)
	fmt.Println("inbound path: ", req.URL.EscapedPath())

	rec := httptest.NewRecorder()
	rt.ServeHTTP(rec, httptest.NewRequest("GET", "/users/..", nil))
	fmt.Println(rec.Code)
	// Output:
	// upstream path: /v2/accounts/j%C3%BCrgen/profile
	// inbound path:  /users/j%C3%BCrgen
	// 400
}

func ExampleStripPrefix() {
	strip, err := router.StripPrefix("/api")
	if err != nil {
		log.Fatal(err)
	}
	h := strip(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Println(r.URL.Path, r.URL.RawQuery)
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/api/users/7?fields=name", nil))
	// Output:
	// /users/7 fields=name
}
