package redislimit

import (
	"bytes"
	"context"
	"net"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const redisBinary = "/usr/bin/redis-server"

// testTimeout is the Redis timeout of tests that count rather than time
// decisions: generous, because the machine running -race may be slow.
const testTimeout = 5 * time.Second

// redisServer is a real redis-server process on a loopback port, started
// and stopped (by PID) by the test.
type redisServer struct {
	tb   testing.TB
	port int
	args []string // extra server arguments
	mu   sync.Mutex
	// protects cmd and exited
	cmd    *exec.Cmd
	exited chan error
}

// readyWriter collects redis-server's log and closes ready when the server
// says it accepts connections: the test waits on that event, not a sleep.
type readyWriter struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	ready chan struct{}
	once  sync.Once
}

func (w *readyWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if bytes.Contains(w.buf.Bytes(), []byte("Ready to accept connections")) {
		w.once.Do(func() { close(w.ready) })
	}
	return len(p), nil
}

func (w *readyWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

func freePort(tb testing.TB) int {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(tb, err)
	port := ln.Addr().(*net.TCPAddr).Port
	require.NoError(tb, ln.Close())
	return port
}

func startRedis(tb testing.TB, args ...string) *redisServer {
	tb.Helper()
	s := &redisServer{tb: tb, port: freePort(tb), args: args}
	s.start()
	tb.Cleanup(s.stop)
	return s
}

func (s *redisServer) addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

func (s *redisServer) start() {
	s.tb.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	w := &readyWriter{ready: make(chan struct{})}
	args := append([]string{"--port", strconv.Itoa(s.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--protected-mode", "no"}, s.args...)
	cmd := exec.Command(redisBinary, args...)
	cmd.Stdout, cmd.Stderr = w, w
	require.NoError(s.tb, cmd.Start(), "start %s", redisBinary)
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case <-w.ready:
	case err := <-exited:
		s.tb.Fatalf("redis-server exited before ready: %v\n%s", err, w.String())
	}
	s.cmd = cmd
	// Keep the exit channel for stop.
	s.exited = exited
}

// stop kills the server by its PID and waits for it.
func (s *redisServer) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.exited
	s.cmd = nil
}

func (s *redisServer) client(tb testing.TB) *redis.Client {
	tb.Helper()
	c := redis.NewClient(&redis.Options{Addr: s.addr(), MaxRetries: -1, PoolSize: 64, DisableIdentity: true, ContextTimeoutEnabled: true})
	tb.Cleanup(func() { _ = c.Close() })
	require.NoError(tb, c.Ping(context.Background()).Err())
	return c
}
