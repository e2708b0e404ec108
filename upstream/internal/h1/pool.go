package h1

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptrace"
	"sync"
	"time"
)

// hostPool holds the connections to one host:port.
type hostPool struct {
	key string

	mu sync.Mutex
	// protects the fields below
	idle    []*conn   // oldest first; checkout takes the newest (LIFO)
	open    int       // dialling + in use + idle
	waiters []*waiter // FIFO, blocked by MaxConnsPerHost
	dead    bool      // removed from Client.pools by sweep
}

// waiter is a request blocked by MaxConnsPerHost. It receives either an idle
// connection or nil, which grants it the right to dial (a slot in open).
type waiter struct{ ch chan *conn }

func (c *Client) hostPool(key string) *hostPool {
	if v, ok := c.pools.Load(key); ok {
		return v.(*hostPool)
	}
	v, _ := c.pools.LoadOrStore(key, &hostPool{key: key})
	return v.(*hostPool)
}

// evictLocked removes the idle connections that have been idle for timeout
// or longer and returns them for closing outside the lock.
func (p *hostPool) evictLocked(now time.Time, timeout time.Duration) []*conn {
	n := 0
	for n < len(p.idle) && now.Sub(p.idle[n].idleAt) >= timeout {
		n++
	}
	if n == 0 {
		return nil
	}
	stale := make([]*conn, n)
	copy(stale, p.idle[:n])
	m := copy(p.idle, p.idle[n:])
	clear(p.idle[m:])
	p.idle = p.idle[:m]
	p.open -= n
	return stale
}

func closeConns(cs []*conn) {
	for _, pc := range cs {
		_ = pc.nc.Close()
	}
}

// getConn returns a connection to key: the most recently used idle one, a
// new one, or (under MaxConnsPerHost) one released by another request. When
// needLive is set, a pooled connection is first checked for a close by the
// upstream (see alive) and replaced if it was closed.
func (c *Client) getConn(ctx context.Context, key string, trace *httptrace.ClientTrace, needLive bool) (*conn, error) {
	if trace != nil && trace.GetConn != nil {
		trace.GetConn(key)
	}
	for {
		p := c.hostPool(key)
		p.mu.Lock()
		if p.dead {
			p.mu.Unlock()
			continue
		}
		now := c.timeNow()
		stale := p.evictLocked(now, c.cfg.IdleConnTimeout)
		for n := len(p.idle); n > 0; n = len(p.idle) {
			pc := p.idle[n-1]
			p.idle[n-1] = nil
			p.idle = p.idle[:n-1]
			if c.tooOld(pc, now) {
				p.open--
				stale = append(stale, pc)
				continue
			}
			p.mu.Unlock()
			closeConns(stale)
			return c.gotPooled(ctx, p, pc, now, trace, needLive)
		}
		if c.cfg.MaxConnsPerHost == 0 || p.open < c.cfg.MaxConnsPerHost {
			p.open++
			p.mu.Unlock()
			closeConns(stale)
			return c.dialConn(ctx, p, trace)
		}
		w := &waiter{ch: make(chan *conn, 1)}
		p.waiters = append(p.waiters, w)
		p.mu.Unlock()
		closeConns(stale)
		select {
		case pc := <-w.ch:
			if pc == nil {
				return c.dialConn(ctx, p, trace)
			}
			return c.gotPooled(ctx, p, pc, c.timeNow(), trace, needLive)
		case <-ctx.Done():
			p.mu.Lock()
			removed := p.removeWaiterLocked(w)
			p.mu.Unlock()
			if !removed {
				// Granted concurrently: pass the grant on.
				if pc := <-w.ch; pc != nil {
					c.put(pc)
				} else {
					p.release()
				}
			}
			return nil, fmt.Errorf("h1: waiting for a connection to %s: %w", key, ctx.Err())
		}
	}
}

