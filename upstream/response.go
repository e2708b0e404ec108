package upstream

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// copyBufPool holds the 32 KiB buffers response bodies are copied through.
var copyBufPool = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// removeHopByHop deletes from h the hop-by-hop headers and those named in
// its Connection header.
func removeHopByHop(h http.Header) {
	for _, v := range h["Connection"] {
		for len(v) > 0 {
			var tok string
			tok, v = nextToken(v)
			if tok != "" {
				h.Del(tok)
			}
		}
	}
	for _, k := range [...]string{"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
		"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"} {
		delete(h, k)
	}
}

// copyResponse sends res to the client: headers without hop-by-hop ones,
// the status, the body (flushed as the response asks) and the trailers.
func (u *Upstream) copyResponse(w http.ResponseWriter, r *http.Request, res *http.Response, stall *stallWatch) {
	removeHopByHop(res.Header)
	if u.cfg.ModifyResponse != nil {
		if err := u.cfg.ModifyResponse(res); err != nil {
			_ = res.Body.Close()
			u.fail(w, r, err)
			return
		}
	}
	dst := w.Header()
	for k, vv := range res.Header {
		if prior, ok := dst[k]; ok {
			dst[k] = append(prior, vv...)
		} else {
			dst[k] = vv
		}
	}
	announced := len(res.Trailer)
	if announced > 0 {
		// The transports drop the Trailer header; rebuild it from the map.
		keys := make([]string, 0, announced)
		for k := range res.Trailer {
			keys = append(keys, k)
		}
		dst["Trailer"] = []string{strings.Join(keys, ", ")}
		// Trailers need chunked framing on HTTP/1.1; an HTTP/2 upstream may
		// have sent a Content-Length along with them.
		delete(dst, "Content-Length")
	}
	w.WriteHeader(res.StatusCode)

	werr, rerr := u.copyBody(w, res, stall)
	if werr != nil || rerr != nil {
		_ = res.Body.Close()
		if werr != nil || errors.Is(r.Context().Err(), context.Canceled) {
			// The client went away; there is nobody to tell.
			u.stats.clientGone.Add(1)
			return
		}
		u.stats.aborted.Add(1)
		u.log.LogAttrs(r.Context(), slog.LevelWarn, "upstream: response body failed after the status was sent",
			slog.String("upstream", u.name), slog.String("error", rerr.Error()))
		// The status is out: the only honest signal left is to abort the
		// client connection (net/http issue 23643), as ReverseProxy does,
		// rather than end a truncated body as if it were whole. Outside an
		// http.Server (a recorder in a test) nobody would recover.
		if r.Context().Value(http.ServerContextKey) != nil {
			panic(http.ErrAbortHandler)
		}
		return
	}
	_ = res.Body.Close() // populates res.Trailer

	if len(res.Trailer) > 0 {
		// Force chunking so that net/http sends the trailers.
		_ = http.NewResponseController(w).Flush()
	}
	if len(res.Trailer) == announced {
		for k, vv := range res.Trailer {
			dst[k] = vv
		}
		return
	}
	for k, vv := range res.Trailer {
		k = http.TrailerPrefix + k
		dst[k] = append(dst[k], vv...)
	}
}

// flushMode tells how the response body is flushed to the client.
type flushMode int

const (
	flushNone      flushMode = iota // let net/http buffer
	flushImmediate                  // after every write
	flushPeriodic                   // every Config.FlushInterval
)

func (u *Upstream) flushModeFor(res *http.Response) flushMode {
	if res.ContentLength == -1 || res.Header.Get("X-Accel-Buffering") == "no" {
		return flushImmediate
	}
	if ct := res.Header.Get("Content-Type"); len(ct) >= 17 && strings.EqualFold(ct[:17], "text/event-stream") {
		if base, _, _ := mime.ParseMediaType(ct); base == "text/event-stream" {
			return flushImmediate
		}
	}
	if u.cfg.FlushInterval > 0 {
		return flushPeriodic
	}
	return flushNone
}

