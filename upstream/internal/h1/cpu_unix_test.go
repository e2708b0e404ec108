//go:build unix

package h1

import (
	"syscall"
	"time"
)

// processCPU returns the user+system CPU time the process has used, so
// benchmarks can report CPU per request (client and in-process upstream
// together), which other load on the machine disturbs less than ns/op.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
