package router

import (
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The fuzz and randomized tests check that on route sets ServeMux accepts
// (same patterns, no header/query matchers), the Router picks the same
// pattern, with the same path values, and the same Allow set on a miss.

var (
	fuzzMethods = []string{"", "", "GET", "POST", "HEAD", "DELETE"}
	fuzzHosts   = []string{"", "", "", "a.example", "b.example"}
	fuzzLits    = []string{"a", "b", "c", "x%20y", "caf%C3%A9"}
)

// randomPatterns returns up to n distinct random patterns drawn from a small
// vocabulary, so that overlaps are frequent.
func randomPatterns(rng *rand.Rand, n int) []string {
	return randomPatternsFrom(rng, n, fuzzLits)
}

// wideLits has more literals than mapThreshold, so nodes use the table.
var wideLits = []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "resource1", "resource22", "x%20y", "caf%C3%A9"}

func randomPatternsFrom(rng *rand.Rand, n int, lits []string) []string {
	var out []string
	for range n {
		var b strings.Builder
		if m := fuzzMethods[rng.IntN(len(fuzzMethods))]; m != "" {
			b.WriteString(m + " ")
		}
		b.WriteString(fuzzHosts[rng.IntN(len(fuzzHosts))])
		nseg := rng.IntN(4)
		wild := 0
		for i := range nseg {
			b.WriteByte('/')
			switch k := rng.IntN(10); {
			case k < 6:
				b.WriteString(lits[rng.IntN(len(lits))])
			case k < 8:
				b.WriteString("{w" + string(rune('0'+wild)) + "}")
				wild++
			case i == nseg-1 && k == 8:
				b.WriteString("{rest...}")
			default:
				b.WriteString(lits[0])
			}
		}
		switch rng.IntN(4) {
		case 0:
			b.WriteString("/")
		case 1:
			b.WriteString("/{$}")
		default:
			if nseg == 0 {
				b.WriteString("/")
			}
		}
		out = append(out, b.String())
	}
	return out
}

// wildNames lists a pattern's wildcard names ({$} excluded).
func wildNames(p string) []string {
	var names []string
	for {
		i := strings.IndexByte(p, '{')
		if i < 0 {
			return names
		}
		j := strings.IndexByte(p[i:], '}')
		name := strings.TrimSuffix(p[i+1:i+j], "...")
		if name != "$" {
			names = append(names, name)
		}
		p = p[i+j+1:]
	}
}

// compareWithServeMux registers patterns in a ServeMux (dropping those it
// refuses) and in a Router, and checks they route req alike. It returns false
// when the case is outside the shared semantics and was skipped.
func compareWithServeMux(t *testing.T, patterns []string, method, host, target string) bool {
	t.Helper()
	if strings.Contains(strings.ToLower(target), "%2f") {
		return false // ServeMux lets {$} match an escaped trailing slash
	}
	u, err := url.ParseRequestURI(target)
	if err != nil || !strings.HasPrefix(target, "/") {
		return false
	}
	mux := http.NewServeMux()
	var kept []Route
	for _, p := range patterns {
		names := wildNames(p)
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Pattern", r.Pattern)
			for _, n := range names {
				w.Header().Add("X-Value", n+"="+r.PathValue(n))
			}
		})
		ok := func() (ok bool) {
			defer func() {
				if recover() != nil {
					ok = false
				}
			}()
			mux.Handle(p, h)
			return true
		}()
		if ok {
			kept = append(kept, Route{Pattern: p, Handler: h})
		}
	}
	var keptPatterns []string
	for _, r := range kept {
		keptPatterns = append(keptPatterns, r.Pattern)
	}
	rt, err := New(Config{Routes: kept})
	require.NoError(t, err, "ServeMux accepted %q", patterns)

	req := &http.Request{Method: method, URL: u, Host: host, Header: http.Header{}, RequestURI: target}
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	want := rec.Header().Get("X-Pattern")
	if want == "" && (rec.Code == http.StatusMovedPermanently || rec.Code == http.StatusTemporaryRedirect || rec.Code == http.StatusPermanentRedirect) {
		return false // ServeMux redirects (unclean path, /tree -> /tree/); the Router does not
	}
	req2 := &http.Request{Method: method, URL: u, Host: host, Header: http.Header{}, RequestURI: target}
	route, params, ok := rt.Match(req2)
	got := ""
	if ok {
		got = route.Pattern
	}
	if !assert.Equal(t, want, got, "patterns %q, %s %s%s", keptPatterns, method, host, target) {
		return true
	}
	if ok {
		var vals []string
		for n, v := range params.All() {
			vals = append(vals, n+"="+v)
		}
		assert.Equal(t, rec.Header().Values("X-Value"), vals, "values for %q, %s %s%s", got, method, host, target)
	} else {
		// ServeMux also lists the methods that would match after its
		// /tree -> /tree/ redirect; the Router does not redirect, so
		// compare against the union for path and path+"/".
		allow := rt.Allowed(req2)
		if !strings.HasSuffix(u.Path, "/") {
			u2 := *u
			u2.Path += "/"
			if u2.RawPath != "" {
				u2.RawPath += "/"
			}
			allow = append(allow, rt.Allowed(&http.Request{Method: method, URL: &u2, Host: host})...)
			slices.Sort(allow)
			allow = slices.Compact(allow)
		}
		assert.Equal(t, rec.Header().Get("Allow"), strings.Join(allow, ", "), "Allow for %q, %s %s%s", keptPatterns, method, host, target)
	}
	return true
}

