package middleware

import (
	"compress/gzip"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/gatewaykit/gateway/internal/respwriter"
)

// CompressConfig configures [Compress]. Compress copies it when called;
// later changes to Types have no effect.
type CompressConfig struct {
	// Level is the gzip compression level, from 1 (fastest) to 9
	// (smallest). Zero: [compress/gzip.DefaultCompression] (level 6).
	Level int
	// MinSize is the smallest response body, in bytes, worth compressing.
	// Zero: 1024.
	MinSize int
	// Types lists the compressible media types: exact types
	// ("application/json"), whole top-level types ("text/*") and structured
	// syntax suffixes ("+json"). Parameters (charset) are ignored and
	// text/event-stream is never compressed. Nil: text/html, text/plain,
	// text/css, text/javascript, text/xml, text/csv, text/markdown,
	// application/json, application/javascript, application/xml,
	// application/x-ndjson, application/wasm, font/otf, font/ttf,
	// application/vnd.ms-fontobject, and any +json or +xml type (such as
	// application/problem+json or image/svg+xml).
	Types []string
}

var defaultCompressTypes = []string{
	"text/html", "text/plain", "text/css", "text/javascript", "text/xml", "text/csv", "text/markdown",
	"application/json", "application/javascript", "application/xml", "application/x-ndjson",
	"application/wasm", "font/otf", "font/ttf", "application/vnd.ms-fontobject", "+json", "+xml",
}

type compressor struct {
	level    int
	minSize  int
	exact    map[string]bool
	wildcard []string // "text/"
	suffixes []string // "+json"
	pool     sync.Pool
}

// gzState is the pooled per-response compression state.
type gzState struct {
	gz  *gzip.Writer
	buf []byte
}

// Compress returns a middleware that gzips responses for clients that
// accept it.
//
// A response is compressed when the request's Accept-Encoding accepts gzip
// (q-values honoured: "gzip;q=0" refuses it, "*" accepts it unless gzip is
// listed), its Content-Type is compressible (see [CompressConfig].Types) and
// its body is at least MinSize bytes. With a Content-Length the decision
// is made at once; without one, the first MinSize bytes are buffered
// (holding the status back) and the response goes out uncompressed, with a
// Content-Length, if it ends before that. A compressed response loses
// Content-Length and Accept-Ranges, gains "Content-Encoding: gzip", and a
// strong ETag becomes weak (W/), since the bytes differ from the identity
// representation's.
//
// Responses to HEAD, statuses 204, 206 and 304, 1xx and upgrades, hijacked
// connections, responses without a Content-Type (net/http would sniff the
// compressed bytes), text/event-stream, responses that already have a
// Content-Encoding or a Content-Range, and responses marked "Cache-Control:
// no-transform" pass unchanged. Every response of a compressible type gets
// "Vary: Accept-Encoding", compressed or not, so that shared caches keep
// the variants apart.
//
// Flush works through compression: it flushes the gzip stream and then the
// connection, so a streamed compressible response (such as NDJSON) still
// streams; a flush before MinSize bytes starts compression, as a stream is
// expected to grow. gzip writers are pooled.
//
// Compress panics when Level is outside 0 to 9, MinSize is negative or a
// type is malformed (configuration errors). The middleware is safe for
// simultaneous use by multiple goroutines.
func Compress(cfg CompressConfig) func(http.Handler) http.Handler {
	c := &compressor{level: cfg.Level, minSize: cfg.MinSize, exact: make(map[string]bool)}
	if c.level == 0 {
		c.level = gzip.DefaultCompression
	} else if c.level < gzip.BestSpeed || c.level > gzip.BestCompression {
		panic("middleware: Compress level must be between 1 and 9, got " + strconv.Itoa(c.level))
	}
	if c.minSize < 0 {
		panic("middleware: Compress MinSize must not be negative")
	}
	if c.minSize == 0 {
		c.minSize = 1024
	}
	types := cfg.Types
	if types == nil {
		types = defaultCompressTypes
	}
	for _, t := range types {
		t = strings.ToLower(strings.TrimSpace(t))
		switch {
		case strings.HasPrefix(t, "+") && len(t) > 1:
			c.suffixes = append(c.suffixes, t)
		case strings.HasSuffix(t, "/*") && len(t) > 2 && strings.Count(t, "/") == 1:
			c.wildcard = append(c.wildcard, t[:len(t)-1])
		case strings.Count(t, "/") == 1 && !strings.HasPrefix(t, "/") && !strings.HasSuffix(t, "/") && !strings.Contains(t, "*"):
			c.exact[t] = true
		default:
			panic("middleware: invalid Compress media type " + t)
		}
	}
	level := c.level
	c.pool.New = func() any {
		gz, _ := gzip.NewWriterLevel(io.Discard, level) // level validated above
		return &gzState{gz: gz}
	}
	return c.middleware
}

