package reqinfo_test

import (
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/gatewaykit/gateway/internal/reqinfo"
)

func TestEnsureAttachesOnce(t *testing.T) {
	t.Parallel()
	r := httptest.NewRequest("GET", "/", nil)
	assert.Nil(t, reqinfo.From(r.Context()))
	assert.Empty(t, reqinfo.RequestID(r))

	r2, info := reqinfo.Ensure(r)
	assert.NotSame(t, r, r2, "a copy carries the info; the inbound request is untouched")
	assert.Nil(t, reqinfo.From(r.Context()))
	info.RequestID = "x"

	r3, info2 := reqinfo.Ensure(r2)
	assert.Same(t, r2, r3, "no second copy")
	assert.Same(t, info, info2)
	assert.Equal(t, "x", reqinfo.RequestID(r3))
}

func BenchmarkEnsureExisting(b *testing.B) {
	r, _ := reqinfo.Ensure(httptest.NewRequest("GET", "/", nil))
	b.ReportAllocs()
	for b.Loop() {
		reqinfo.Ensure(r)
	}
}
