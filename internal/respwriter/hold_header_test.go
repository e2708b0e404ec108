package respwriter

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestHoldHeader(t *testing.T) {
	t.Parallel()
	rec := httptest.NewRecorder()
	w := New(rec)
	var buf bytes.Buffer
	w.OnHeader = func(status int) {
		w.HoldHeader()
		w.Divert(&buf, nil)
	}
	w.WriteHeader(http.StatusCreated)
	if rec.Result().StatusCode != http.StatusOK || rec.Flushed {
		t.Fatal("status sent while held")
	}
	if !w.WroteHeader() || w.Status() != http.StatusCreated {
		t.Fatalf("held status not recorded: %v %d", w.WroteHeader(), w.Status())
	}
	_, _ = w.Write([]byte("body"))
	if buf.String() != "body" || rec.Body.Len() != 0 {
		t.Fatalf("body not diverted while held: %q %q", buf.String(), rec.Body.String())
	}
	w.Header().Set("X-Late", "1")
	w.SendHeader()
	w.SendHeader() // no-op
	if rec.Code != http.StatusCreated || rec.Header().Get("X-Late") != "1" {
		t.Fatalf("SendHeader: code %d header %q", rec.Code, rec.Header().Get("X-Late"))
	}
}

func TestFlushSendsHeldHeader(t *testing.T) {
	t.Parallel()
	rec := httptest.NewRecorder()
	w := New(rec)
	w.OnHeader = func(int) { w.HoldHeader() }
	w.WriteHeader(http.StatusAccepted)
	w.Flush()
	if rec.Code != http.StatusAccepted || !rec.Flushed {
		t.Fatalf("flush: code %d flushed %v", rec.Code, rec.Flushed)
	}
}
