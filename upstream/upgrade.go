package upstream

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// upgradeError is a failed protocol switch.
type upgradeError struct {
	msg    string
	status int
}

func (e *upgradeError) Error() string   { return e.msg }
func (e *upgradeError) HTTPStatus() int { return e.status }

var (
	// ErrUpgradeMismatch is answered (502) when the upstream switched to a
	// protocol other than the one the client asked for, or sent 101 to a
	// request that asked for no upgrade.
	ErrUpgradeMismatch error = &upgradeError{msg: "upstream: upstream switched to a protocol the client did not request", status: http.StatusBadGateway}
	// ErrUpgradeUnsupported is answered (502) when the transport returned a
	// 101 response whose body is not a writable connection, so the
	// upgraded protocol cannot be carried. (A client connection that cannot
	// be hijacked, HTTP/2 for example, is answered 500.)
	ErrUpgradeUnsupported error = &upgradeError{msg: "upstream: connection cannot be upgraded", status: http.StatusBadGateway}
)

var errHijackUnsupported = &upgradeError{msg: "upstream: client connection cannot be hijacked for the upgrade", status: http.StatusInternalServerError}

// handleUpgrade completes a 101 Switching Protocols: it checks the
// protocol, hijacks the client connection, writes the 101 and copies bytes
// both ways until either side ends or the connection idles for
// UpgradeIdleTimeout; then it closes both.
func (u *Upstream) handleUpgrade(w http.ResponseWriter, r *http.Request, res *http.Response, reqUp string) {
	resUp := upgradeType(res.Header)
	if !isPrintASCII(resUp) || reqUp == "" || !strings.EqualFold(reqUp, resUp) {
		_ = res.Body.Close()
		u.fail(w, r, ErrUpgradeMismatch)
		return
	}
	if u.cfg.ModifyResponse != nil {
		if err := u.cfg.ModifyResponse(res); err != nil {
			_ = res.Body.Close()
			u.fail(w, r, err)
			return
		}
	}
	backConn, ok := res.Body.(io.ReadWriteCloser)
	if !ok {
		_ = res.Body.Close()
		u.fail(w, r, ErrUpgradeUnsupported)
		return
	}
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		_ = backConn.Close()
		if errors.Is(err, http.ErrNotSupported) {
			err = errHijackUnsupported
		}
		u.fail(w, r, err)
		return
	}
	defer conn.Close()
	defer backConn.Close()

	// The 101 is written by hand: http.Response.Write would add
	// "Connection: close" to a response without a length.
	h := w.Header()
	for k, vv := range res.Header {
		if prior, ok := h[k]; ok {
			h[k] = append(prior, vv...)
		} else {
			h[k] = vv
		}
	}
	_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\n")
	_ = h.Write(brw)
	_, _ = brw.WriteString("\r\n")
	if err := brw.Flush(); err != nil {
		return
	}

	u.stats.upgradesTotal.Add(1)
	u.stats.upgradesActive.Add(1)
	defer u.stats.upgradesActive.Add(-1)

	var last atomic.Int64
	last.Store(time.Now().UnixNano())
	done := make(chan struct{}, 2)
	// Bytes the client sent right after its request may sit in brw.Reader.
	go u.copyConn(backConn, brw.Reader, &last, done)
	go u.copyConn(conn, backConn, &last, done)

	idle := u.cfg.UpgradeIdleTimeout
	t := time.NewTimer(idle)
	defer t.Stop()
	ctx := r.Context()
	finished := 0
wait:
	for {
		select {
		case <-done:
			finished++
			break wait
		case <-ctx.Done():
			break wait
		case <-t.C:
			since := time.Duration(time.Now().UnixNano() - last.Load())
			if since >= idle {
				break wait
			}
			t.Reset(idle - since)
		}
	}
	// Closing both ends unblocks the copier still running.
	_ = conn.Close()
	_ = backConn.Close()
	for ; finished < 2; finished++ {
		<-done
	}
}

// upgradeBufPool holds the buffers of upgraded connections. They are held
// for a connection's whole life (a blocked Read keeps its buffer), so they
// are smaller than response copy buffers: 16 KiB per WebSocket in all.
var upgradeBufPool = sync.Pool{New: func() any { b := make([]byte, 8<<10); return &b }}

// copyConn copies src to dst, recording the time of each transfer in last,
// and signals done when either side fails or src ends.
func (u *Upstream) copyConn(dst io.Writer, src io.Reader, last *atomic.Int64, done chan<- struct{}) {
	defer func() {
		if p := recover(); p != nil {
			u.log.LogAttrs(context.Background(), slog.LevelError, "upstream: panic copying an upgraded connection",
				slog.String("upstream", u.name), slog.Any("panic", p))
		}
		done <- struct{}{}
	}()
	bp := upgradeBufPool.Get().(*[]byte)
	defer upgradeBufPool.Put(bp)
	buf := *bp
	for {
		n, err := src.Read(buf)
		if n > 0 {
			last.Store(time.Now().UnixNano())
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
