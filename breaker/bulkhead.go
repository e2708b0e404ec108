package breaker

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"time"

	fsbulkhead "github.com/failsafe-go/failsafe-go/bulkhead"
)

// bulkhead bounds concurrent attempts with failsafe-go's bulkhead (a
// channel semaphore whose permit calls allocate nothing), adding the bound
// on waiters that failsafe-go does not have: beyond MaxQueue waiting
// requests, the next one is refused at once instead of piling up
// goroutines.
type bulkhead struct {
	sem     fsbulkhead.Bulkhead[*http.Response]
	maxQ    int64
	wait    time.Duration
	waiting atomic.Int64

	queued func() // tests: called when a request starts waiting
}

func newBulkhead(c BulkheadConfig) *bulkhead {
	bh := &bulkhead{
		sem:  fsbulkhead.New[*http.Response](uint(c.MaxConcurrent)),
		maxQ: int64(c.MaxQueue),
		wait: c.QueueTimeout,
	}
	if bh.wait <= 0 {
		bh.wait = DefaultQueueTimeout
	}
	return bh
}

// acquire takes a slot, waiting in the queue when there is room. It
// returns ErrBulkheadFull or the context's error when it gets none.
func (bh *bulkhead) acquire(ctx context.Context) error {
	if bh.sem.TryAcquirePermit() {
		return nil
	}
	if bh.waiting.Add(1) > bh.maxQ {
		bh.waiting.Add(-1)
		return ErrBulkheadFull
	}
	if bh.queued != nil {
		bh.queued()
	}
	err := bh.sem.AcquirePermitWithMaxWait(ctx, bh.wait)
	bh.waiting.Add(-1)
	if errors.Is(err, fsbulkhead.ErrFull) {
		return ErrBulkheadFull
	}
	return err
}

func (bh *bulkhead) release() { bh.sem.ReleasePermit() }