func (c *compressor) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cw := &compressWriter{c: c, accept: r.Method != http.MethodHead && acceptsGzip(r.Header["Accept-Encoding"])}
		cw.w.Reset(w)
		cw.w.OnHeader = cw.onHeader
		next.ServeHTTP(&cw.w, r)
		cw.finish()
	})
}

const (
	modeIdentity = iota
	modePending  // buffering the first MinSize bytes, status held
	modeGzip
)

// compressWriter is the per-response state of Compress: the one
// respwriter.Writer, and the Divert target behind it.
type compressWriter struct {
	w      respwriter.Writer
	c      *compressor
	accept bool
	mode   int
	st     *gzState
}

func (cw *compressWriter) onHeader(status int) {
	h := cw.w.Header()
	switch {
	case status < 200, status == http.StatusNoContent, status == http.StatusPartialContent,
		status == http.StatusNotModified:
		return
	case len(h["Content-Encoding"]) > 0, len(h["Content-Range"]) > 0:
		return
	case !cw.c.compressible(h.Get("Content-Type")):
		return
	}
	for _, v := range h["Cache-Control"] {
		if headerHasToken(v, "no-transform") {
			return
		}
	}
	hasVary := false
	for _, v := range h["Vary"] {
		if headerHasToken(v, "accept-encoding") || headerHasToken(v, "*") {
			hasVary = true
			break
		}
	}
	if !hasVary {
		h.Add("Vary", "Accept-Encoding")
	}
	if !cw.accept {
		return
	}
	if cl := h["Content-Length"]; len(cl) > 0 {
		n, err := strconv.ParseInt(cl[0], 10, 64)
		if err != nil || n < int64(cw.c.minSize) {
			return
		}
		cw.start()
		return
	}
	cw.st = cw.c.pool.Get().(*gzState)
	cw.st.buf = cw.st.buf[:0]
	cw.mode = modePending
	cw.w.HoldHeader()
	cw.w.Divert(cw, cw.flush)
}

// start switches to gzip: headers, encoder, and the held status if any.
func (cw *compressWriter) start() {
	h := cw.w.Header()
	delete(h, "Content-Length")
	delete(h, "Accept-Ranges")
	h.Set("Content-Encoding", "gzip")
	if etag := h.Get("Etag"); etag != "" && !strings.HasPrefix(etag, "W/") {
		h.Set("Etag", "W/"+etag)
	}
	if cw.st == nil {
		cw.st = cw.c.pool.Get().(*gzState)
		cw.st.buf = cw.st.buf[:0]
	}
	cw.st.gz.Reset(cw.w.Unwrap())
	cw.mode = modeGzip
	cw.w.Divert(cw, cw.flush)
	cw.w.SendHeader()
}

// Write is the Divert target: it buffers, compresses or passes through.
func (cw *compressWriter) Write(p []byte) (int, error) {
	switch cw.mode {
	case modePending:
		if len(cw.st.buf)+len(p) < cw.c.minSize {
			cw.st.buf = append(cw.st.buf, p...)
			return len(p), nil
		}
		cw.start()
		if len(cw.st.buf) > 0 {
			if _, err := cw.st.gz.Write(cw.st.buf); err != nil {
				return 0, err
			}
			cw.st.buf = cw.st.buf[:0]
		}
		return cw.st.gz.Write(p)
	case modeGzip:
		return cw.st.gz.Write(p)
	}
	return cw.w.Unwrap().Write(p)
}

