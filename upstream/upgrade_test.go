package upstream

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// wsEcho is a WebSocket-like backend: it answers an Upgrade with 101 for the
// protocol given (or the one asked) and then echoes each line upper-cased
// until the client closes.
func wsEcho(proto string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		asked := r.Header.Get("Upgrade")
		if asked == "" || !strings.EqualFold(r.Header.Get("Connection"), "upgrade") {
			http.Error(w, "upgrade required", http.StatusUpgradeRequired)
			return
		}
		if proto == "" {
			proto = asked
		}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: " + proto +
			"\r\nX-Backend: ws\r\n\r\n")
		_ = brw.Flush()
		for {
			line, err := brw.ReadString('\n')
			if err != nil {
				return
			}
			_, _ = brw.WriteString(strings.ToUpper(line))
			_ = brw.Flush()
		}
	}
}

// dialUpgrade opens a raw connection to the front server and sends an
// upgrade request; it returns the connection, a reader, and the response.
func dialUpgrade(t *testing.T, frontURL, proto string) (net.Conn, *bufio.Reader, *http.Response) {
	t.Helper()
	c, err := net.Dial("tcp", hostOf(t, frontURL))
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	req, _ := http.NewRequest("GET", frontURL+"/ws", nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", proto)
	require.NoError(t, req.Write(c))
	br := bufio.NewReader(c)
	res, err := http.ReadResponse(br, req)
	require.NoError(t, err)
	return c, br, res
}

func TestUpgradeEcho(t *testing.T) {
	t.Parallel()
	forEachPath(t, func(t *testing.T, p transportPath) {
		addr := backend(t, wsEcho(""))
		u := newTestUpstream(t, p, Config{Discovery: endpointsOf(addr)})
		handled := make(chan struct{})
		front, _ := frontend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			defer close(handled)
			u.ServeHTTP(w, r)
		}))
		c, br, res := dialUpgrade(t, front.URL, "websocket")
		require.Equal(t, http.StatusSwitchingProtocols, res.StatusCode)
		assert.Equal(t, "websocket", res.Header.Get("Upgrade"))
		assert.Equal(t, []string{"Upgrade"}, res.Header.Values("Connection"))
		assert.Equal(t, "ws", res.Header.Get("X-Backend"))

		for _, msg := range []string{"hello\n", "second frame\n"} {
			_, err := io.WriteString(c, msg)
			require.NoError(t, err)
			got, err := br.ReadString('\n')
			require.NoError(t, err)
			assert.Equal(t, strings.ToUpper(msg), got)
		}
		assert.Equal(t, int64(1), u.Stats().UpgradesActive)
		require.NoError(t, c.Close())
		<-handled // the proxy closed both sides and returned
		s := u.Stats()
		assert.Equal(t, int64(0), s.UpgradesActive)
		assert.Equal(t, int64(1), s.UpgradesTotal)
	})
}

func TestUpgradeBackendClosesEndsClient(t *testing.T) {
	t.Parallel()
	forEachPath(t, func(t *testing.T, p transportPath) {
		addr := backend(t, func(w http.ResponseWriter, r *http.Request) {
			conn, brw, err := http.NewResponseController(w).Hijack()
			if err != nil {
				return
			}
			_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nbye\n")
			_ = brw.Flush()
			_ = conn.Close()
		})
		u := newTestUpstream(t, p, Config{Discovery: endpointsOf(addr)})
		front, _ := frontend(t, u)
		_, br, res := dialUpgrade(t, front.URL, "websocket")
		require.Equal(t, http.StatusSwitchingProtocols, res.StatusCode)
		rest, err := io.ReadAll(br)
		require.NoError(t, err, "the client side is closed when the backend ends")
		assert.Equal(t, "bye\n", string(rest))
	})
}

func TestUpgradeIdleTimeout(t *testing.T) {
	t.Parallel()
	forEachPath(t, func(t *testing.T, p transportPath) {
		addr := backend(t, wsEcho(""))
		u := newTestUpstream(t, p, Config{Discovery: endpointsOf(addr), UpgradeIdleTimeout: 200 * time.Millisecond})
		front, _ := frontend(t, u)
		c, br, res := dialUpgrade(t, front.URL, "websocket")
		require.Equal(t, http.StatusSwitchingProtocols, res.StatusCode)
		_, err := io.WriteString(c, "ping\n")
		require.NoError(t, err)
		got, err := br.ReadString('\n')
		require.NoError(t, err)
		assert.Equal(t, "PING\n", got)
		// Nothing more is sent: the proxy closes the idle connection.
		rest, err := io.ReadAll(br)
		assert.NoError(t, err)
		assert.Empty(t, rest)
	})
}

func TestUpgradeProtocolMismatch(t *testing.T) {
	t.Parallel()
	forEachPath(t, func(t *testing.T, p transportPath) {
		addr := backend(t, wsEcho("h2c"))
		u := newTestUpstream(t, p, Config{Discovery: endpointsOf(addr)})
		front, _ := frontend(t, u)
		_, _, res := dialUpgrade(t, front.URL, "websocket")
		assert.Equal(t, http.StatusBadGateway, res.StatusCode)
		assert.Equal(t, int64(0), u.Stats().UpgradesTotal)
	})
}

func TestUpgradeRefusedIsPlainResponse(t *testing.T) {
	t.Parallel()
	forEachPath(t, func(t *testing.T, p transportPath) {
		addr := backend(t, func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusForbidden)
		})
		u := newTestUpstream(t, p, Config{Discovery: endpointsOf(addr)})
		front, _ := frontend(t, u)
		_, _, res := dialUpgrade(t, front.URL, "websocket")
		assert.Equal(t, http.StatusForbidden, res.StatusCode)
	})
}

func TestUpgradeInvalidProtocolRejected(t *testing.T) {
	t.Parallel()
	forEachPath(t, func(t *testing.T, p transportPath) {
		reached := make(chan struct{}, 1)
		addr := backend(t, func(w http.ResponseWriter, r *http.Request) { reached <- struct{}{} })
		u := newTestUpstream(t, p, Config{Discovery: endpointsOf(addr)})
		front, _ := frontend(t, u)
		c, err := net.Dial("tcp", hostOf(t, front.URL))
		require.NoError(t, err)
		defer c.Close()
		_, err = io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: web\xc3\xb6socket\r\n\r\n")
		require.NoError(t, err)
		res, err := http.ReadResponse(bufio.NewReader(c), nil)
		require.NoError(t, err)
		res.Body.Close()
		assert.Equal(t, http.StatusBadRequest, res.StatusCode)
		assert.Empty(t, reached, "never sent upstream")
	})
}
