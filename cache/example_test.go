package cache_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/gatewaykit/gateway/cache"
)

// A demo route served from the cache: the first request goes upstream and
// is stored, the next one is a hit with its Age and Cache-Status. (Config.Now
// is injected only to make the output stable.)
func ExampleCache_Handler() {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	pages := cache.New(cache.Config{
		Store: cache.NewMemory(64 << 20),
		Now:   func() time.Time { return now },
	})
	catalog := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=60")
		fmt.Fprint(w, `{"items":["tea","coffee"]}`)
	})
	h := pages.Handler(catalog)

	for _, wait := range []time.Duration{0, 5 * time.Second} {
		now = now.Add(wait)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "http://example.com/catalog/", nil))
		fmt.Printf("%d %s Age=%q Cache-Status=%q\n", rec.Code, rec.Body, rec.Header().Get("Age"), rec.Header().Get("Cache-Status"))
	}
	// Output:
	// 200 {"items":["tea","coffee"]} Age="" Cache-Status="gatewaykit; fwd=uri-miss; stored"
	// 200 {"items":["tea","coffee"]} Age="5" Cache-Status="gatewaykit; hit; ttl=55"
}

// Responses tagged by the origin with Surrogate-Key are purged by tag.
func ExampleCache_PurgeTag() {
	pages := cache.New(cache.Config{})
	calls := 0
	product := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		w.Header().Set("Cache-Control", "max-age=300")
		w.Header().Set("Surrogate-Key", "product-42 catalog")
		fmt.Fprintf(w, "version %d", calls)
	})
	h := pages.Handler(product)
	get := func() string {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "http://shop.example/products/42", nil))
		return rec.Body.String()
	}
	fmt.Println(get(), "|", get())
	n, err := pages.PurgeTag(context.Background(), "product-42")
	fmt.Println("purged", n, err)
	fmt.Println(get())
	// Output:
	// version 1 | version 1
	// purged 1 <nil>
	// version 2
}

// Run runs the background refreshes of stale-while-revalidate; it returns
// when its context ends.
func ExampleCache_Run() {
	pages := cache.New(cache.Config{RefreshWorkers: 2})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- pages.Run(ctx) }()
	// ... serve traffic through pages.Handler ...
	cancel()
	fmt.Println(<-done)
	// Output:
	// <nil>
}