func (c *Client) gotPooled(ctx context.Context, p *hostPool, pc *conn, now time.Time, trace *httptrace.ClientTrace, needLive bool) (*conn, error) {
	if needLive && !pc.alive() {
		// Closed by the upstream while idle: keep the slot, dial anew.
		_ = pc.nc.Close()
		return c.dialConn(ctx, p, trace)
	}
	if trace != nil && trace.GotConn != nil {
		trace.GotConn(httptrace.GotConnInfo{Conn: pc.nc, Reused: true, WasIdle: true, IdleTime: now.Sub(pc.idleAt)})
	}
	return pc, nil
}

func (p *hostPool) removeWaiterLocked(w *waiter) bool {
	for i, x := range p.waiters {
		if x == w {
			copy(p.waiters[i:], p.waiters[i+1:])
			p.waiters[len(p.waiters)-1] = nil
			p.waiters = p.waiters[:len(p.waiters)-1]
			return true
		}
	}
	return false
}

// popWaiterLocked removes and returns the first waiter, or nil.
func (p *hostPool) popWaiterLocked() *waiter {
	if len(p.waiters) == 0 {
		return nil
	}
	w := p.waiters[0]
	copy(p.waiters, p.waiters[1:])
	p.waiters[len(p.waiters)-1] = nil
	p.waiters = p.waiters[:len(p.waiters)-1]
	return w
}

// release gives up one slot of open: a waiter gets the right to dial, or
// the count drops.
func (p *hostPool) release() {
	p.mu.Lock()
	if w := p.popWaiterLocked(); w != nil {
		p.mu.Unlock()
		w.ch <- nil
		return
	}
	p.open--
	p.mu.Unlock()
}

// dialConn dials a new connection for a slot already counted in p.open.
func (c *Client) dialConn(ctx context.Context, p *hostPool, trace *httptrace.ClientTrace) (*conn, error) {
	// ConnectStart/ConnectDone (and the DNS hooks) are called by
	// net.Dialer itself, as with http.Transport.
	dctx, cancel := context.WithTimeout(ctx, c.cfg.DialTimeout)
	nc, err := c.dial(dctx, "tcp", p.key)
	cancel()
	if err == nil && nc == nil {
		err = errNilConn
	}
	if err != nil {
		p.release()
		if cerr := ctx.Err(); cerr != nil {
			if nc != nil {
				_ = nc.Close()
			}
			return nil, fmt.Errorf("h1: dial %s: %w", p.key, cerr)
		}
		return nil, &DialError{Addr: p.key, Err: err}
	}
	pc := newConn(nc, p, c.cfg.ReadBufferSize, c.timeNow())
	if trace != nil && trace.GotConn != nil {
		trace.GotConn(httptrace.GotConnInfo{Conn: nc})
	}
	return pc, nil
}

var errNilConn = errors.New("h1: Config.Dial returned a nil net.Conn")

// put returns a healthy connection whose exchange is complete: to a waiter,
// to the idle list, or closed when the idle list is full.
func (c *Client) put(pc *conn) {
	pc.reused = true
	p := pc.pool
	now := c.timeNow()
	if (c.cfg.MaxRequestsPerConn > 0 && pc.requests >= c.cfg.MaxRequestsPerConn) || c.tooOld(pc, now) {
		c.discard(pc)
		return
	}
	p.mu.Lock()
	if w := p.popWaiterLocked(); w != nil {
		p.mu.Unlock()
		pc.idleAt = now
		w.ch <- pc
		return
	}
	if len(p.idle) >= c.cfg.MaxIdleConnsPerHost {
		p.open--
		p.mu.Unlock()
		_ = pc.nc.Close()
		return
	}
	pc.idleAt = now
	p.idle = append(p.idle, pc)
	p.mu.Unlock()
}

// discard closes a connection that cannot be reused and frees its slot.
func (c *Client) discard(pc *conn) {
	_ = pc.nc.Close()
	pc.pool.release()
}

func (p *hostPool) closeIdle() {
	p.mu.Lock()
	idle := p.idle
	p.idle = nil
	p.open -= len(idle)
	p.mu.Unlock()
	closeConns(idle)
}

// tooOld reports whether pc has outlived Config.MaxConnLifetime.
func (c *Client) tooOld(pc *conn, now time.Time) bool {
	return c.cfg.MaxConnLifetime > 0 && now.Sub(pc.created) >= c.cfg.MaxConnLifetime
}
