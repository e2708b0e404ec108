//go:build linux

package h1

import (
	"syscall"
)

// liveness is the per-connection state of alive, built on first use so
// that a check allocates nothing afterwards.
type liveness struct {
	raw  syscall.RawConn
	peek func(fd uintptr) bool
	ok   bool
	buf  [1]byte
}

// alive reports whether an idle connection still looks open: a
// non-blocking MSG_PEEK read returning EAGAIN means nothing arrived, while
// EOF (the upstream closed it), an error or unexpected bytes mean it must not
// carry a request that cannot be retried. It costs one syscall and is used
// only for requests that [IsReplayable] rejects. Connections that are not
// syscall.Conns are assumed alive.
func (pc *conn) alive() bool {
	l := &pc.live
	if l.peek == nil {
		sc, ok := pc.nc.(syscall.Conn)
		if !ok {
			return true
		}
		raw, err := sc.SyscallConn()
		if err != nil {
			return false
		}
		l.raw = raw
		l.peek = func(fd uintptr) bool {
			_, _, err := syscall.Recvfrom(int(fd), l.buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
			l.ok = err == syscall.EAGAIN || err == syscall.EWOULDBLOCK
			return true
		}
	}
	l.ok = false
	err := l.raw.Read(l.peek)
	return err == nil && l.ok
}
