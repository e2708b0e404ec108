package gatewaytest_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatewaykit/gateway"
	"github.com/gatewaykit/gateway/gatewaytest"
)

func TestUpstreamRecords(t *testing.T) {
	t.Parallel()
	u := gatewaytest.NewUpstream(t, nil)
	req, _ := http.NewRequest("POST", u.URL+"/a/b?x=1;y", strings.NewReader("payload"))
	req.Header.Set("X-Test", "1")
	resp, err := u.Client().Do(req)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, "ok", string(body))

	require.Equal(t, 1, u.Count())
	last := u.Last(t)
	assert.Equal(t, "POST", last.Method)
	assert.Equal(t, "/a/b?x=1;y", last.RequestURI)
	assert.Equal(t, "payload", string(last.Body))
	assert.Equal(t, "1", last.Header.Get("X-Test"))
	assert.Equal(t, u.Addr(), last.Host)
	assert.Len(t, u.Requests(), 1)
}

func TestReadProblem(t *testing.T) {
	t.Parallel()
	gw := gateway.New(gateway.Config{})
	resp := gatewaytest.Do(gw, mustRequest(t, "GET", "/missing"))
	p := gatewaytest.ReadProblem(t, resp)
	assert.Equal(t, 404, p.Status)
	assert.Equal(t, "/missing", p.Instance)
	assert.NotEmpty(t, p.RequestID)
}

func mustRequest(t *testing.T, method, target string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, "http://gw.test"+target, nil)
	require.NoError(t, err)
	req.RemoteAddr = "127.0.0.1:1234"
	return req
}
