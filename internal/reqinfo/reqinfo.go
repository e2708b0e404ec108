// Package reqinfo carries the gateway's per-request facts (request ID, client
// IP, chosen upstream address) in one mutable record placed in the request
// context once, so that middleware can share them without each allocating a
// new *http.Request through WithContext.
//
// An Info is owned by the goroutine serving its request: middleware fills it
// on the way in (request ID, client IP), the proxy fills UpstreamAddr, and the
// access log reads it on the way out. A handler that hands the request to
// another goroutine must not write the Info from there.
package reqinfo

import (
	"context"
	"net/http"
	"net/netip"
)

type ctxKey struct{}

// Info is the record of one request's gateway facts.
type Info struct {
	// RequestID is the validated inbound or generated request ID; empty
	// until the RequestID middleware has run.
	RequestID string
	// ClientIP is the client address after trusted-proxy resolution; the
	// zero Addr until the RealIP middleware has run.
	ClientIP netip.Addr
	// UpstreamAddr is the endpoint address the proxy sent the request to
	// (the last one, after retries); empty when the request was not proxied.
	UpstreamAddr string
	// Attempts counts the upstream attempts made for the request.
	Attempts int
	// Route is the pattern of the route that matched the request, set by
	// the router or gateway that picked it; empty when none matched. The
	// access log reads it (r.Pattern is lost when a middleware between the
	// access log and the router hands on a shallow copy of the request).
	Route string
}

// From returns the Info stored in ctx, or nil.
func From(ctx context.Context) *Info {
	info, _ := ctx.Value(ctxKey{}).(*Info)
	return info
}

// NewContext returns a copy of parent that carries info.
func NewContext(parent context.Context, info *Info) context.Context {
	return context.WithValue(parent, ctxKey{}, info)
}

// Ensure returns r and its Info, attaching a new Info to a shallow copy of r
// when r's context carries none. Only the first call on a request allocates.
func Ensure(r *http.Request) (*http.Request, *Info) {
	if info := From(r.Context()); info != nil {
		return r, info
	}
	c := &infoCtx{Context: r.Context()}
	return r.WithContext(c), &c.info
}

// infoCtx is a context carrying an Info in the same allocation, so that
// Ensure costs two allocations (this and the request copy) instead of three.
// It embeds its parent, so Done, Err, Deadline and the cancellation
// machinery of package context (which finds the parent cancelCtx through
// Value) behave exactly as with context.WithValue: no goroutine is started
// by WithCancel or WithTimeout on top of it.
type infoCtx struct {
	context.Context
	info Info
}

func (c *infoCtx) Value(key any) any {
	if _, ok := key.(ctxKey); ok {
		return &c.info
	}
	return c.Context.Value(key)
}

func (c *infoCtx) String() string { return "reqinfo.Context" }

// RequestID returns the request ID recorded for r, or "".
func RequestID(r *http.Request) string {
	if info := From(r.Context()); info != nil {
		return info.RequestID
	}
	return ""
}
