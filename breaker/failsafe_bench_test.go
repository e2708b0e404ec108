package breaker

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/failsafe-go/failsafe-go"
	fsbulkhead "github.com/failsafe-go/failsafe-go/bulkhead"
	"github.com/failsafe-go/failsafe-go/circuitbreaker"
	"github.com/failsafe-go/failsafe-go/retrypolicy"
	"github.com/failsafe-go/failsafe-go/timeout"
)

// BenchmarkFailsafeExecutor measures failsafe-go's executor running a round
// trip (what its failsafehttp round tripper does, minus that package's
// extra dependencies) with the policy sets of BenchmarkPolicies, for
// comparison: it is why this package drives failsafe-go's bulkhead permits
// directly instead of through the executor.
func BenchmarkFailsafeExecutor(b *testing.B) {
	cb := circuitbreaker.NewBuilder[*http.Response]().
		WithFailureRateThreshold(0.5, 20, 10*time.Second).
		WithDelay(30 * time.Second).Build()
	next := &okTransport{res: http.Response{StatusCode: 200}}
	sets := []struct {
		name string
		exec failsafe.Executor[*http.Response]
	}{
		{"breaker-only", failsafe.With[*http.Response](cb)},
		{"full-no-timeout", failsafe.With[*http.Response](
			retrypolicy.NewBuilder[*http.Response]().WithMaxAttempts(3).Build(),
			cb,
			fsbulkhead.New[*http.Response](1024))},
		{"full", failsafe.With[*http.Response](
			retrypolicy.NewBuilder[*http.Response]().WithMaxAttempts(3).Build(),
			cb,
			fsbulkhead.New[*http.Response](1024),
			timeout.New[*http.Response](5*time.Second))},
	}
	for _, s := range sets {
		b.Run(s.name, func(b *testing.B) {
			req := httptest.NewRequest("GET", "http://10.0.0.1:8080/items", nil)
			b.ReportAllocs()
			for b.Loop() {
				res, err := s.exec.GetWithExecution(func(exec failsafe.Execution[*http.Response]) (*http.Response, error) {
					return next.RoundTrip(req.WithContext(exec.Context()))
				})
				if err != nil {
					b.Fatal(err)
				}
				res.Body.Close()
			}
		})
	}
}
