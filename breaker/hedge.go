package breaker

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"
)

type hedgeResult struct {
	res    *http.Response
	err    error
	cancel context.CancelFunc
	idx    int
}

// hedged sends req, and again after each Hedge.Delay without an answer
// (while the retry budget allows, up to Hedge.MaxHedges extra requests).
// The first answer that is not a failure wins and the others are
// cancelled; when all fail, the last failure is returned. Late answers are
// closed by a goroutine that ends when the last attempt returns.
func (t *transport) hedged(req *http.Request, deadline int64) (*http.Response, error) {
	b := t.b
	limit := 1 + max(b.cfg.Hedge.MaxHedges, 1)
	ch := make(chan hedgeResult, limit)
	cancels := make([]context.CancelFunc, 0, limit)
	launch := func() {
		ctx, cancel := context.WithCancel(req.Context())
		idx := len(cancels)
		cancels = append(cancels, cancel)
		r := req.WithContext(ctx)
		go func() {
			var res *http.Response
			var err error
			defer func() {
				// A panicking transport must not take the process down
				// from a goroutine net/http does not guard: it becomes
				// this attempt's error.
				if p := recover(); p != nil {
					res, err = nil, fmt.Errorf("breaker: hedged attempt panicked: %v", p)
				}
				ch <- hedgeResult{res: res, err: err, cancel: cancel, idx: idx}
			}()
			res, err = t.attempt(r, false, deadline, b.now())
		}()
	}
	launch()
	sent, pending := 1, 1
	timer := time.NewTimer(b.cfg.Hedge.Delay)
	defer timer.Stop()
	var last *hedgeResult
	finish := func(win *hedgeResult) (*http.Response, error) {
		// Cancel the losers; the winner's context lives until its body is
		// closed.
		for i, c := range cancels {
			if win == nil || i != win.idx {
				c()
			}
		}
		if pending > 0 {
			go drainHedges(ch, pending)
		}
		if win == nil {
			return nil, req.Context().Err()
		}
		if win.res != nil {
			win.res.Body = &cancelBody{ReadCloser: win.res.Body, cancel: win.cancel}
		} else {
			win.cancel()
		}
		return win.res, win.err
	}
	for {
		select {
		case <-timer.C:
			if sent < limit && b.budget.tryRetry(b.now()) {
				b.stats.hedges.Add(1)
				launch()
				sent++
				pending++
				timer.Reset(b.cfg.Hedge.Delay)
			} else if sent < limit {
				b.stats.budgetDenied.Add(1)
			}
		case r := <-ch:
			pending--
			if r.err == nil && !b.isFailure(r.res, nil) {
				if last != nil {
					closeResult(last)
				}
				return finish(&r)
			}
			if last != nil {
				closeResult(last)
			}
			last = &r
			if pending == 0 {
				return finish(last)
			}
		case <-req.Context().Done():
			if last != nil {
				closeResult(last)
			}
			return finish(nil)
		}
	}
}

func closeResult(r *hedgeResult) {
	if r.res != nil {
		_ = r.res.Body.Close()
	}
	r.cancel()
}

func drainHedges(ch <-chan hedgeResult, n int) {
	for range n {
		r := <-ch
		closeResult(&r)
	}
}

// cancelBody releases a hedge's context when its body is closed.
type cancelBody struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c *cancelBody) Close() error {
	err := c.ReadCloser.Close()
	c.cancel()
	return err
}