// ErrReadTimeout is the cause recorded when the upstream sent no response
// body byte for Config.ReadTimeout; the response is then abandoned.
var ErrReadTimeout error = &timeoutError{msg: "upstream: timeout reading the response body"}

type timeoutError struct{ msg string }

// stallWatch cancels the upstream request of a response whose body stalls.
type stallWatch struct {
	fired  atomic.Bool
	cancel context.CancelCauseFunc
}

func (s *stallWatch) fire() {
	s.fired.Store(true)
	s.cancel(ErrReadTimeout)
}

func (e *timeoutError) Error() string   { return e.msg }
func (e *timeoutError) Timeout() bool   { return true }
func (e *timeoutError) Temporary() bool { return true }

// copyBody copies res.Body to w through a pooled buffer, returning the
// error of the client side (write) or of the upstream side (read). When
// stall is non-nil, a read that waits longer than Config.ReadTimeout
// cancels the upstream request with ErrReadTimeout.
func (u *Upstream) copyBody(w http.ResponseWriter, res *http.Response, stall *stallWatch) (werr, rerr error) {
	mode := u.flushModeFor(res)
	var rc *http.ResponseController
	var lf *latencyFlusher
	switch mode {
	case flushImmediate:
		rc = http.NewResponseController(w)
		// Send the headers now: a stream may take long for its first byte.
		if err := rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
			return err, nil
		}
	case flushPeriodic:
		lf = newLatencyFlusher(w, u.cfg.FlushInterval)
		defer lf.stop()
	}
	var idle *time.Timer
	if stall != nil {
		idle = time.AfterFunc(u.cfg.ReadTimeout, stall.fire)
		defer idle.Stop()
	}
	bp := copyBufPool.Get().(*[]byte)
	defer copyBufPool.Put(bp)
	buf := *bp
	for {
		nr, err := res.Body.Read(buf)
		if idle != nil && nr > 0 {
			idle.Reset(u.cfg.ReadTimeout)
		}
		if nr > 0 {
			var nw int
			var e error
			if lf != nil {
				nw, e = lf.write(buf[:nr])
			} else {
				nw, e = w.Write(buf[:nr])
			}
			if e == nil && nw != nr {
				e = io.ErrShortWrite
			}
			if e != nil {
				return e, nil
			}
			if rc != nil {
				if e := rc.Flush(); e != nil && !errors.Is(e, http.ErrNotSupported) {
					return e, nil
				}
			}
		}
		if err != nil {
			if err == io.EOF {
				return nil, nil
			}
			if stall != nil && stall.fired.Load() {
				return nil, ErrReadTimeout
			}
			return nil, err
		}
	}
}

// latencyFlusher writes to a ResponseWriter and flushes it at most one
// interval after a write, also when the upstream stalls (the timer runs the
// flush), like httputil's maxLatencyWriter.
type latencyFlusher struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	latency time.Duration

	mu      sync.Mutex // protects w, t and pending
	t       *time.Timer
	pending bool
}

func newLatencyFlusher(w http.ResponseWriter, d time.Duration) *latencyFlusher {
	lf := &latencyFlusher{w: w, rc: http.NewResponseController(w), latency: d}
	// Flush the headers too if the first body byte is late.
	lf.pending = true
	lf.t = time.AfterFunc(d, lf.delayedFlush)
	return lf
}

func (lf *latencyFlusher) write(p []byte) (int, error) {
	lf.mu.Lock()
	defer lf.mu.Unlock()
	n, err := lf.w.Write(p)
	if !lf.pending {
		lf.pending = true
		lf.t.Reset(lf.latency)
	}
	return n, err
}

func (lf *latencyFlusher) delayedFlush() {
	lf.mu.Lock()
	defer lf.mu.Unlock()
	if !lf.pending {
		return // stopped
	}
	_ = lf.rc.Flush()
	lf.pending = false
}

func (lf *latencyFlusher) stop() {
	lf.mu.Lock()
	defer lf.mu.Unlock()
	lf.pending = false
	lf.t.Stop()
}
