package upstream

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatewaykit/gateway/internal/respwriter"
)

// TestThroughRespwriter runs the behaviours that need the raw connection
// (hijack, flush, 1xx) behind the project's one ResponseWriter wrapper, as
// the gateway's middleware put it in front of the proxy.
func TestThroughRespwriter(t *testing.T) {
	t.Parallel()
	forEachPath(t, func(t *testing.T, p transportPath) {
		next := make(chan struct{})
		addr := backend(t, func(w http.ResponseWriter, r *http.Request) {
			switch r.URL.Path {
			case "/ws":
				wsEcho("")(w, r)
			case "/sse":
				w.Header().Set("Content-Type", "text/event-stream")
				_, _ = io.WriteString(w, "data: 1\n\n")
				http.NewResponseController(w).Flush()
				<-next
			case "/hints":
				w.Header().Set("Link", "</a.js>; rel=preload")
				w.WriteHeader(http.StatusEarlyHints)
				_, _ = io.WriteString(w, "ok")
			}
		})
		u := newTestUpstream(t, p, Config{Discovery: endpointsOf(addr)})
		var statuses = make(chan int, 8)
		front, client := frontend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rw := respwriter.New(w)
			u.ServeHTTP(rw, r)
			statuses <- rw.Status()
		}))

		// Upgrade: hijacked through the wrapper.
		c, br, res := dialUpgrade(t, front.URL, "websocket")
		require.Equal(t, http.StatusSwitchingProtocols, res.StatusCode)
		_, err := io.WriteString(c, "via wrapper\n")
		require.NoError(t, err)
		line, err := br.ReadString('\n')
		require.NoError(t, err)
		assert.Equal(t, "VIA WRAPPER\n", line)
		c.Close()
		assert.Equal(t, http.StatusSwitchingProtocols, <-statuses, "the wrapper records the upgrade")

		// Streaming: flushed through the wrapper.
		res, err = client.Get(front.URL + "/sse")
		require.NoError(t, err)
		line, err = bufio.NewReader(res.Body).ReadString('\n')
		require.NoError(t, err)
		assert.Equal(t, "data: 1\n", line)
		close(next)
		res.Body.Close()
		assert.Equal(t, http.StatusOK, <-statuses)

		// 1xx: passed through the wrapper, the final status recorded.
		var hints []string
		trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
			hints = append(hints, h.Get("Link"))
			return nil
		}}
		req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), "GET", front.URL+"/hints", nil)
		res, err = client.Do(req)
		require.NoError(t, err)
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		assert.Equal(t, "ok", strings.TrimSpace(string(body)))
		assert.Equal(t, []string{"</a.js>; rel=preload"}, hints)
		assert.Equal(t, http.StatusOK, <-statuses)
	})
}
