package h1

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"os"
	"syscall"
	"time"
)

// earlyResponseWait bounds the wait for a response the upstream may have
// sent before it stopped reading our request body and closed.
const earlyResponseWait = time.Second

// exchange writes req on pc and reads the response headers. It owns pc:
// on success pc is held by the response (body) or back in the pool; on error
// pc is closed. retry reports that the failure happened on a pooled
// connection before any byte of a response was read, with a stale-connection
// error, so the request may be sent again on a new connection.
func (c *Client) exchange(ctx context.Context, pc *conn, req *http.Request, host string, body io.ReadCloser,
	fr framing, trace *httptrace.ClientTrace, replayable bool) (resp *http.Response, err error, retry bool) {
	stop := noStop
	if ctx.Done() != nil {
		// Interrupt the connection's I/O when ctx ends; no goroutine
		// until then.
		stop = context.AfterFunc(ctx, pc.interrupt)
	}
	start := pc.nread
	pc.requests++
	fail := func(err error) (*http.Response, error, bool) {
		stop()
		c.discard(pc)
		if cerr := ctx.Err(); cerr != nil {
			return nil, fmt.Errorf("h1: %s %s: %w", req.Method, pc.pool.key, cerr), false
		}
		return nil, err, pc.reused && pc.nread == start && isStale(err)
	}

	// arm sets the write deadline before each write that may reach the
	// network: WriteTimeout applies between successive writes.
	var arm func() error
	if c.cfg.WriteTimeout > 0 {
		arm = func() error { return pc.setWriteDeadline(ctx, c.timeNow().Add(c.cfg.WriteTimeout)) }
		if err := arm(); err != nil { // a long head may flush early
			return fail(err)
		}
	}
	bw := c.writers.Get().(*bufio.Writer)
	bw.Reset(pc.nc)
	defer func() {
		bw.Reset(nil)
		c.writers.Put(bw)
	}()
	c.writeHead(bw, req, host, fr)

	expect := body != nil && hasToken(req.Header["Expect"], "100-continue")
	sendBody := body != nil
	noReuse := false
	if expect {
		if werr := flush(bw, arm); werr != nil {
			return fail(c.writeErr(ctx, werr))
		}
		if trace != nil && trace.WroteHeaders != nil {
			trace.WroteHeaders()
		}
		if trace != nil && trace.Wait100Continue != nil {
			trace.Wait100Continue()
		}
		final, rerr := c.awaitContinue(ctx, pc, req, trace)
		if rerr != nil {
			return fail(rerr)
		}
		if final != nil {
			// The upstream answered without wanting the body; we cannot
			// tell how it frames the unsent body, so the connection ends
			// with this response.
			resp, noReuse, sendBody = final, true, false
		}
	}
	if sendBody {
		bodyErr, werr := writeBody(bw, body, fr, req.Trailer, arm)
		if !expect && werr == nil && bodyErr == nil && trace != nil && trace.WroteHeaders != nil {
			trace.WroteHeaders()
		}
		if trace != nil && trace.WroteRequest != nil {
			trace.WroteRequest(httptrace.WroteRequestInfo{Err: errors.Join(bodyErr, werr)})
		}
		if bodyErr != nil {
			return fail(fmt.Errorf("h1: read request body: %w", bodyErr))
		}
		if werr != nil {
			if ctx.Err() == nil {
				// The upstream may have answered early (413, 401...)
				// and closed: return its response if it sent one.
				if early := c.readEarly(ctx, pc, req, trace); early != nil {
					return c.finishHead(ctx, pc, req, early, stop, true)
				}
			}
			return fail(c.writeErr(ctx, werr))
		}
	} else if resp == nil {
		werr := flush(bw, arm)
		if werr == nil && trace != nil && trace.WroteHeaders != nil {
			trace.WroteHeaders()
		}
		if trace != nil && trace.WroteRequest != nil {
			trace.WroteRequest(httptrace.WroteRequestInfo{Err: werr})
		}
		if werr != nil {
			return fail(c.writeErr(ctx, werr))
		}
	}

	if resp == nil {
		timed := c.cfg.ResponseHeaderTimeout > 0
		if timed {
			if err := pc.setReadDeadline(ctx, c.timeNow().Add(c.cfg.ResponseHeaderTimeout)); err != nil {
				return fail(err)
			}
		}
		var rerr error
		resp, rerr = c.readResponse(pc, req, trace, false)
		if rerr != nil {
			if timed && errors.Is(rerr, os.ErrDeadlineExceeded) && ctx.Err() == nil {
				rerr = ErrResponseHeaderTimeout
			}
			return fail(rerr)
		}
		if timed {
			// Clearing the deadline could undo an interrupt from ctx;
			// setReadDeadline checks ctx after this.
			if err := pc.setReadDeadline(ctx, time.Time{}); err != nil {
				return fail(err)
			}
		}
		if resp.StatusCode == http.StatusRequestTimeout && pc.reused && replayable {
			// Some servers send an unsolicited 408 before closing an idle
			// connection (golang.org/issue/32310): probably not the answer
			// to this request, which may be sent again on a new connection.
			stop()
			c.discard(pc)
			return nil, errIdle408, true
		}
	}
	return c.finishHead(ctx, pc, req, resp, stop, noReuse)
}

