package problem_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatewaykit/gateway/internal/problem"
	"github.com/gatewaykit/gateway/internal/reqinfo"
)

type statusErr struct{}

func (statusErr) Error() string             { return "custom" }
func (statusErr) HTTPStatus() int           { return http.StatusTooManyRequests }
func (statusErr) RetryAfter() time.Duration { return 2500 * time.Millisecond }

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

var _ net.Error = timeoutErr{}

func TestStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		want int
	}{
		{name: "status coder", err: statusErr{}, want: 429},
		{name: "wrapped status coder", err: fmt.Errorf("x: %w", statusErr{}), want: 429},
		{name: "max bytes", err: &http.MaxBytesError{Limit: 1}, want: 413},
		{name: "client gone", err: fmt.Errorf("read: %w", context.Canceled), want: 499},
		{name: "deadline", err: context.DeadlineExceeded, want: 504},
		{name: "net timeout", err: &net.OpError{Op: "read", Err: timeoutErr{}}, want: 504},
		{name: "os deadline", err: os.ErrDeadlineExceeded, want: 504},
		{name: "refused", err: errors.New("connect: connection refused"), want: 502},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.want, problem.Status(tt.err))
		})
	}
}

func TestWriteCarriesRequestIDAndEscapes(t *testing.T) {
	t.Parallel()
	req := httptest.NewRequest("GET", "/a%22b/<x>", nil)
	req, info := reqinfo.Ensure(req)
	info.RequestID = `id-"1"`
	rec := httptest.NewRecorder()
	rec.Header().Set("Content-Length", "99")
	rec.Header().Set("WWW-Authenticate", "Bearer")
	problem.Write(rec, req, http.StatusUnauthorized, "bad \x01 token \xff")

	assert.Equal(t, 401, rec.Code)
	assert.Equal(t, problem.ContentType, rec.Header().Get("Content-Type"))
	assert.Equal(t, "Bearer", rec.Header().Get("WWW-Authenticate"), "caller's headers kept")
	assert.Equal(t, fmt.Sprint(rec.Body.Len()), rec.Header().Get("Content-Length"))
	var doc map[string]any
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &doc), rec.Body.String())
	assert.Equal(t, "about:blank", doc["type"])
	assert.Equal(t, "Unauthorized", doc["title"])
	assert.EqualValues(t, 401, doc["status"])
	assert.Equal(t, "bad \x01 token \ufffd", doc["detail"])
	assert.Equal(t, "/a%22b/%3Cx%3E", doc["instance"])
	assert.Equal(t, `id-"1"`, doc["request_id"])
	assert.NotContains(t, rec.Body.String(), "<", "HTML-sensitive characters escaped")
}

func TestWriteErrorRetryAfterAndClientGone(t *testing.T) {
	t.Parallel()
	rec := httptest.NewRecorder()
	problem.WriteError(rec, httptest.NewRequest("GET", "/", nil), statusErr{})
	assert.Equal(t, 429, rec.Code)
	assert.Equal(t, "3", rec.Header().Get("Retry-After"), "rounded up to whole seconds")

	rec = httptest.NewRecorder()
	problem.WriteError(rec, httptest.NewRequest("GET", "/", nil), context.Canceled)
	assert.False(t, rec.Flushed)
	assert.Zero(t, rec.Body.Len(), "nothing is written to a client that left")

	rec = httptest.NewRecorder()
	problem.WriteError(rec, httptest.NewRequest("HEAD", "/", nil), errors.New("boom"))
	assert.Equal(t, 502, rec.Code)
	assert.Zero(t, rec.Body.Len(), "HEAD has no body")
}

func BenchmarkWrite(b *testing.B) {
	req := httptest.NewRequest("GET", "/x", nil)
	req, info := reqinfo.Ensure(req)
	info.RequestID = "abc"
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		problem.Write(rec, req, 404, "")
	}
}
