// Package respwriter holds the project's one [http.ResponseWriter] wrapper.
//
// Every middleware that must observe or alter a response (access log,
// compression, cache, metrics) uses [Writer] rather than a wrapper of its
// own, so that Flush, Hijack and [http.ResponseController] keep working
// through any number of layers: Writer implements [http.Flusher] and
// [http.Hijacker] directly (for code that type-asserts) and Unwrap (for
// ResponseController, which also reaches SetReadDeadline, SetWriteDeadline
// and EnableFullDuplex through it).
//
// A Writer normally shares the client's header map and forwards the status
// as soon as the handler writes it, with hooks to look at or change both
// ([Writer.OnHeader], [Writer.HoldHeader], [Writer.Divert]). A detached
// Writer ([Writer.Detach]) instead gives the handler a header map of its
// own and holds the final status until its owner releases it, so that a
// cache can keep an upstream response (a 304 answering its own
// conditional request, an error it hides with a stale response) from the
// client, or store upstream's fields without those outer middleware set.
package respwriter

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
)

// ErrHeld is returned by [Writer.Write] for body bytes written while the
// final status is held ([Writer.HoldHeader], [Writer.Detach]) and no
// [Writer.Divert] target takes them: they have nowhere to go before the
// owner sends the status.
var ErrHeld = errors.New("respwriter: status held")

