package h1

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
)

// framing is how the request body is delimited on the wire.
type framing struct {
	contentLength int64 // bytes to send when !chunked
	sendLength    bool  // write a Content-Length header
	chunked       bool
}

// framingFor mirrors net/http's transferWriter for requests. body is
// req.Body with http.NoBody mapped to nil.
func framingFor(req *http.Request, body io.ReadCloser) (framing, error) {
	if body == nil {
		if req.ContentLength != 0 && req.Body == nil {
			return framing{}, fmt.Errorf("%w: ContentLength=%d with nil Body", ErrInvalidRequest, req.ContentLength)
		}
		// Many servers expect a Content-Length for these methods.
		send := req.Method == "POST" || req.Method == "PUT" || req.Method == "PATCH"
		return framing{sendLength: send}, nil
	}
	if req.ContentLength > 0 && !(len(req.TransferEncoding) > 0 && req.TransferEncoding[0] == "chunked") {
		return framing{contentLength: req.ContentLength, sendLength: true}, nil
	}
	return framing{chunked: true}, nil
}

// validate checks what RoundTrip writes verbatim, so that nothing from the
// request can inject header lines (request smuggling), and returns the Host
// header value.
func (c *Client) validate(req *http.Request) (string, error) {
	u := req.URL
	if u == nil {
		return "", fmt.Errorf("%w: nil URL", ErrInvalidRequest)
	}
	if u.Scheme != "http" {
		return "", fmt.Errorf("%w %q", ErrUnsupportedScheme, u.Scheme)
	}
	if u.Host == "" {
		return "", fmt.Errorf("%w: no host in URL", ErrInvalidRequest)
	}
	if req.Method != "" && !validToken(req.Method) {
		return "", fmt.Errorf("%w: method %q", ErrInvalidRequest, req.Method)
	}
	host := req.Host
	if host == "" {
		host = u.Host
	}
	if !validHost(host) {
		return "", fmt.Errorf("%w: Host %q", ErrInvalidRequest, host)
	}
	if !validTarget(u.RawQuery) || !validTarget(u.Opaque) || !validTarget(u.RawPath) {
		return "", fmt.Errorf("%w: request target %q", ErrInvalidRequest, u.RequestURI())
	}
	for k, vv := range req.Header {
		if !validToken(k) {
			return "", fmt.Errorf("%w: header field name %q", ErrInvalidRequest, k)
		}
		for _, v := range vv {
			if !validFieldValue(v) {
				return "", fmt.Errorf("%w: header field value for %q", ErrInvalidRequest, k)
			}
		}
	}
	for k, vv := range req.Trailer {
		if !validTrailerName(k) {
			return "", fmt.Errorf("%w: trailer field name %q", ErrInvalidRequest, k)
		}
		for _, v := range vv {
			if !validFieldValue(v) {
				return "", fmt.Errorf("%w: trailer field value for %q", ErrInvalidRequest, k)
			}
		}
	}
	return host, nil
}

// validTarget reports whether s has no space or control byte. Path is
// escaped by url.URL; RawQuery, Opaque and RawPath are written as given.
func validTarget(s string) bool {
	for i := 0; i < len(s); i++ {
		if b := s[i]; b <= ' ' || b == 0x7f {
			return false
		}
	}
	return true
}

// skipHeader reports whether RoundTrip writes header k itself or drops it.
// Non-canonical spellings are caught too: a raw "content-length" key in
// the map must not produce a second framing header.
func skipHeader(k string, vv []string) bool {
	switch len(k) {
	case 4:
		return k == "Host" || strings.EqualFold(k, "Host")
	case 7:
		return k == "Trailer" || strings.EqualFold(k, "Trailer")
	case 10:
		if k == "User-Agent" || strings.EqualFold(k, "User-Agent") {
			return len(vv) == 0 || vv[0] == ""
		}
	case 14:
		return k == "Content-Length" || strings.EqualFold(k, "Content-Length")
	case 17:
		return k == "Transfer-Encoding" || strings.EqualFold(k, "Transfer-Encoding")
	}
	return false
}

