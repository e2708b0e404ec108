package router

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMatcherHeader(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		m    Matcher
		h    http.Header
		want bool
	}{
		{name: "value equal", m: Matcher{Name: "x-version", Value: "2"}, h: http.Header{"X-Version": {"2"}}, want: true},
		{name: "value differs", m: Matcher{Name: "X-Version", Value: "2"}, h: http.Header{"X-Version": {"20"}}, want: false},
		{name: "value case-sensitive", m: Matcher{Name: "X-Env", Value: "Prod"}, h: http.Header{"X-Env": {"prod"}}, want: false},
		{name: "value any of several", m: Matcher{Name: "X-Env", Value: "b"}, h: http.Header{"X-Env": {"a", "b"}}, want: true},
		{name: "value absent", m: Matcher{Name: "X-Env", Value: "b"}, h: http.Header{}, want: false},
		{name: "value not split at commas", m: Matcher{Name: "X-Env", Value: "b"}, h: http.Header{"X-Env": {"a, b"}}, want: false},
		{name: "present with empty value", m: Matcher{Name: "X-Debug", Present: true}, h: http.Header{"X-Debug": {""}}, want: true},
		{name: "present absent", m: Matcher{Name: "X-Debug", Present: true}, h: http.Header{}, want: false},
		{name: "absent via invert", m: Matcher{Name: "X-Debug", Present: true, Invert: true}, h: http.Header{}, want: true},
		{name: "inverted present fails", m: Matcher{Name: "X-Debug", Present: true, Invert: true}, h: http.Header{"X-Debug": {"1"}}, want: false},
		{name: "regexp anchored", m: Matcher{Name: "User-Agent", Regexp: "curl/.*"}, h: http.Header{"User-Agent": {"curl/8.5"}}, want: true},
		{name: "regexp must match whole value", m: Matcher{Name: "User-Agent", Regexp: "curl"}, h: http.Header{"User-Agent": {"x curl/8.5"}}, want: false},
		{name: "regexp alternation anchored as a group", m: Matcher{Name: "X-V", Regexp: "1|2"}, h: http.Header{"X-V": {"12"}}, want: false},
		{name: "regexp empty value", m: Matcher{Name: "X-V", Regexp: "^$"}, h: http.Header{"X-V": {""}}, want: true},
		{name: "inverted value on absent", m: Matcher{Name: "X-V", Value: "1", Invert: true}, h: http.Header{}, want: true},
		{name: "inverted value on match", m: Matcher{Name: "X-V", Value: "1", Invert: true}, h: http.Header{"X-V": {"1"}}, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cm, err := compileMatcher(tt.m, true)
			require.NoError(t, err)
			assert.Equal(t, tt.want, cm.matchHeader(tt.h), "%+v on %v", tt.m, tt.h)
		})
	}
}

func TestMatcherQuery(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		m    Matcher
		raw  string
		want bool
	}{
		{name: "value", m: Matcher{Name: "v", Value: "2"}, raw: "a=1&v=2", want: true},
		{name: "value decoded", m: Matcher{Name: "q", Value: "a b/c"}, raw: "q=a+b%2Fc", want: true},
		{name: "name decoded", m: Matcher{Name: "a b", Value: "1"}, raw: "a%20b=1", want: true},
		{name: "name case-sensitive", m: Matcher{Name: "V", Value: "2"}, raw: "v=2", want: false},
		{name: "second of repeated", m: Matcher{Name: "v", Value: "2"}, raw: "v=1&v=2", want: true},
		{name: "present without =", m: Matcher{Name: "debug", Present: true}, raw: "debug", want: true},
		{name: "present empty", m: Matcher{Name: "debug", Present: true}, raw: "debug=", want: true},
		{name: "present absent", m: Matcher{Name: "debug", Present: true}, raw: "debugx=1", want: false},
		{name: "semicolon pair skipped", m: Matcher{Name: "v", Value: "2"}, raw: "v=2;x=1", want: false},
		{name: "bad escape skipped", m: Matcher{Name: "v", Present: true}, raw: "v=%zz", want: false},
		{name: "regexp plain", m: Matcher{Name: "id", Regexp: "[0-9]+"}, raw: "id=123", want: true},
		{name: "regexp decoded", m: Matcher{Name: "name", Regexp: "a b"}, raw: "name=a%20b", want: true},
		{name: "regexp no match", m: Matcher{Name: "id", Regexp: "[0-9]+"}, raw: "id=12x", want: false},
		{name: "empty query", m: Matcher{Name: "id", Present: true}, raw: "", want: false},
		{name: "inverted absent", m: Matcher{Name: "id", Present: true, Invert: true}, raw: "", want: true},
		{name: "empty pairs", m: Matcher{Name: "v", Value: "1"}, raw: "&&v=1&", want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cm, err := compileMatcher(tt.m, false)
			require.NoError(t, err)
			assert.Equal(t, tt.want, cm.matchQuery(tt.raw), "%+v on %q", tt.m, tt.raw)
		})
	}
}

func TestEqUnescaped(t *testing.T) {
	t.Parallel()
	tests := []struct {
		esc, plain string
		query      bool
		want       bool
	}{
		{"abc", "abc", false, true},
		{"a%2Fb", "a/b", false, true},
		{"a%2fb", "a/b", false, true},
		{"a+b", "a+b", false, true},
		{"a+b", "a b", true, true},
		{"a%zz", "a%zz", false, true}, // invalid escape compared raw in path mode
		{"a%zz", "a%zz", true, false},
		{"a%2", "a%2", false, true},
		{"%41", "A", false, true},
		{"%41", "AB", false, false},
		{"ab", "a", false, false},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, eqUnescaped(tt.esc, tt.plain, tt.query), "%q vs %q query=%v", tt.esc, tt.plain, tt.query)
	}
}