// flush runs before the connection is flushed.
func (cw *compressWriter) flush() error {
	if cw.mode == modePending {
		cw.start()
		if len(cw.st.buf) > 0 {
			if _, err := cw.st.gz.Write(cw.st.buf); err != nil {
				return err
			}
			cw.st.buf = cw.st.buf[:0]
		}
	}
	if cw.mode == modeGzip {
		return cw.st.gz.Flush()
	}
	return nil
}

// finish ends the response after the handler returned normally. (After a
// panic the state is left to the garbage collector: the stream is broken.)
func (cw *compressWriter) finish() {
	switch cw.mode {
	case modePending:
		// The body ended below MinSize: send it as it is, with its length
		// unless trailers were announced (they need chunked encoding).
		if h := cw.w.Header(); len(h["Trailer"]) == 0 {
			h.Set("Content-Length", strconv.Itoa(len(cw.st.buf)))
		}
		cw.w.SendHeader()
		if len(cw.st.buf) > 0 {
			_, _ = cw.w.Unwrap().Write(cw.st.buf)
		}
	case modeGzip:
		_ = cw.st.gz.Close()
	}
	if st := cw.st; st != nil {
		cw.st = nil
		st.gz.Reset(io.Discard)
		if cap(st.buf) > 4*cw.c.minSize {
			st.buf = nil
		}
		cw.c.pool.Put(st)
	}
	cw.mode = modeIdentity
}

// compressible reports whether the media type of the Content-Type value ct
// is one to compress.
func (c *compressor) compressible(ct string) bool {
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	ct = strings.ToLower(trimOWS(ct))
	if ct == "" || ct == "text/event-stream" {
		return false
	}
	if c.exact[ct] {
		return true
	}
	for _, p := range c.wildcard {
		if strings.HasPrefix(ct, p) {
			return true
		}
	}
	for _, s := range c.suffixes {
		if strings.HasSuffix(ct, s) {
			return true
		}
	}
	return false
}

// acceptsGzip reports whether the Accept-Encoding header lines accept gzip
// (RFC 9110 §12.5.3): an explicit gzip (or x-gzip) entry decides by its
// q-value, else a "*" entry does, else gzip is not accepted.
func acceptsGzip(vals []string) bool {
	gzipSeen, gzipOK, starSeen, starOK := false, false, false, false
	for _, v := range vals {
		for v != "" {
			var elem string
			if i := strings.IndexByte(v, ','); i >= 0 {
				elem, v = v[:i], v[i+1:]
			} else {
				elem, v = v, ""
			}
			name, params, _ := strings.Cut(elem, ";")
			name = trimOWS(name)
			ok := qNonZero(params)
			switch {
			case strings.EqualFold(name, "gzip"), strings.EqualFold(name, "x-gzip"):
				gzipSeen = true
				gzipOK = gzipOK || ok
			case name == "*":
				starSeen = true
				starOK = starOK || ok
			}
		}
	}
	if gzipSeen {
		return gzipOK
	}
	return starSeen && starOK
}

// qNonZero reports whether the parameters of an Accept-Encoding element
// give a non-zero q (no q means 1). A malformed q counts as zero.
func qNonZero(params string) bool {
	for params != "" {
		var p string
		if i := strings.IndexByte(params, ';'); i >= 0 {
			p, params = params[:i], params[i+1:]
		} else {
			p, params = params, ""
		}
		k, v, _ := strings.Cut(trimOWS(p), "=")
		if !strings.EqualFold(trimOWS(k), "q") {
			continue
		}
		v = trimOWS(v)
		// qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )
		if v == "" || len(v) > 5 || (v[0] != '0' && v[0] != '1') {
			return false
		}
		if len(v) > 1 && v[1] != '.' {
			return false
		}
		nonZero := v[0] == '1'
		for i := 2; i < len(v); i++ {
			if v[i] < '0' || v[i] > '9' {
				return false
			}
			if v[i] != '0' {
				if v[0] == '1' {
					return false
				}
				nonZero = true
			}
		}
		return nonZero
	}
	return true
}