func noStop() bool { return true }

// finishHead attaches the body of a response whose headers were read.
func (c *Client) finishHead(ctx context.Context, pc *conn, req *http.Request, resp *http.Response,
	stop func() bool, noReuse bool) (*http.Response, error, bool) {
	if resp.StatusCode == http.StatusSwitchingProtocols {
		if !stop() || ctx.Err() != nil {
			c.discard(pc)
			return nil, fmt.Errorf("h1: %s %s: %w", req.Method, pc.pool.key, ctx.Err()), false
		}
		if c.cfg.WriteTimeout > 0 {
			// The connection is the caller's now: no deadline of ours.
			if err := pc.nc.SetWriteDeadline(time.Time{}); err != nil {
				c.discard(pc)
				return nil, fmt.Errorf("h1: %w", err), false
			}
		}
		resp.Body = &upgradeBody{pc: pc, c: c}
		return resp, nil, false
	}
	reuse := !noReuse && !resp.Close && !req.Close && !c.cfg.DisableKeepAlives &&
		!hasToken(req.Header["Connection"], "close")
	if resp.Body == http.NoBody {
		// Complete already; release closes the connection if ctx fired.
		c.release(pc, stop, reuse)
		return resp, nil, false
	}
	if ctx.Err() != nil {
		stop()
		c.discard(pc)
		resp.Body.Close()
		return nil, fmt.Errorf("h1: %s %s: %w", req.Method, pc.pool.key, ctx.Err()), false
	}
	// A body delimited by the close of the connection (no length, not
	// chunked) leaves nothing to reuse.
	reuse = reuse && (resp.ContentLength >= 0 || (len(resp.TransferEncoding) > 0 && resp.TransferEncoding[0] == "chunked"))
	resp.Body = &body{c: c, pc: pc, ctx: ctx, rc: resp.Body, stop: stop, reuse: reuse, length: resp.ContentLength}
	return resp, nil, false
}

// release ends pc's exchange: back to the pool when reuse holds and the
// context's interrupt can no longer fire, closed otherwise.
func (c *Client) release(pc *conn, stop func() bool, reuse bool) {
	if !stop() {
		reuse = false // the interrupt ran or is running: deadline poisoned
	}
	if reuse && c.cfg.ReadTimeout > 0 {
		// The body's last read deadline must not reach the next request.
		reuse = pc.nc.SetReadDeadline(time.Time{}) == nil
	}
	if reuse && pc.br.Buffered() == 0 {
		c.put(pc)
		return
	}
	c.discard(pc)
}