// Writer wraps an [http.ResponseWriter], recording the final status and the
// number of body bytes, with optional hooks. Its zero value is not usable;
// build one with [New] or [Writer.Reset].
//
// A Writer is used by the goroutine serving the request, like the
// ResponseWriter it wraps.
type Writer struct {
	rw          http.ResponseWriter
	header      http.Header // the handler's own map when detached, else nil
	status      int
	written     int64
	wroteHeader bool
	hijacked    bool
	held        bool // the final status is recorded but not yet sent
	sent        bool // the final status was sent to rw

	// DropInformational, if set, makes WriteHeader drop 1xx statuses
	// (other than 101) instead of sending them. The zero value sends
	// them. An owner that will probably not release a detached Writer's
	// final status (a cache revalidating) sets it, so that no hint for a
	// response the client will not get reaches the client.
	DropInformational bool

	// OnHeader, if set, runs once, right before the final (non-1xx) status is
	// sent to the wrapped writer, with that status. It may change Header()
	// and call Divert, HoldHeader or SendHeader. On a detached Writer it
	// runs when the handler writes the status, which is then held; it is
	// where the owner usually decides (SendHeader to release the response,
	// Divert to keep or drop its body).
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

// Detach makes w a detached Writer, for an owner that decides what of the
// handler's response reaches the client (a cache on a miss or
// revalidation). Call it before handing w to the handler; [Writer.Reset]
// undoes it. h, or a new map when h is nil, becomes the handler's header
// map: fields the handler sets land there, not in the wrapped writer's
// map, and the owner keeps h to read them. In detached mode:
//
//   - WriteHeader records the final status, runs OnHeader and holds the
//     status, as [Writer.HoldHeader] does, until the owner calls
//     [Writer.SendHeader]. SendHeader adds h's fields to the wrapped
//     writer's map as a proxy would (fields already there, set by outer
//     middleware, come first; their value slices are copied, never
//     appended to in place) and sends the status. From then on Header
//     returns the wrapped writer's map, so trailers the handler sets reach
//     the client, and w behaves as an ordinary Writer.
//   - To replace the response instead, the owner leaves the status held,
//     diverts the body (to keep it, or to [io.Discard]) and, once the
//     handler has returned, answers through the wrapped writer (the one
//     it passed to New; [Writer.Unwrap]) as it likes. Nothing the handler
//     wrote reaches the client.
//   - Body bytes written while the status is held go to the Divert target;
//     without one Write fails with [ErrHeld].
//   - Flush while the status is held flushes the Divert target only: it
//     neither sends the status nor flushes the wrapped writer, and returns
//     nil, since the owner has accepted the bytes. (A Flush before any
//     status writes 200 first, as net/http does, which runs OnHeader.)
//   - 1xx statuses are sent to the wrapped writer with h's fields added
//     to its map for that response only (unless DropInformational is
//     set), so that 103 Early Hints carry the handler's Link fields
//     without leaving them in the client's final header.
//   - Unwrap still returns the wrapped writer, so [http.ResponseController]
//     reaches write deadlines through w; Hijack passes through too, and a
//     handler that hijacks takes the connection from the owner as well:
//     a held status is then never sent, and Hijacked reports it.
//
// A detached Writer may wrap a nil ResponseWriter, when there is no client
// (a background refresh): its status then stays held for good, SendHeader
// does nothing, Unwrap returns nil and Hijack fails with
// [http.ErrNotSupported].
func (w *Writer) Detach(h http.Header) {
	if h == nil {
		h = make(http.Header)
	}
	w.header = h
}

// Header returns the wrapped writer's header map, or, on a detached Writer
// whose status has not been sent, the handler's own map (see
// [Writer.Detach]).
func (w *Writer) Header() http.Header {
	if w.header != nil && !w.sent {
		return w.header
	}
	return w.rw.Header()
}

// WriteHeader sends a status. 1xx statuses other than 101 are informational:
// they pass straight through (unless DropInformational is set) and may
// repeat. The first final status runs OnHeader and is recorded; later ones
// are ignored, as net/http does. A detached Writer holds the final status
// (see [Writer.Detach]).
func (w *Writer) WriteHeader(code int) {
	if code >= 100 && code <= 199 && code != http.StatusSwitchingProtocols {
		if !w.wroteHeader && !w.DropInformational && w.rw != nil {
			w.informational(code)
		}
		return
	}
	if w.wroteHeader {
		return
	}
	w.wroteHeader = true
	w.status = code
	if w.header != nil {
		w.held = true
	}
	if w.OnHeader != nil {
		w.OnHeader(code)
	}
	if !w.held {
		w.send()
	}
}

// informational sends a 1xx. A detached Writer adds its own fields to the
// wrapped writer's map for the 1xx alone and then puts back the values
// that were there, so the client's final header is as outer middleware
// left it.
func (w *Writer) informational(code int) {
	if len(w.header) == 0 {
		w.rw.WriteHeader(code)
		return
	}
	dst := w.rw.Header()
	saved := make(http.Header, len(w.header))
	var added []string
	for k, v := range w.header {
		old, ok := dst[k]
		if ok {
			saved[k] = old
		} else {
			added = append(added, k)
		}
		dst[k] = append(old[:len(old):len(old)], v...)
	}
	w.rw.WriteHeader(code)
	for k, old := range saved {
		dst[k] = old
	}
	for _, k := range added {
		delete(dst, k)
	}
}

// send sends the recorded final status to the wrapped writer once, after
// merging a detached Writer's fields into the wrapped writer's map.
func (w *Writer) send() {
	if w.sent || w.hijacked {
		return
	}
	w.sent = true
	if w.header != nil {
		// Merge as a proxy writing into the client's map would: fields
		// an outer middleware set come first. The full slice expression
		// makes append copy instead of writing into their array.
		dst := w.rw.Header()
		for k, v := range w.header {
			if old := dst[k]; len(old) > 0 {
				dst[k] = append(old[:len(old):len(old)], v...)
			} else {
				dst[k] = v
			}
		}
	}
	w.rw.WriteHeader(w.status)
}

// HoldHeader, called from OnHeader, keeps the final status from being sent
// to the wrapped writer until [Writer.SendHeader]: the status is recorded
// (Status and WroteHeader report it) and body bytes still go to the Divert
// target, which lets compression buffer the first bytes before choosing
// the response headers. Without a Divert target, Write fails with
// [ErrHeld] until SendHeader. FlushError sends a status held by
// HoldHeader itself (but not one a detached Writer holds).
func (w *Writer) HoldHeader() { w.held = true }

// SendHeader sends a held status ([Writer.HoldHeader], [Writer.Detach]) to
// the wrapped writer, with the headers as they are now; a detached Writer
// first merges its own fields into the wrapped writer's map. It may be
// called from OnHeader. It does nothing when no status is held, when the
// connection was hijacked, or when the wrapped writer is nil.
func (w *Writer) SendHeader() {
	if w.held && w.rw != nil {
		w.held = false
		w.send()
	}
}

// Write writes body bytes, sending a 200 status first if none was sent. When
// a Divert target is set, the bytes go there instead of the wrapped writer;
// while the status is held and no Divert target is set, Write returns
// [ErrHeld]. The returned count (and BytesWritten) is of the caller's
// bytes.
func (w *Writer) Write(p []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	var n int
	var err error
	switch {
	case w.body != nil:
		n, err = w.body.Write(p)
	case w.held:
		return 0, ErrHeld
	default:
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
	if w.body == nil && !w.held {
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
// [http.ErrNotSupported] when the wrapped writer cannot flush. On a
// detached Writer whose status is held it flushes the Divert target only
// and returns nil (see [Writer.Detach]).
func (w *Writer) FlushError() error {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if w.onFlush != nil {
		if err := w.onFlush(); err != nil {
			return err
		}
	}
	if w.held && w.header != nil {
		return nil // the owner decides what reaches the client, and when
	}
	w.SendHeader()
	return http.NewResponseController(w.rw).Flush()
}

// Hijack takes over the connection from the wrapped writer, through
// [http.ResponseController]. A successful hijack records status 101 when no
// status was sent, so logs show the upgrade; a held status is never sent
// after it.
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

// Status returns the final status the handler wrote (sent, or held), 0
// when none was.
func (w *Writer) Status() int { return w.status }

// WroteHeader reports whether the handler wrote a final status (sent, or
// held).
func (w *Writer) WroteHeader() bool { return w.wroteHeader }

// BytesWritten returns the number of body bytes the handler wrote.
func (w *Writer) BytesWritten() int64 { return w.written }

// Hijacked reports whether the connection was hijacked through w.
func (w *Writer) Hijacked() bool { return w.hijacked }