// writeHead writes the request line and header section to bw.
func (c *Client) writeHead(bw *bufio.Writer, req *http.Request, host string, fr framing) {
	method := req.Method
	if method == "" {
		method = "GET"
	}
	bw.WriteString(method)
	bw.WriteByte(' ')
	writeTarget(bw, req, host)
	bw.WriteString(" HTTP/1.1\r\nHost: ")
	bw.WriteString(host)
	bw.WriteString("\r\n")
	for k, vv := range req.Header {
		if skipHeader(k, vv) {
			continue
		}
		for _, v := range vv {
			bw.WriteString(k)
			bw.WriteString(": ")
			bw.WriteString(textproto.TrimString(v))
			bw.WriteString("\r\n")
		}
	}
	if (req.Close || c.cfg.DisableKeepAlives) && !hasToken(req.Header["Connection"], "close") {
		bw.WriteString("Connection: close\r\n")
	}
	switch {
	case fr.chunked:
		bw.WriteString("Transfer-Encoding: chunked\r\n")
		if len(req.Trailer) > 0 {
			bw.WriteString("Trailer: ")
			first := true
			for k := range req.Trailer {
				if !first {
					bw.WriteString(", ")
				}
				first = false
				bw.WriteString(k)
			}
			bw.WriteString("\r\n")
		}
	case fr.sendLength:
		bw.WriteString("Content-Length: ")
		bw.Write(strconv.AppendInt(bw.AvailableBuffer(), fr.contentLength, 10))
		bw.WriteString("\r\n")
	}
	bw.WriteString("\r\n")
}

// writeTarget writes req.URL.RequestURI() without building the string:
// RawQuery is written exactly as given, never re-encoded.
func writeTarget(bw *bufio.Writer, req *http.Request, host string) {
	u := req.URL
	if req.Method == "CONNECT" && u.Path == "" && u.Opaque == "" {
		bw.WriteString(host)
		return
	}
	if u.Opaque != "" {
		bw.WriteString(u.RequestURI())
		return
	}
	p := u.EscapedPath()
	if p == "" {
		p = "/"
	}
	bw.WriteString(p)
	if u.ForceQuery || u.RawQuery != "" {
		bw.WriteByte('?')
		bw.WriteString(u.RawQuery)
	}
}

// hasToken reports whether the comma-separated header values contain token
// (case-insensitively).
func hasToken(vv []string, token string) bool {
	for _, v := range vv {
		for part := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(part), token) {
				return true
			}
		}
	}
	return false
}

var copyBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// writeBody streams body to bw with the given framing, then the trailers
// of a chunked body, and flushes. bodyErr reports a failure to read the
// request body (or a length mismatch), connErr a failure to write. arm, if
// not nil, is called before each write that may reach the network (to set
// the write deadline); its error is returned as connErr.
func writeBody(bw *bufio.Writer, body io.Reader, fr framing, trailer http.Header, arm func() error) (bodyErr, connErr error) {
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	buf := *bp
	if !fr.chunked {
		remaining := fr.contentLength
		for remaining > 0 {
			b := buf
			if int64(len(b)) > remaining {
				b = b[:remaining]
			}
			n, rerr := body.Read(b)
			if n > 0 {
				if arm != nil {
					if err := arm(); err != nil {
						return nil, err
					}
				}
				if _, err := bw.Write(b[:n]); err != nil {
					return nil, err
				}
				remaining -= int64(n)
			}
			if rerr == io.EOF {
				if remaining > 0 {
					return fmt.Errorf("%w: ContentLength=%d with Body length %d", ErrInvalidRequest,
						fr.contentLength, fr.contentLength-remaining), nil
				}
				break
			}
			if rerr != nil {
				return rerr, nil
			}
		}
		return nil, flush(bw, arm)
	}
	for {
		n, rerr := body.Read(buf)
		if n > 0 {
			bw.Write(strconv.AppendInt(bw.AvailableBuffer(), int64(n), 16))
			bw.WriteString("\r\n")
			bw.Write(buf[:n])
			bw.WriteString("\r\n")
			// Flush each chunk: a chunked body is often a stream whose
			// reader waits for the upstream (and the reverse).
			if err := flush(bw, arm); err != nil {
				return nil, err
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return rerr, nil
		}
	}
	bw.WriteString("0\r\n")
	for k, vv := range trailer {
		for _, v := range vv {
			if !validFieldValue(v) {
				// Trailer values may be set while the body is read.
				return fmt.Errorf("%w: trailer field value for %q", ErrInvalidRequest, k), nil
			}
			bw.WriteString(k)
			bw.WriteString(": ")
			bw.WriteString(textproto.TrimString(v))
			bw.WriteString("\r\n")
		}
	}
	bw.WriteString("\r\n")
	return nil, flush(bw, arm)
}

// flush flushes bw after calling arm, if not nil.
func flush(bw *bufio.Writer, arm func() error) error {
	if arm != nil {
		if err := arm(); err != nil {
			return err
		}
	}
	return bw.Flush()
}
