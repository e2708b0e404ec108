//go:build linux

package h1

import (
	"net"
	"syscall"
)

// alive reports whether an idle connection still looks open: a
// non-blocking MSG_PEEK read returning EAGAIN means nothing arrived, while
// EOF (the upstream closed it), an error or unexpected bytes mean it must not
// carry a request that cannot be retried. It costs one syscall and is used
// only for requests that [IsReplayable] rejects. Connections that are not
// syscall.Conns are assumed alive.
func alive(nc net.Conn) bool {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return true
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	ok = false
	var buf [1]byte
	err = rc.Read(func(fd uintptr) bool {
		_, _, rerr := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		ok = rerr == syscall.EAGAIN || rerr == syscall.EWOULDBLOCK
		return true
	})
	return err == nil && ok
}
