package breaker_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/gatewaykit/gateway/breaker"
	"github.com/gatewaykit/gateway/upstream"
)

// staticEndpoints is a fixed endpoint set (discovery.Static in real code).
type staticEndpoints []upstream.Endpoint

func (s staticEndpoints) Snapshot() []upstream.Endpoint { return s }
func (s staticEndpoints) Watch(ctx context.Context, _ string) (<-chan []upstream.Endpoint, error) {
	ch := make(chan []upstream.Endpoint, 1)
	ch <- s
	return ch, nil
}

// A Breaker guarding an upstream service: after three failures in a row
// the circuit opens and the gateway answers 503 at once, with Retry-After,
// without calling the service.
func Example() {
	svc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer svc.Close()

	b := breaker.New(breaker.Config{
		Failures: 3,
		Cooldown: 30 * time.Second,
		Timeout:  2 * time.Second,
		OnStateChange: func(ev breaker.StateChange) {
			fmt.Println("circuit", ev.From, "->", ev.To)
		},
	})
	users := upstream.New(upstream.Config{
		Name:          "users",
		Discovery:     staticEndpoints{{Addr: strings.TrimPrefix(svc.URL, "http://")}},
		WrapTransport: b.Transport, // the breaker wraps the upstream's own fast client
		Logger:        slog.New(slog.DiscardHandler),
	})
	defer users.CloseIdleConnections()

	for range 4 {
		rec := httptest.NewRecorder()
		users.ServeHTTP(rec, httptest.NewRequest("GET", "/users/42", nil))
		fmt.Printf("%d Retry-After:%q\n", rec.Code, rec.Header().Get("Retry-After"))
	}
	fmt.Println(b.State())
	// Output:
	// 503 Retry-After:""
	// 503 Retry-After:""
	// circuit closed -> open
	// 503 Retry-After:""
	// 503 Retry-After:"30"
	// open
}

// The two-step form, for calls that are not HTTP round trips.
func ExampleBreaker_Allow() {
	b := breaker.New(breaker.Config{Failures: 2})
	call := func(fail bool) error {
		done, err := b.Allow()
		if err != nil {
			return err
		}
		done(fail)
		return nil
	}
	fmt.Println(call(true), call(true))
	err := call(false)
	fmt.Println(errors.Is(err, breaker.ErrOpen), err)
	// Output:
	// <nil> <nil>
	// true breaker: circuit open
}

// A fallback answers when the service cannot: here a cached empty list.
func ExampleNewStatic() {
	b := breaker.New(breaker.Config{
		Fallback: breaker.NewStatic(http.StatusOK, http.Header{"Content-Type": {"application/json"}}, []byte(`{"items":[]}`)),
	})
	down := roundTripperFunc(func(*http.Request) (*http.Response, error) {
		return nil, errors.New("connection refused")
	})
	client := &http.Client{Transport: b.Transport(down)}
	res, err := client.Get("http://catalog.internal/items")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	fmt.Println(res.StatusCode, string(body))
	// Output:
	// 200 {"items":[]}
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
