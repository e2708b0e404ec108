package h1

import (
	"bufio"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/http/httputil"
	"net/textproto"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDropInForReverseProxy runs the same behaviours through
// httputil.ReverseProxy with Client and with http.Transport as its
// Transport: both must give the client the same results.
func TestDropInForReverseProxy(t *testing.T) {
	t.Parallel()
	backend, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/echo":
			b, _ := io.ReadAll(r.Body)
			w.Header().Set("Trailer", "X-Checksum")
			_, _ = io.WriteString(w, r.Method+" "+r.URL.RawQuery+" "+strings.Join(r.TransferEncoding, ",")+" "+string(b))
			w.Header().Set("X-Checksum", "c0ffee")
		case "/hints":
			w.Header().Set("Link", "</a.css>; rel=preload")
			w.WriteHeader(http.StatusEarlyHints)
			_, _ = io.WriteString(w, "after hints")
		case "/upgrade":
			conn, brw, err := http.NewResponseController(w).Hijack()
			if err != nil {
				return
			}
			defer conn.Close()
			_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
			_ = brw.Flush()
			_, _ = io.Copy(conn, brw)
		}
	})
	target, err := url.Parse(backend.URL)
	require.NoError(t, err)

	transports := []struct {
		name string
		rt   http.RoundTripper
	}{
		{"h1", New(Config{})},
		{"http.Transport", &http.Transport{}},
	}
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			t.Parallel()
			rp := &httputil.ReverseProxy{
				Rewrite:   func(pr *httputil.ProxyRequest) { pr.SetURL(target) },
				Transport: tr.rt,
			}
			front := httptest.NewServer(rp)
			t.Cleanup(front.Close)
			t.Cleanup(func() { tr.rt.(interface{ CloseIdleConnections() }).CloseIdleConnections() })
			client := front.Client()

			// Streamed (chunked) request body, raw query kept, response
			// trailers. (ReverseProxy does not forward request trailers
			// with either transport: Request.Clone copies Trailer before
			// the body has filled it.)
			pr, pw := io.Pipe()
			req, err := http.NewRequest(http.MethodPost, front.URL+"/echo?a=%2F&b=c+d", pr)
			require.NoError(t, err)
			go func() {
				_, _ = io.WriteString(pw, "streamed body")
				pw.Close()
			}()
			resp, err := client.Do(req)
			require.NoError(t, err)
			b, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			resp.Body.Close()
			assert.Equal(t, "POST a=%2F&b=c+d chunked streamed body", string(b))
			assert.Equal(t, "c0ffee", resp.Trailer.Get("X-Checksum"))

			// 103 Early Hints forwarded.
			var hints []string
			ctx := httptrace.WithClientTrace(t.Context(), &httptrace.ClientTrace{
				Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
					hints = append(hints, h.Get("Link"))
					return nil
				},
			})
			req, err = http.NewRequestWithContext(ctx, http.MethodGet, front.URL+"/hints", nil)
			require.NoError(t, err)
			resp, err = client.Do(req)
			require.NoError(t, err)
			b, err = io.ReadAll(resp.Body)
			require.NoError(t, err)
			resp.Body.Close()
			assert.Equal(t, "after hints", string(b))
			assert.Equal(t, []string{"</a.css>; rel=preload"}, hints)

			// Upgrade: bytes flow both ways through the proxy.
			req, err = http.NewRequest(http.MethodGet, front.URL+"/upgrade", nil)
			require.NoError(t, err)
			req.Header.Set("Connection", "Upgrade")
			req.Header.Set("Upgrade", "echo")
			resp, err = client.Do(req)
			require.NoError(t, err)
			require.Equal(t, http.StatusSwitchingProtocols, resp.StatusCode)
			rwc := resp.Body.(io.ReadWriteCloser)
			_, err = io.WriteString(rwc, "ping\n")
			require.NoError(t, err)
			line, err := bufio.NewReader(rwc).ReadString('\n')
			require.NoError(t, err)
			assert.Equal(t, "ping\n", line)
			require.NoError(t, rwc.Close())
			assert.True(t, strings.HasPrefix(resp.Proto, "HTTP/1."))
		})
	}
}
