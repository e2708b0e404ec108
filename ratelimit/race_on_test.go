//go:build race

package ratelimit

// floodKeys is the number of distinct keys the cap tests send. The race
// detector makes each insertion ~10x slower, so under -race the flood is
// smaller (still 20x the cap); without it the tests send a full million.
const floodKeys = 200_000
