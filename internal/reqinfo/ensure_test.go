package reqinfo

import (
	"context"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"
)

func TestEnsureOnceAndShared(t *testing.T) {
	t.Parallel()
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	if From(r.Context()) != nil {
		t.Fatal("fresh request has an Info")
	}
	r2, info := Ensure(r)
	if r2 == r {
		t.Fatal("Ensure must not modify the inbound request")
	}
	if From(r.Context()) != nil {
		t.Fatal("inbound request context changed")
	}
	info.RequestID = "x"
	r3, info2 := Ensure(r2)
	if r3 != r2 || info2 != info {
		t.Fatal("second Ensure must return the same request and Info")
	}
	// Values and Infos survive derived contexts.
	ctx, cancel := context.WithCancel(context.WithValue(r3.Context(), struct{ k int }{}, 1))
	defer cancel()
	if From(ctx) != info || RequestID(r3.WithContext(ctx)) != "x" {
		t.Fatal("Info not visible through derived contexts")
	}
}

// TestEnsureCancellationPropagates checks that the combined context keeps
// the parent's cancellation and that WithCancel on top of it starts no
// goroutine (the parent cancelCtx is found through Value).
func TestEnsureCancellationPropagates(t *testing.T) {
	parent, cancelParent := context.WithCancel(context.Background())
	r, _ := Ensure(httptest.NewRequest(http.MethodGet, "/", nil).WithContext(parent))
	before := runtime.NumGoroutine()
	children := make([]context.CancelFunc, 100)
	var last context.Context
	for i := range children {
		last, children[i] = context.WithCancel(r.Context())
	}
	if after := runtime.NumGoroutine(); after > before+5 {
		t.Fatalf("WithCancel started goroutines: %d -> %d", before, after)
	}
	cancelParent()
	<-last.Done()
	if last.Err() != context.Canceled {
		t.Fatalf("child Err = %v", last.Err())
	}
	for _, c := range children {
		c()
	}
}

func TestEnsureAllocs(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	n := testing.AllocsPerRun(100, func() { _, _ = Ensure(r) })
	if n > 2 {
		t.Fatalf("Ensure allocates %v times, want at most 2", n)
	}
	r2, _ := Ensure(r)
	if n := testing.AllocsPerRun(100, func() { _, _ = Ensure(r2) }); n != 0 {
		t.Fatalf("Ensure on a request with an Info allocates %v times", n)
	}
}
