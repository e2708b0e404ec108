package cache

import (
	"maps"
	"net/http"
	"time"

	"github.com/gatewaykit/gateway/internal/respwriter"
)

// capture is the ResponseWriter given to upstream on misses,
// revalidations and background refreshes. [respwriter.Writer] shares the
// client's header map and always forwards the status; capture gives
// upstream a header map of its own (so only upstream's fields are stored)
// and holds the status back until it has seen it, so a 304 answering the
// cache's own conditional request, or an error the cache will hide with a
// stale response (stale-if-error), never reaches the client. When absorb rejects the status, it hands the response over to
// forward (the client's [respwriter.Writer], whose OnHeader hook stores it)
// and from then on passes everything through. With a nil forward it
// absorbs every response (background refresh), keeping at most limit body
// bytes.
type capture struct {
	header   http.Header
	status   int
	at       time.Time
	body     []byte
	limit    int64
	over     bool
	absorbed bool
	now      func() time.Time
	forward  *respwriter.Writer
	absorb   func(status int, h http.Header) bool
}

func (cw *capture) forwarding() bool { return cw.status != 0 && !cw.absorbed }

func (cw *capture) Header() http.Header {
	if cw.forwarding() {
		return cw.forward.Header()
	}
	if cw.header == nil {
		cw.header = make(http.Header)
	}
	return cw.header
}

func (cw *capture) WriteHeader(code int) {
	if code >= 100 && code <= 199 && code != http.StatusSwitchingProtocols {
		cw.informational(code)
		return
	}
	if cw.status != 0 {
		return
	}
	h := cw.Header() // before status is set: the captured map
	cw.status = code
	cw.at = cw.now()
	if cw.forward == nil || (cw.absorb != nil && cw.absorb(code, h)) {
		cw.absorbed = true
		return
	}
	// Merge into the client's map as a proxy writing into it would:
	// fields an outer middleware set come first. The full slice
	// expression makes append copy instead of writing into their array.
	dst := cw.forward.Header()
	for k, v := range h {
		if old := dst[k]; len(old) > 0 {
			dst[k] = append(old[:len(old):len(old)], v...)
		} else {
			dst[k] = v
		}
	}
	cw.forward.WriteHeader(code)
}

// informational forwards a 1xx (such as 103 Early Hints) of a plain miss
// with the fields upstream set so far, leaving the client's map as it was;
// revalidations and refreshes drop them.
func (cw *capture) informational(code int) {
	if cw.status != 0 || cw.forward == nil || cw.absorb != nil {
		return
	}
	dst := cw.forward.Header()
	saved := dst.Clone()
	for k, v := range cw.header {
		dst[k] = append(dst[k][:len(dst[k]):len(dst[k])], v...)
	}
	cw.forward.WriteHeader(code)
	clear(dst)
	maps.Copy(dst, saved)
}

func (cw *capture) Write(p []byte) (int, error) {
	if cw.status == 0 {
		cw.WriteHeader(http.StatusOK)
	}
	if !cw.absorbed {
		return cw.forward.Write(p)
	}
	if !cw.over {
		if int64(len(cw.body)+len(p)) > cw.limit {
			cw.over, cw.body = true, nil
		} else {
			cw.body = append(cw.body, p...)
		}
	}
	return len(p), nil
}

// Unwrap returns the forward writer, so that [http.ResponseController]
// reaches deadlines and the connection through a capture.
func (cw *capture) Unwrap() http.ResponseWriter {
	if cw.forward == nil {
		return nil
	}
	return cw.forward
}

// Flush passes a flush through once the response is forwarded.
func (cw *capture) Flush() {
	if cw.forwarding() {
		cw.forward.Flush()
	}
}

var _ http.Flusher = (*capture)(nil)

// tee is the Divert target of a response being stored: it writes to the
// client and keeps a copy until the copy would exceed limit, when storing
// is abandoned and only the client write goes on.
type tee struct {
	dst   http.ResponseWriter
	buf   []byte
	limit int64
	over  bool
}

func (t *tee) Write(p []byte) (int, error) {
	if !t.over {
		if int64(len(t.buf)+len(p)) > t.limit {
			t.over, t.buf = true, nil
		} else {
			t.buf = append(t.buf, p...)
		}
	}
	return t.dst.Write(p)
}