// readResponse reads responses until a final (or 101) one, passing 1xx
// responses to the Got1xxResponse hook. When stopAt100 is set, a 100
// Continue is returned to the caller too.
func (c *Client) readResponse(pc *conn, req *http.Request, trace *httptrace.ClientTrace, stopAt100 bool) (*http.Response, error) {
	if trace != nil && trace.GotFirstResponseByte != nil {
		if p, err := pc.br.Peek(1); err == nil && len(p) == 1 {
			trace.GotFirstResponseByte()
		}
	}
	pc.limit = c.cfg.MaxResponseHeaderBytes
	defer func() { pc.limit = noLimit }()
	for {
		resp, err := http.ReadResponse(pc.br, req)
		if err != nil {
			if pc.limit <= 0 {
				return nil, fmt.Errorf("%w (more than %d bytes)", ErrResponseHeadersTooLarge, c.cfg.MaxResponseHeaderBytes)
			}
			return nil, fmt.Errorf("h1: read response: %w", err)
		}
		code := resp.StatusCode
		if code < 100 || code > 199 || code == http.StatusSwitchingProtocols {
			return resp, nil
		}
		if code == http.StatusContinue && stopAt100 {
			return resp, nil
		}
		if trace != nil && trace.Got1xxResponse != nil {
			if err := trace.Got1xxResponse(code, textproto.MIMEHeader(resp.Header)); err != nil {
				return nil, err
			}
			// The hook saw this response and limits what it accepts.
			pc.limit = c.cfg.MaxResponseHeaderBytes
		}
	}
}

// awaitContinue waits up to ExpectContinueTimeout for the upstream's answer
// to "Expect: 100-continue". It returns (nil, nil) to send the body (100
// Continue or timeout) or the final response that makes the body moot.
func (c *Client) awaitContinue(ctx context.Context, pc *conn, req *http.Request, trace *httptrace.ClientTrace) (*http.Response, error) {
	if err := pc.setReadDeadline(ctx, c.timeNow().Add(c.cfg.ExpectContinueTimeout)); err != nil {
		return nil, err
	}
	_, perr := pc.br.Peek(1)
	if err := pc.setReadDeadline(ctx, time.Time{}); err != nil {
		return nil, err
	}
	if perr != nil {
		if errors.Is(perr, os.ErrDeadlineExceeded) {
			return nil, nil // no answer in time: send the body
		}
		return nil, fmt.Errorf("h1: read response: %w", perr)
	}
	resp, err := c.readResponse(pc, req, trace, true)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusContinue {
		if trace != nil && trace.Got100Continue != nil {
			trace.Got100Continue()
		}
		return nil, nil
	}
	return resp, nil
}

// readEarly tries, after a failed write, to read a response the upstream
// sent before closing. It returns nil if there is none.
func (c *Client) readEarly(ctx context.Context, pc *conn, req *http.Request, trace *httptrace.ClientTrace) *http.Response {
	if err := pc.setReadDeadline(ctx, c.timeNow().Add(earlyResponseWait)); err != nil {
		return nil
	}
	resp, err := c.readResponse(pc, req, trace, false)
	if err != nil {
		return nil
	}
	if err := pc.setReadDeadline(ctx, time.Time{}); err != nil {
		return nil
	}
	return resp
}

// writeErr maps a failure to write the request: ErrWriteTimeout when
// Config.WriteTimeout expired (and not the context).
func (c *Client) writeErr(ctx context.Context, err error) error {
	if c.cfg.WriteTimeout > 0 && ctx.Err() == nil && errors.Is(err, os.ErrDeadlineExceeded) {
		return ErrWriteTimeout
	}
	return fmt.Errorf("h1: write request: %w", err)
}

var errIdle408 = errors.New("h1: upstream sent 408 Request Timeout on a reused connection")

// isStale reports whether err is how a connection the upstream had closed
// while idle fails.
func isStale(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, syscall.ECONNABORTED)
}
