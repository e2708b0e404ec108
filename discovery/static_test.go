package discovery_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatewaykit/gateway/discovery"
	"github.com/gatewaykit/gateway/upstream"
)

func TestStatic(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		addrs []string
		want  []upstream.Endpoint
	}{
		{"empty", nil, nil},
		{"one", []string{"10.0.0.1:80"}, []upstream.Endpoint{{Addr: "10.0.0.1:80", Weight: 1}}},
		{"order and duplicates", []string{"b:2", "a:1", "b:2", "[::1]:8080"},
			[]upstream.Endpoint{{Addr: "b:2", Weight: 1}, {Addr: "a:1", Weight: 1}, {Addr: "[::1]:8080", Weight: 1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := discovery.Static(tt.addrs...)
			snap := s.Snapshot()
			if tt.want == nil {
				assert.Empty(t, snap, "snapshot of %v", tt.addrs)
			} else {
				assert.Equal(t, tt.want, snap, "snapshot of %v", tt.addrs)
			}

			ctx, cancel := context.WithCancel(context.Background())
			ch, err := s.Watch(ctx, "svc")
			require.NoError(t, err)
			got, ok := <-ch
			require.True(t, ok, "first value")
			assert.ElementsMatch(t, tt.want, got)
			cancel()
			_, ok = <-ch
			assert.False(t, ok, "channel closed after ctx ends")
		})
	}
}

func TestStaticSnapshotIsCopy(t *testing.T) {
	t.Parallel()
	s := discovery.Static("a:1")
	snap := s.Snapshot()
	snap[0].Addr = "mutated:1"
	assert.Equal(t, "a:1", s.Snapshot()[0].Addr)
}

func TestStaticInvalidPanics(t *testing.T) {
	t.Parallel()
	for _, a := range []string{"noport", ":80", "host:", ""} {
		assert.Panics(t, func() { discovery.Static(a) }, "address %q", a)
	}
}
