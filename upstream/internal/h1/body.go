package h1

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
)

// maxDrain is the largest unread remainder that Close reads (from bytes
// already buffered, never waiting on the network) to keep the connection.
const maxDrain = 4 << 10

// Body states.
const (
	bodyIdle    = iota // no Read in progress
	bodyReading        // a Read is in progress
	bodyClosing        // Close was called during a Read
	bodyDone           // the connection was released or closed
)

// body is the response body: it reads from the connection on the caller's
// goroutine and ends the exchange at EOF, on error or on Close.
type body struct {
	c      *Client
	pc     *conn
	ctx    context.Context
	rc     io.ReadCloser // from http.ReadResponse: framing and trailers
	stop   func() bool   // stops the context interrupt
	reuse  bool          // the response allows keep-alive
	length int64         // Content-Length, -1 if unknown
	n      int64         // bytes read
	state  atomic.Int32
	eof    bool // set before the state becomes bodyDone after EOF
}

func (b *body) Read(p []byte) (int, error) {
	if !b.state.CompareAndSwap(bodyIdle, bodyReading) {
		if b.state.Load() == bodyDone && b.eof {
			return 0, io.EOF
		}
		return 0, ErrBodyClosed
	}
	timed := b.c.cfg.ReadTimeout > 0 && len(p) > 0
	if timed {
		if err := b.pc.setReadDeadline(b.ctx, b.c.timeNow().Add(b.c.cfg.ReadTimeout)); err != nil {
			b.finish(false)
			return 0, fmt.Errorf("h1: read response body: %w", err)
		}
	}
	n, err := b.rc.Read(p)
	b.n += int64(n)
	if err == nil {
		if b.state.CompareAndSwap(bodyReading, bodyIdle) {
			return n, nil
		}
		// Close was called during the Read and interrupted the conn.
		b.finish(false)
		return n, ErrBodyClosed
	}
	if err == io.EOF {
		b.eof = true
		b.finish(b.reuse)
		return n, io.EOF
	}
	closing := !b.finish(false)
	switch {
	case closing:
		err = ErrBodyClosed
	case b.ctx.Err() != nil:
		err = fmt.Errorf("h1: read response body: %w", b.ctx.Err())
	case timed && errors.Is(err, os.ErrDeadlineExceeded):
		err = ErrReadTimeout
	default:
		err = fmt.Errorf("h1: read response body: %w", err)
	}
	return n, err
}

// finish releases or closes the connection; it runs once, by the goroutine
// that owns the reading side (state bodyReading or bodyClosing). The
// connection is reused only if Close did not claim it concurrently: Close
// then interrupts the connection, which must not be back in the pool. It
// reports whether Close had not been called.
func (b *body) finish(reuse bool) bool {
	open := b.state.CompareAndSwap(bodyReading, bodyDone)
	if !open {
		b.state.Store(bodyDone)
		reuse = false
	}
	b.c.release(b.pc, b.stop, reuse)
	return open
}

// Close ends the body. After a complete read it does nothing (the
// connection is already back in the pool). Before EOF it keeps the
// connection only when the rest of the body (at most maxDrain bytes) is
// already buffered; otherwise it closes the connection. Close may be called
// concurrently with Read, which then returns ErrBodyClosed.
func (b *body) Close() error {
	for {
		switch b.state.Load() {
		case bodyIdle:
			if !b.state.CompareAndSwap(bodyIdle, bodyReading) {
				continue
			}
			b.finish(b.drain())
			return nil
		case bodyReading:
			if b.state.CompareAndSwap(bodyReading, bodyClosing) {
				b.pc.interrupt() // the reader sees bodyClosing and finishes
				return nil
			}
		default:
			return nil
		}
	}
}

// drain reads the rest of the body if it is known to be all buffered.
func (b *body) drain() bool {
	if !b.reuse || b.length < 0 || b.ctx.Err() != nil {
		return false
	}
	rest := b.length - b.n
	if rest > maxDrain || rest > int64(b.pc.br.Buffered()) {
		return false
	}
	_, err := io.Copy(io.Discard, b.rc)
	return err == nil
}

// upgradeBody is the Body of a 101 Switching Protocols response: the raw
// connection, read through its buffer. Like net/http's, it is an
// io.ReadWriteCloser. The connection is never reused.
type upgradeBody struct {
	c    *Client
	pc   *conn
	once sync.Once
}

func (u *upgradeBody) Read(p []byte) (int, error)  { return u.pc.br.Read(p) }
func (u *upgradeBody) Write(p []byte) (int, error) { return u.pc.nc.Write(p) }

func (u *upgradeBody) Close() error {
	err := errors.ErrUnsupported
	u.once.Do(func() {
		err = u.pc.nc.Close()
		u.pc.pool.release()
	})
	if err == errors.ErrUnsupported {
		return nil
	}
	return err
}
