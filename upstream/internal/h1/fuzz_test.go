package h1

import (
	"bufio"
	"bytes"
	"net/http"
	"net/url"
	"testing"
)

// FuzzWriteHead checks that whatever a request holds, RoundTrip either
// rejects it or writes a head that parses back to the same method, target,
// Host and header fields: no input can inject a header line or a second
// request.
func FuzzWriteHead(f *testing.F) {
	f.Add("GET", "/a/b", "x=1&y=%zz", "api.example.com", "X-Custom", "value")
	f.Add("POST", "/", "", "h:8080", "X-A", "a\r\nX-Injected: 1")
	f.Add("GET", "/p q", "a b", "h", "Bad Name", "v")
	f.Add("PUT", "/%2F", "q=\x00", "h\r\nX: y", "X-B", "\t tabbed \t")
	f.Add("GET /x HTTP/1.1\r\n", "/", "", "h", "Content-Length", "5")
	c := New(Config{})
	f.Fuzz(func(t *testing.T, method, path, rawQuery, host, key, value string) {
		req := &http.Request{
			Method: method,
			URL:    &url.URL{Scheme: "http", Host: "upstream:80", Path: path, RawQuery: rawQuery},
			Host:   host,
			Header: http.Header{key: {value}},
		}
		if _, err := c.validate(req); err != nil {
			return
		}
		var buf bytes.Buffer
		bw := bufio.NewWriter(&buf)
		c.writeHead(bw, req, host, framing{})
		if err := bw.Flush(); err != nil {
			t.Fatal(err)
		}
		wire := buf.String()
		got, err := http.ReadRequest(bufio.NewReader(&buf))
		if err != nil {
			// net/http's server is stricter in places (e.g. Host syntax);
			// what matters is that nothing else was smuggled, checked below.
			if bytes.Count([]byte(wire), []byte("\r\n\r\n")) != 1 {
				t.Fatalf("head %q has more than one end", wire)
			}
			return
		}
		if buf.Len() != 0 {
			t.Fatalf("bytes after the head: %q", buf.String())
		}
		if got.Method != method {
			t.Fatalf("method %q written as %q", method, got.Method)
		}
		if got.Host != host {
			t.Fatalf("host %q written as %q", host, got.Host)
		}
		if got.RequestURI != req.URL.RequestURI() {
			t.Fatalf("target %q written as %q", req.URL.RequestURI(), got.RequestURI)
		}
		ck := http.CanonicalHeaderKey(key)
		if skipHeader(key, []string{value}) {
			return
		}
		n := 0
		for k, vv := range got.Header {
			if http.CanonicalHeaderKey(k) != ck {
				t.Fatalf("unexpected header %q in %q", k, wire)
			}
			n += len(vv)
		}
		if n != 1 {
			t.Fatalf("want one %q field, got %d in %q", key, n, wire)
		}
	})
}
