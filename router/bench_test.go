package router

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
)

// benchRoutes returns n realistic routes: per resource a GET by id, a POST
// to the collection, a method-less sub-resource and, for every fourth, a
// host-specific nested route, as an API gateway's table looks.
func benchRoutes(n int) []Route {
	h := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	rs := make([]Route, 0, n)
	for i := 0; len(rs) < n; i++ {
		res := "/api/v1/resource" + strconv.Itoa(i)
		var p string
		switch i % 4 {
		case 0:
			p = "GET " + res + "/{id}"
		case 1:
			p = "POST " + res
		case 2:
			p = res + "/{id}/sub"
		case 3:
			p = "tenant" + strconv.Itoa(i%10) + ".example.com" + res + "/{id}/items/{item}"
		}
		rs = append(rs, Route{Pattern: p, Handler: h})
	}
	return rs
}

// benchRequests returns 16 requests that hit routes spread over the table,
// cycling through the four kinds of route.
func benchRequests(n int) []*http.Request {
	var reqs []*http.Request
	for k := 0; k < 16; k++ {
		kind := k % 4
		i := (k*n/16)&^3 + kind
		for i >= n {
			i -= 4
		}
		res := "/api/v1/resource" + strconv.Itoa(i)
		switch kind {
		case 0:
			reqs = append(reqs, httptest.NewRequest("GET", res+"/12345", nil))
		case 1:
			reqs = append(reqs, httptest.NewRequest("POST", res, nil))
		case 2:
			reqs = append(reqs, httptest.NewRequest("PUT", res+"/abc/sub", nil))
		case 3:
			r := httptest.NewRequest("GET", res+"/7/items/9", nil)
			r.Host = "tenant" + strconv.Itoa(i%10) + ".example.com:443"
			reqs = append(reqs, r)
		}
	}
	return reqs
}

var benchSizes = []int{10, 1000, 10000}

func BenchmarkMatch(b *testing.B) {
	for _, n := range benchSizes {
		b.Run("routes="+strconv.Itoa(n), func(b *testing.B) {
			rt, err := New(Config{Routes: benchRoutes(n)})
			if err != nil {
				b.Fatal(err)
			}
			reqs := benchRequests(n)
			for _, r := range reqs {
				if _, _, ok := rt.Match(r); !ok {
					b.Fatalf("no match for %s %s%s", r.Method, r.Host, r.URL)
				}
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				rt.Match(reqs[i&15])
				i++
			}
		})
	}
}

func BenchmarkServeMuxHandler(b *testing.B) {
	for _, n := range benchSizes {
		b.Run("routes="+strconv.Itoa(n), func(b *testing.B) {
			mux := http.NewServeMux()
			for _, r := range benchRoutes(n) {
				mux.Handle(r.Pattern, r.Handler)
			}
			reqs := benchRequests(n)
			for _, r := range reqs {
				if _, p := mux.Handler(r); p == "" {
					b.Fatalf("no match for %s %s%s", r.Method, r.Host, r.URL)
				}
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				mux.Handler(reqs[i&15])
				i++
			}
		})
	}
}

func BenchmarkMatchParallel(b *testing.B) {
	rt, err := New(Config{Routes: benchRoutes(1000)})
	if err != nil {
		b.Fatal(err)
	}
	reqs := benchRequests(1000)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			rt.Match(reqs[i&15])
			i++
		}
	})
}

// BenchmarkMatchMatchers measures a leaf with header and query matchers:
// the request falls through a regexp and a query route to a header route.
func BenchmarkMatchMatchers(b *testing.B) {
	h := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	rs := append(benchRoutes(1000),
		Route{Pattern: "GET /api/v2/items/{id}", Handler: h, Headers: []Matcher{{Name: "User-Agent", Regexp: `curl/.*`}}, Query: []Matcher{{Name: "x", Present: true}}},
		Route{Pattern: "GET /api/v2/items/{id}", Handler: h, Query: []Matcher{{Name: "beta", Value: "1"}}, Priority: 1},
		Route{Pattern: "GET /api/v2/items/{id}", Handler: h, Headers: []Matcher{{Name: "X-Api-Version", Value: "2"}}},
		Route{Pattern: "GET /api/v2/items/{id}", Handler: h},
	)
	rt, err := New(Config{Routes: rs})
	if err != nil {
		b.Fatal(err)
	}
	r := httptest.NewRequest("GET", "/api/v2/items/42?a=1&b=2&beta=0", nil)
	r.Header.Set("X-Api-Version", "2")
	r.Header.Set("User-Agent", "Mozilla/5.0")
	if route, _, _ := rt.Match(r); route == nil || len(route.Headers) != 1 || route.Headers[0].Name != "X-Api-Version" {
		b.Fatal("wrong route")
	}
	b.ReportAllocs()
	for b.Loop() {
		rt.Match(r)
	}
}

// BenchmarkServeHTTP includes setting r.Pattern and the path values
// (net/http's SetPathValue allocates its map).
func BenchmarkServeHTTP(b *testing.B) {
	rt, err := New(Config{Routes: benchRoutes(1000)})
	if err != nil {
		b.Fatal(err)
	}
	reqs := benchRequests(1000)
	w := httptest.NewRecorder()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		rt.ServeHTTP(w, reqs[i&15])
		i++
	}
}

func BenchmarkSplitPick(b *testing.B) {
	h := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	s, err := NewSplit(SplitConfig{
		Targets:      []Target{{Handler: h, Weight: 95}, {Handler: h, Weight: 5}},
		StickyHeader: "X-User", StickyCookie: "sticky",
	})
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		hdr  string
		val  string
	}{
		{"random", "", ""},
		{"header", "X-User", "user-1234567"},
		{"cookie", "Cookie", "session=abcdef0123456789; sticky=0123456789abcdef; theme=dark"},
	} {
		b.Run(c.name, func(b *testing.B) {
			r := httptest.NewRequest("GET", "/", nil)
			if c.hdr != "" {
				r.Header.Set(c.hdr, c.val)
			}
			b.ReportAllocs()
			for b.Loop() {
				s.Pick(r)
			}
		})
	}
}

func BenchmarkRewrite(b *testing.B) {
	next := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	strip, _ := StripPrefix("/api")
	tmpl, _ := RewritePath("/v2/users/{id}")
	r := httptest.NewRequest("GET", "/api/users/12345", nil)
	r.SetPathValue("id", "12345")
	w := httptest.NewRecorder()
	for _, c := range []struct {
		name string
		h    http.Handler
	}{{"strip", strip(next)}, {"template", tmpl(next)}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				c.h.ServeHTTP(w, r)
			}
		})
	}
}

// BenchmarkNew measures compiling a table (what a Reload pays).
func BenchmarkNew(b *testing.B) {
	for _, n := range benchSizes {
		b.Run("routes="+strconv.Itoa(n), func(b *testing.B) {
			rs := benchRoutes(n)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := New(Config{Routes: rs}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkMatchMiss measures a request no route matches (a scanner probing
// paths): the walk stops at the first unknown segment.
func BenchmarkMatchMiss(b *testing.B) {
	rt, err := New(Config{Routes: benchRoutes(1000)})
	if err != nil {
		b.Fatal(err)
	}
	r := httptest.NewRequest("GET", "/api/v1/unknown/12345/sub", nil)
	if _, _, ok := rt.Match(r); ok {
		b.Fatal("unexpected match")
	}
	b.ReportAllocs()
	for b.Loop() {
		rt.Match(r)
	}
}
