package router

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParsePattern(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in     string
		method string
		host   string
		segs   []segment
		names  []string
	}{
		{in: "/", segs: []segment{{kind: segMulti}}},
		{in: "/{$}", segs: []segment{{kind: segLit}}},
		{in: "GET /a/{id}", method: "GET", segs: []segment{{segLit, "a"}, {segWild, "id"}}, names: []string{"id"}},
		{in: "Example.COM./a/", host: "example.com", segs: []segment{{segLit, "a"}, {kind: segMulti}}},
		{in: "[::1]/a", host: "::1", segs: []segment{{segLit, "a"}}},
		{in: "*.Example.com/a", host: "*.example.com", segs: []segment{{segLit, "a"}}},
		{in: "/a%2Fb/{rest...}", segs: []segment{{segLit, "a/b"}, {segMulti, "rest"}}, names: []string{"rest"}},
		{in: "/a/{$}", segs: []segment{{segLit, "a"}, {segLit, ""}}},
		{in: "POST\t /x", method: "POST", segs: []segment{{segLit, "x"}}},
		{in: "/é/{ü}", segs: []segment{{segLit, "é"}, {segWild, "ü"}}, names: []string{"ü"}},
	}
	for _, tt := range tests {
		p, err := parsePattern(tt.in)
		require.NoError(t, err, tt.in)
		assert.Equal(t, tt.method, p.method, tt.in)
		assert.Equal(t, tt.host, p.host, tt.in)
		assert.Equal(t, tt.segs, p.segs, tt.in)
		assert.Equal(t, tt.names, p.names, tt.in)
	}
}

// FuzzParsePattern checks that the Router accepts a host-less pattern
// exactly when ServeMux does (below MaxParams wildcards).
func FuzzParsePattern(f *testing.F) {
	for _, s := range []string{"/", "/{$}", "GET /a/{b}", "/{a...}", "/a/{b}{c}", "/{x}/{x}", "/a}/b", "/{$}/x", "/{a-b}", "GET  /x", "/a//b", "/{", "/{}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		method, path, hasMethod := strings.Cut(s, " ")
		if !hasMethod {
			path = s
		}
		path = strings.TrimLeft(path, " \t")
		if !strings.HasPrefix(path, "/") || strings.Count(s, "{") > MaxParams {
			return // hosts are normalised differently; MaxParams is ours
		}
		if (!hasMethod || method == "") && path != cleanPath(path) {
			return // the Router also refuses method-less unclean paths
		}
		_, err := parsePattern(s)
		muxErr := func() (err any) {
			defer func() { err = recover() }()
			http.NewServeMux().Handle(s, http.NotFoundHandler())
			return nil
		}()
		if (err == nil) != (muxErr == nil) {
			t.Fatalf("pattern %q: router error %v, ServeMux panic %v", s, err, muxErr)
		}
	})
}
