package upstream_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/gatewaykit/gateway/discovery"
	"github.com/gatewaykit/gateway/upstream"
)

// An upstream with active HTTP health checks, outlier ejection, slow start
// and panic routing; Health reports each endpoint for an admin API.
func ExampleHealthCheck() {
	healthy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer healthy.Close()
	sick := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer sick.Close()
	addrs := []string{strings.TrimPrefix(healthy.URL, "http://"), strings.TrimPrefix(sick.URL, "http://")}

	events := make(chan upstream.HealthEvent, 8)
	users := upstream.New(upstream.Config{
		Name:      "users",
		Discovery: discovery.Static(addrs...),
		HealthCheck: upstream.HealthCheck{
			Type:               "http",
			Path:               "/healthz",
			Interval:           10 * time.Millisecond,
			UnhealthyThreshold: 1,
		},
		Outlier:   upstream.OutlierDetection{Consecutive5xx: 5},
		SlowStart: upstream.SlowStart{Window: 30 * time.Second},
		Panic:     upstream.PanicRouteAll, // when none is healthy, use them all (Envoy's panic routing)
		OnHealthEvent: func(ev upstream.HealthEvent) {
			events <- ev
		},
	})
	defer users.CloseIdleConnections()

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- users.Run(ctx) }()
	ev := <-events
	fmt.Println(ev.Type, ev.Endpoint == addrs[1])
	cancel()
	<-done

	for _, h := range users.Health() {
		fmt.Println(h.Endpoint.Addr == addrs[0], h.Healthy, h.InRotation)
	}
	// Output:
	// unhealthy true
	// true true true
	// false false false
}
