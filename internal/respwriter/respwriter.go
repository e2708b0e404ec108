// Package respwriter holds the project's one [http.ResponseWriter] wrapper.
//
// Every middleware that must observe or alter a response (access log,
// compression, cache, metrics) uses [Writer] rather than a wrapper of its
// own, so that Flush, Hijack and [http.ResponseController] keep working
// through any number of layers: Writer implements [http.Flusher] and
// [http.Hijacker] directly (for code that type-asserts) and Unwrap (for
// ResponseController, which also reaches SetReadDeadline, SetWriteDeadline
// and EnableFullDuplex through it).
package respwriter

import (
	"bufio"
	"io"
	"net"
	"net/http"
)

// Writer wraps an [http.ResponseWriter], recording the final status and the
// number of body bytes, with optional hooks. Its zero value is not usable;
// build one with [New] or [Writer.Reset].
//
// A Writer is used by the goroutine serving the request, like the
// ResponseWriter it wraps.
type Writer struct {
	rw          http.ResponseWriter
	status      int
	written     int64
	wroteHeader bool
	hijacked    bool
	held        bool // the final status is recorded but not yet sent

	// OnHeader, if set, runs once, right before the final (non-1xx) status is
	// sent to the wrapped writer, with that status. It may change Header()
	// and call Divert.
	OnHeader func(status int)

	body    io.Writer
	onFlush func() error
}

var (
	_ http.ResponseWriter = (*Writer)(nil)
	_ http.Flusher        = (*Writer)(nil)
	_ http.Hijacker       = (*Writer)(nil)
)

// New returns a Writer around w.
func New(w http.ResponseWriter) *Writer {
	return &Writer{rw: w}
}

// Reset makes w a fresh Writer around rw, dropping hooks, so that a Writer
// can be reused from a pool.
func (w *Writer) Reset(rw http.ResponseWriter) {
	*w = Writer{rw: rw}
}

// Unwrap returns the wrapped ResponseWriter, for [http.ResponseController].
func (w *Writer) Unwrap() http.ResponseWriter { return w.rw }

// Header returns the wrapped writer's header map.
func (w *Writer) Header() http.Header { return w.rw.Header() }

// WriteHeader sends a status. 1xx statuses other than 101 are informational:
// they pass straight through and may repeat. The first final status runs
// OnHeader and is recorded; later ones are ignored, as net/http does.
func (w *Writer) WriteHeader(code int) {
	if code >= 100 && code <= 199 && code != http.StatusSwitchingProtocols {
		if !w.wroteHeader {
			w.rw.WriteHeader(code)
		}
		return
	}
	if w.wroteHeader {
		return
	}
	w.wroteHeader = true
	w.status = code
	if w.OnHeader != nil {
		w.OnHeader(code)
	}
	if w.held {
		return
	}
	w.rw.WriteHeader(code)
}

// HoldHeader, called from OnHeader, keeps the final status from being sent
// to the wrapped writer until [Writer.SendHeader]: the status is recorded
// (Status and WroteHeader report it) and body bytes still go to the Divert
// target, which lets compression buffer the first bytes before choosing
// the response headers. The caller must call SendHeader before writing to
// the wrapped writer; FlushError sends a held status itself.
func (w *Writer) HoldHeader() { w.held = true }

// SendHeader sends a status held by [Writer.HoldHeader] to the wrapped
// writer, with the headers as they are now. It does nothing when no status
// is held.
func (w *Writer) SendHeader() {
	if w.held {
		w.held = false
		w.rw.WriteHeader(w.status)
	}
}

// Write writes body bytes, sending a 200 status first if none was sent. When
// a Divert target is set, the bytes go there instead of the wrapped writer.
// The returned count (and BytesWritten) is of the caller's bytes.
func (w *Writer) Write(p []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	var n int
	var err error
	if w.body != nil {
		n, err = w.body.Write(p)
	} else {
		n, err = w.rw.Write(p)
	}
	w.written += int64(n)
	return n, err
}

// WriteString is Write for a string.
func (w *Writer) WriteString(s string) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if w.body == nil {
		if sw, ok := w.rw.(io.StringWriter); ok {
			n, err := sw.WriteString(s)
			w.written += int64(n)
			return n, err
		}
	}
	return w.Write([]byte(s))
}

// Divert sends the body bytes written from now on to body instead of the
// wrapped writer, and makes Flush call flush (when non-nil) before flushing
// the wrapped writer. Compression uses it to put an encoder in the way; the
// encoder writes to [Writer.Unwrap].
func (w *Writer) Divert(body io.Writer, flush func() error) {
	w.body = body
	w.onFlush = flush
}

// Flush sends any buffered data to the client; see [Writer.FlushError].
func (w *Writer) Flush() { _ = w.FlushError() }

// FlushError flushes the Divert target, if any, then the wrapped writer,
// sending the status first if none was sent. It returns
// [http.ErrNotSupported] when the wrapped writer cannot flush.
func (w *Writer) FlushError() error {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if w.onFlush != nil {
		if err := w.onFlush(); err != nil {
			return err
		}
	}
	w.SendHeader()
	return http.NewResponseController(w.rw).Flush()
}

// Hijack takes over the connection from the wrapped writer, through
// [http.ResponseController]. A successful hijack records status 101 when no
// status was sent, so logs show the upgrade.
func (w *Writer) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(w.rw).Hijack()
	if err == nil {
		w.hijacked = true
		if !w.wroteHeader {
			w.wroteHeader = true
			w.status = http.StatusSwitchingProtocols
		}
	}
	return c, brw, err
}

// Status returns the final status sent, 0 when none was.
func (w *Writer) Status() int { return w.status }

// WroteHeader reports whether a final status was sent.
func (w *Writer) WroteHeader() bool { return w.wroteHeader }

// BytesWritten returns the number of body bytes the handler wrote.
func (w *Writer) BytesWritten() int64 { return w.written }

// Hijacked reports whether the connection was hijacked through w.
func (w *Writer) Hijacked() bool { return w.hijacked }

// Find returns the first *Writer in w's Unwrap chain, including w itself, or
// nil. Middleware use it to share one Writer instead of stacking wrappers.
func Find(w http.ResponseWriter) *Writer {
	for w != nil {
		if x, ok := w.(*Writer); ok {
			return x
		}
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return nil
		}
		w = u.Unwrap()
	}
	return nil
}
