//go:build !linux

package h1

// liveness is empty where alive has no portable implementation.
type liveness struct{}

// alive reports whether an idle connection still looks open. Without a
// portable non-blocking peek it assumes so; stale connections are then
// detected by the request failing.
func (pc *conn) alive() bool { return true }
