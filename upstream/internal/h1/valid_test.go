package h1

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestValidators(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		fn   func(string) bool
		in   string
		want bool
	}{
		{"token", validToken, "GET", true},
		{"token with symbols", validToken, "X-Custom_Header.v1~!", true},
		{"empty token", validToken, "", false},
		{"token with space", validToken, "GET /", false},
		{"token with colon", validToken, "Host:", false},
		{"token with non-ASCII", validToken, "Ünï", false},
		{"field value", validFieldValue, "text/html; q=0.9", true},
		{"field value with tab and obs-text", validFieldValue, "a\tb\x80\xff", true},
		{"field value with CR", validFieldValue, "a\rb", false},
		{"field value with LF", validFieldValue, "a\nb", false},
		{"field value with NUL", validFieldValue, "a\x00", false},
		{"field value with DEL", validFieldValue, "a\x7f", false},
		{"host name and port", validHost, "api.example.com:8080", true},
		{"host IPv6 literal", validHost, "[2001:db8::1]:443", true},
		{"host userinfo", validHost, "user@h", true},
		{"host with space", validHost, "a b", false},
		{"host with slash", validHost, "a/b", false},
		{"host with CRLF", validHost, "a\r\nb", false},
		{"trailer allowed", validTrailerName, "X-Checksum", true},
		{"trailer Content-Length", validTrailerName, "content-length", false},
		{"trailer Authorization", validTrailerName, "Authorization", false},
		{"trailer Transfer-Encoding", validTrailerName, "Transfer-Encoding", false},
		{"target", validTarget, "a=%zz&b=c+d", true},
		{"target with space", validTarget, "a=b c", false},
		{"target with CR", validTarget, "a\r", false},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, tt.fn(tt.in), "%s: %q", tt.name, tt.in)
	}
}

func TestCanonicalAddr(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, in, want string }{
		{"with port", "a:8080", "a:8080"},
		{"without port", "a", "a:80"},
		{"IPv6 with port", "[::1]:81", "[::1]:81"},
		{"IPv6 without port", "[::1]", "[::1]:80"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, canonicalAddr(tt.in), tt.name)
	}
}
