package h1

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"time"
)

// noLimit disables the header read limit of a conn.
const noLimit = math.MaxInt64

// aLongTimeAgo is a deadline in the past, used to interrupt blocked I/O.
var aLongTimeAgo = time.Unix(1, 0)

var errHeaderLimit = errors.New("h1: header read limit reached")

// conn is one pooled connection. Only the goroutine that holds it (between
// getConn and put/discard) touches its non-immutable fields.
type conn struct {
	nc   net.Conn
	pool *hostPool
	br   *bufio.Reader // reads through the conn's Read (counting, limiting)

	interrupt func() // sets a past deadline; passed to context.AfterFunc

	reused   bool      // served a request before (came from the pool)
	requests int       // requests written on it
	created  time.Time // when it was dialled
	idleAt   time.Time // when it was put in the pool
	nread    int64     // bytes read from nc, to tell "nothing read yet"
	limit    int64     // bytes that may still be read while reading headers
	live     liveness  // state of alive
}

func newConn(nc net.Conn, p *hostPool, bufSize int, now time.Time) *conn {
	pc := &conn{nc: nc, pool: p, limit: noLimit, created: now}
	pc.br = bufio.NewReaderSize(pc, bufSize)
	pc.interrupt = func() { _ = nc.SetDeadline(aLongTimeAgo) }
	return pc
}

// Read implements io.Reader for br: it counts bytes and enforces the
// response header limit.
func (pc *conn) Read(p []byte) (int, error) {
	if pc.limit <= 0 {
		return 0, errHeaderLimit
	}
	if int64(len(p)) > pc.limit {
		p = p[:pc.limit]
	}
	n, err := pc.nc.Read(p)
	pc.nread += int64(n)
	if pc.limit != noLimit {
		pc.limit -= int64(n)
	}
	return n, err
}

// setReadDeadline sets the read deadline, then reports the context's error
// if it has ended: the context's interrupt sets a past deadline, which this
// call may just have overwritten.
func (pc *conn) setReadDeadline(ctx context.Context, t time.Time) error {
	if err := pc.nc.SetReadDeadline(t); err != nil {
		return fmt.Errorf("h1: %w", err)
	}
	return ctx.Err() // mapped by the caller
}

// setWriteDeadline is setReadDeadline for writes.
func (pc *conn) setWriteDeadline(ctx context.Context, t time.Time) error {
	if err := pc.nc.SetWriteDeadline(t); err != nil {
		return fmt.Errorf("h1: %w", err)
	}
	return ctx.Err() // mapped by the caller
}