func randomTarget(rng *rand.Rand) string { return randomTargetFrom(rng, fuzzLits) }

func randomTargetFrom(rng *rand.Rand, lits []string) string {
	var b strings.Builder
	n := rng.IntN(5)
	for range n {
		b.WriteByte('/')
		switch k := rng.IntN(10); {
		case k < 6:
			b.WriteString(lits[rng.IntN(len(lits))])
		case k < 7:
			b.WriteString("%61") // "a", needlessly escaped
		case k < 9:
			b.WriteString("zz")
		}
	}
	if n == 0 || rng.IntN(4) == 0 {
		b.WriteByte('/')
	}
	return b.String()
}

func TestMatchAgainstServeMux(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	compared := 0
	for range 4000 {
		patterns := randomPatterns(rng, 1+rng.IntN(10))
		method := []string{"GET", "POST", "HEAD", "DELETE", "PUT"}[rng.IntN(5)]
		host := []string{"a.example", "b.example", "c.example", "a.example:8080"}[rng.IntN(4)]
		if compareWithServeMux(t, patterns, method, host, randomTarget(rng)) {
			compared++
		}
		if t.Failed() {
			return
		}
	}
	assert.Greater(t, compared, 2000, "most random cases are in the shared semantics")
}

func TestMatchAgainstServeMuxWide(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(3, 4))
	compared := 0
	for range 800 {
		patterns := randomPatternsFrom(rng, 20+rng.IntN(60), wideLits)
		method := []string{"GET", "POST", "HEAD", "DELETE", "PUT"}[rng.IntN(5)]
		host := []string{"a.example", "b.example", "c.example"}[rng.IntN(3)]
		for range 4 {
			if compareWithServeMux(t, patterns, method, host, randomTargetFrom(rng, wideLits)) {
				compared++
			}
		}
		if t.Failed() {
			return
		}
	}
	assert.Greater(t, compared, 1600, "most random cases are in the shared semantics")
}

func FuzzMatch(f *testing.F) {
	f.Add(uint64(1), uint8(3), "GET", "a.example", "/a/b")
	f.Add(uint64(2), uint8(8), "HEAD", "b.example", "/")
	f.Add(uint64(3), uint8(5), "POST", "a.example", "/c/x%20y/")
	f.Add(uint64(4), uint8(9), "DELETE", "", "/a/zz/b")
	f.Fuzz(func(t *testing.T, seed uint64, n uint8, method, host, target string) {
		// Hosts are outside the shared semantics when the Router's
		// normalisation (case, trailing dot, IPv6 brackets) applies.
		if !validMethod(method) || strings.ContainsAny(host, "/?#@ %\\[]") || host != strings.ToLower(host) ||
			strings.HasSuffix(strings.TrimRight(host, "0123456789:"), ".") {
			return
		}
		rng := rand.New(rand.NewPCG(seed, 7))
		compareWithServeMux(t, randomPatterns(rng, 1+int(n)%12), method, host, target)
	})
}
