package h1

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// countingServer is an httptest.Server that counts accepted connections.
func countingServer(t *testing.T, h http.HandlerFunc) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			n.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, &n
}

// rawServer accepts TCP connections on loopback and runs handle on each,
// for upstreams that misbehave in ways net/http cannot.
type rawServer struct {
	ln       net.Listener
	accepted atomic.Int32
	done     chan struct{} // closed at cleanup: blocked handlers return

	mu    sync.Mutex
	conns []net.Conn // protected by mu
	wg    sync.WaitGroup
}

func newRawServer(t *testing.T, handle func(s *rawServer, c net.Conn, br *bufio.Reader)) *rawServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := &rawServer{ln: ln, done: make(chan struct{})}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.accepted.Add(1)
			s.mu.Lock()
			s.conns = append(s.conns, c)
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer c.Close()
				handle(s, c, bufio.NewReader(c))
			}()
		}
	}()
	t.Cleanup(func() {
		close(s.done)
		ln.Close()
		s.mu.Lock()
		for _, c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return s
}

func (s *rawServer) URL() string { return "http://" + s.ln.Addr().String() }

// readRequest reads one request head and its body from br.
func readRequest(br *bufio.Reader) (*http.Request, []byte, error) {
	req, err := http.ReadRequest(br)
	if err != nil {
		return nil, nil, err
	}
	b, err := io.ReadAll(req.Body)
	return req, b, err
}

func newClient(t *testing.T, cfg Config) *Client {
	t.Helper()
	c := New(cfg)
	t.Cleanup(c.CloseIdleConnections)
	return c
}

func get(t *testing.T, c *Client, url string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	resp, err := c.RoundTrip(req)
	require.NoError(t, err, "GET %s", url)
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err, "GET %s body", url)
	require.NoError(t, resp.Body.Close())
	return resp, string(b)
}

// stats returns the pool stats of the single host the client used.
func hostStats(c *Client, url string) HostStats {
	return c.Stats()[url[len("http://"):]]
}

// trackingBody records whether it was read and closed.
type trackingBody struct {
	r      io.Reader
	read   atomic.Bool
	closed atomic.Int32
}

func (b *trackingBody) Read(p []byte) (int, error) {
	b.read.Store(true)
	return b.r.Read(p)
}

func (b *trackingBody) Close() error {
	b.closed.Add(1)
	return nil
}

// pipeNet is an in-memory network for testing/synctest bubbles: Dial
// returns one end of a net.Pipe and serves the other with an http.Server.
type pipeNet struct {
	srv   *http.Server
	ch    chan net.Conn
	done  chan struct{}
	dials atomic.Int32
	once  sync.Once
}

func newPipeNet(t *testing.T, h http.Handler) *pipeNet {
	t.Helper()
	pn := &pipeNet{srv: &http.Server{Handler: h}, ch: make(chan net.Conn), done: make(chan struct{})}
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = pn.srv.Serve(pn)
	}()
	t.Cleanup(func() {
		_ = pn.srv.Close()
		<-served
	})
	return pn
}

func (pn *pipeNet) Dial(ctx context.Context, _, _ string) (net.Conn, error) {
	pn.dials.Add(1)
	c1, c2 := net.Pipe()
	select {
	case pn.ch <- c2:
		return c1, nil
	case <-pn.done:
		return nil, net.ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (pn *pipeNet) Accept() (net.Conn, error) {
	select {
	case c := <-pn.ch:
		return c, nil
	case <-pn.done:
		return nil, net.ErrClosed
	}
}

func (pn *pipeNet) Close() error {
	pn.once.Do(func() { close(pn.done) })
	return nil
}

func (pn *pipeNet) Addr() net.Addr { return pipeAddr{} }

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }

var errBoom = errors.New("boom")
