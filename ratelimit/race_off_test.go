//go:build !race

package ratelimit

// floodKeys is the number of distinct keys the cap tests send (see
// race_on_test.go).
const floodKeys = 1_000_000
