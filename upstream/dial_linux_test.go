//go:build linux

package upstream

import (
	"net"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// blackholeAddr returns a loopback address whose listener never accepts and
// whose accept queue is full, so that new connections hang in the
// handshake: a dial there only ends with the dial timeout.
func blackholeAddr(t *testing.T) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	require.NoError(t, err)
	t.Cleanup(func() { syscall.Close(fd) })
	require.NoError(t, syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}))
	require.NoError(t, syscall.Listen(fd, 0))
	sa, err := syscall.Getsockname(fd)
	require.NoError(t, err)
	addr := (&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: sa.(*syscall.SockaddrInet4).Port}).String()
	// Fill the accept queue (backlog 0 holds one connection).
	for i := 0; ; i++ {
		require.Less(t, i, 16, "could not fill the accept queue")
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err != nil {
			break // the queue is full: SYNs are dropped now
		}
		t.Cleanup(func() { c.Close() })
	}
	return addr
}

func TestDialTimeout(t *testing.T) {
	t.Parallel()
	forEachPath(t, func(t *testing.T, p transportPath) {
		addr := blackholeAddr(t)
		u := newTestUpstream(t, p, Config{Discovery: endpointsOf(addr), DialTimeout: 50 * time.Millisecond})
		front, client := frontend(t, u)
		res, err := client.Get(front.URL)
		require.NoError(t, err)
		res.Body.Close()
		assert.Equal(t, http.StatusGatewayTimeout, res.StatusCode, "a dial that times out is a 504")
		assert.Equal(t, int64(1), u.Stats().Timeouts)
	})
}
