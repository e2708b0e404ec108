package middleware

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func jsonLogger(buf *bytes.Buffer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func TestRecoverBeforeHeader(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	h := Recover(jsonLogger(&logs))(RequestID(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		panic("boom")
	})))
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/users/7?token=secret", nil)
	require.NotPanics(t, func() { h.ServeHTTP(rec, req) })

	assert.Equal(t, http.StatusInternalServerError, rec.Code)
	assert.Equal(t, "application/problem+json", rec.Header().Get("Content-Type"))
	id := rec.Header().Get("X-Request-ID")
	require.NotEmpty(t, id)
	var body map[string]any
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body))
	assert.Equal(t, float64(500), body["status"])
	assert.Equal(t, id, body["request_id"], "problem carries the request ID set inside Recover")

	var rec2 map[string]any
	require.NoError(t, json.Unmarshal(logs.Bytes(), &rec2), "one JSON record: %s", logs.String())
	assert.Equal(t, "ERROR", rec2["level"])
	assert.Equal(t, "boom", rec2["panic"])
	assert.Equal(t, id, rec2["request_id"])
	assert.Equal(t, "POST", rec2["method"])
	assert.Equal(t, "/users/7", rec2["path"])
	assert.Contains(t, rec2["stack"], "recover_test.go", "stack names the panicking frame")
}

func TestRecoverAfterHeaderAborts(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	h := Recover(jsonLogger(&logs))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte("partial"))
		panic(errors.New("late"))
	}))
	rec := httptest.NewRecorder()
	v := func() (v any) {
		defer func() { v = recover() }()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
		return nil
	}()
	assert.Equal(t, http.ErrAbortHandler, v, "aborts the connection")
	assert.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, "partial", rec.Body.String(), "no problem appended")
	assert.Contains(t, logs.String(), `"panic":"late"`)
}

func TestRecoverErrAbortHandlerUntouched(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	h := Recover(jsonLogger(&logs))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		panic(http.ErrAbortHandler)
	}))
	rec := httptest.NewRecorder()
	assert.PanicsWithValue(t, http.ErrAbortHandler, func() {
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	})
	assert.Empty(t, logs.String(), "deliberate aborts are not logged")
	assert.False(t, rec.Flushed)
	assert.Empty(t, rec.Body.String())
}

func TestRecoverNoPanicPassesThrough(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	h := Recover(jsonLogger(&logs))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusTeapot)
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	assert.Equal(t, http.StatusTeapot, rec.Code)
	assert.Empty(t, logs.String())
}

// TestRecoverRealServer checks that the server survives panics before and
// after the header over real connections.
func TestRecoverRealServer(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	var mu = make(chan struct{}, 1) // serialise writes to logs
	mu <- struct{}{}
	logger := slog.New(slog.NewJSONHandler(lockedWriter{&logs, mu}, nil))
	mux := http.NewServeMux()
	mux.HandleFunc("/early", func(w http.ResponseWriter, r *http.Request) { panic("early") })
	mux.HandleFunc("/late", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte("x"))
		http.NewResponseController(w).Flush()
		panic("late")
	})
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") })
	srv, client := newServer(t, Recover(logger)(mux))

	res, err := client.Get(srv.URL + "/early")
	require.NoError(t, err)
	_ = res.Body.Close()
	assert.Equal(t, http.StatusInternalServerError, res.StatusCode)

	res, err = client.Get(srv.URL + "/late")
	require.NoError(t, err)
	_, err = io.ReadAll(res.Body)
	_ = res.Body.Close()
	assert.Error(t, err, "the aborted body is truncated, not completed")

	res, err = client.Get(srv.URL + "/ok")
	require.NoError(t, err)
	b, _ := io.ReadAll(res.Body)
	_ = res.Body.Close()
	assert.Equal(t, "ok", string(b), "server still serves")
}

type lockedWriter struct {
	w  io.Writer
	mu chan struct{}
}

func (l lockedWriter) Write(p []byte) (int, error) {
	<-l.mu
	defer func() { l.mu <- struct{}{} }()
	return l.w.Write(p)
}

func BenchmarkRecover(b *testing.B) {
	h := Recover(slog.New(slog.DiscardHandler))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	w := &discardWriter{h: make(http.Header)}
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(w, req)
	}
}
