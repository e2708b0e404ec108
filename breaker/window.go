package breaker

import "time"

// windowBuckets is the number of slices a rolling window is divided into:
// counts older than the window fall off one slice at a time, as in
// failsafe-go's and Hystrix's time-based statistics.
const windowBuckets = 10

// window counts events over a rolling time window of windowBuckets slices.
// Times are nanoseconds on the owner's monotonic clock. It is not safe for
// concurrent use; its owner locks.
type window struct {
	width   int64 // nanoseconds per bucket
	buckets [windowBuckets]bucket
}

type bucket struct {
	epoch  int64 // now/width of the slice the counts belong to
	total  uint32
	marked uint32 // failures (circuit) or retries (budget)
}

func newWindow(d time.Duration) window {
	w := int64(d) / windowBuckets
	if w < 1 {
		w = 1
	}
	return window{width: w}
}

// add counts one event at now, marked or not.
func (w *window) add(now int64, total, marked uint32) {
	e := now / w.width
	b := &w.buckets[e%windowBuckets]
	if b.epoch != e {
		*b = bucket{epoch: e}
	}
	b.total += total
	b.marked += marked
}

// sums returns the totals over the buckets still inside the window at now.
func (w *window) sums(now int64) (total, marked uint64) {
	e := now / w.width
	for i := range w.buckets {
		b := &w.buckets[i]
		if b.epoch > e-windowBuckets && b.epoch <= e {
			total += uint64(b.total)
			marked += uint64(b.marked)
		}
	}
	return total, marked
}

func (w *window) reset() {
	w.buckets = [windowBuckets]bucket{}
}
