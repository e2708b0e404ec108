package middleware

import (
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
)

// newServer starts a real loopback server for h and returns it with a
// client of its own, both cleaned up when the test ends (so goleak sees no
// idle connection goroutines).
func newServer(t *testing.T, h http.Handler) (*httptest.Server, *http.Client) {
	t.Helper()
	srv := httptest.NewServer(h)
	tr := &http.Transport{DisableCompression: true}
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		srv.Close()
	})
	return srv, &http.Client{Transport: tr}
}

var netDialer net.Dialer
