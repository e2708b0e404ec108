package respwriter_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/textproto"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatewaykit/gateway/internal/respwriter"
)

// TestDetachedHeaderIsolated checks that a detached Writer's handler
// writes into its own map, that the client's map is untouched until the
// status is released, and that the release merges like a proxy: outer
// fields first, their value slices copied rather than appended to in
// place.
func TestDetachedHeaderIsolated(t *testing.T) {
	t.Parallel()
	rec := httptest.NewRecorder()
	outerVary := make([]string, 1, 4) // spare capacity an in-place append would use
	outerVary[0] = "Origin"
	rec.Header()["Vary"] = outerVary
	rec.Header().Set("X-Request-Id", "rid")

	own := make(http.Header)
	w := respwriter.New(rec)
	w.Detach(own)
	w.Header().Set("Cache-Control", "max-age=60")
	w.Header().Add("Vary", "Accept-Encoding")
	assert.Equal(t, "max-age=60", own.Get("Cache-Control"), "the handler's fields land in the owner's map")
	assert.Empty(t, rec.Header().Get("Cache-Control"), "the client's map is untouched")
	assert.Empty(t, own.Get("X-Request-Id"), "outer fields are not visible to the handler")

	w.WriteHeader(http.StatusOK)
	assert.Empty(t, rec.Header().Get("Cache-Control"), "still held")
	w.SendHeader()

	assert.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, []string{"Origin", "Accept-Encoding"}, rec.Header().Values("Vary"), "outer fields first")
	assert.Equal(t, "Origin", outerVary[:2][0])
	assert.Empty(t, outerVary[:2][1], "the outer slice's array was not written into")
	assert.Equal(t, "rid", rec.Header().Get("X-Request-Id"))
	assert.Equal(t, "max-age=60", rec.Header().Get("Cache-Control"))
	assert.Equal(t, []string{"Accept-Encoding"}, own.Values("Vary"), "the owner's map keeps upstream's fields alone")

	w.Header().Set("X-After", "1")
	assert.Equal(t, "1", rec.Header().Get("X-After"), "after release Header is the client's map")
	assert.Empty(t, own.Get("X-After"))
}

// TestDetachedStatus checks the held final status: released from
// OnHeader or later by the owner, replaced by the owner's own answer, or
// left held with nowhere for the body to go.
func TestDetachedStatus(t *testing.T) {
	t.Parallel()
	type result struct {
		code     int
		body     string
		header   http.Header
		writeErr error
		status   int
	}
	tests := []struct {
		name string
		// onHeader is the owner's decision when the status arrives;
		// after runs once the handler returned.
		onHeader func(w *respwriter.Writer, buf *bytes.Buffer, status int)
		after    func(w *respwriter.Writer, buf *bytes.Buffer)
		want     result
	}{
		{
			name:     "released from OnHeader",
			onHeader: func(w *respwriter.Writer, _ *bytes.Buffer, _ int) { w.SendHeader() },
			want:     result{code: http.StatusCreated, body: "made", header: http.Header{"Etag": {`"v1"`}}, status: http.StatusCreated},
		},
		{
			name: "released after the handler returned",
			onHeader: func(w *respwriter.Writer, buf *bytes.Buffer, _ int) {
				w.Divert(buf, nil)
			},
			after: func(w *respwriter.Writer, buf *bytes.Buffer) {
				w.Divert(nil, nil)
				w.SendHeader()
				_, _ = w.Write(buf.Bytes())
			},
			want: result{code: http.StatusCreated, body: "made", header: http.Header{"Etag": {`"v1"`}}, status: http.StatusCreated},
		},
		{
			name: "replaced by the owner",
			onHeader: func(w *respwriter.Writer, _ *bytes.Buffer, _ int) {
				w.Divert(io.Discard, nil)
			},
			after: func(w *respwriter.Writer, _ *bytes.Buffer) {
				client := w.Unwrap()
				client.Header().Set("X-From", "owner")
				client.WriteHeader(http.StatusOK)
				_, _ = io.WriteString(client, "stored")
			},
			want: result{code: http.StatusOK, body: "stored", header: http.Header{"X-From": {"owner"}}, status: http.StatusCreated},
		},
		{
			name:     "held with no divert target",
			onHeader: func(*respwriter.Writer, *bytes.Buffer, int) {},
			want:     result{code: 0, header: http.Header{}, writeErr: respwriter.ErrHeld, status: http.StatusCreated},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := httptest.NewRecorder()
			rec.Code = 0 // tell "never written" from an implicit 200
			w := respwriter.New(rec)
			w.Detach(nil)
			var buf bytes.Buffer
			var seen []int
			w.OnHeader = func(status int) {
				seen = append(seen, status)
				tt.onHeader(w, &buf, status)
			}
			w.Header().Set("Etag", `"v1"`)
			w.WriteHeader(http.StatusCreated)
			w.WriteHeader(http.StatusInternalServerError) // ignored, as net/http does
			_, err := io.WriteString(w, "made")
			if tt.after != nil {
				tt.after(w, &buf)
			}
			got := result{code: rec.Code, body: rec.Body.String(), header: rec.Header(), writeErr: err, status: w.Status()}
			assert.Equal(t, tt.want, got, tt.name)
			assert.Equal(t, []int{http.StatusCreated}, seen, "OnHeader runs once")
			assert.True(t, w.WroteHeader())
		})
	}
}

// TestDetachedFlushWhileHeld checks that a Flush while the status is held
// reaches the Divert target only, and that after the release it reaches
// the client.
func TestDetachedFlushWhileHeld(t *testing.T) {
	t.Parallel()
	rec := httptest.NewRecorder()
	w := respwriter.New(rec)
	w.Detach(nil)
	divertFlushes := 0
	var buf bytes.Buffer
	w.OnHeader = func(int) {
		w.Divert(&buf, func() error { divertFlushes++; return nil })
	}
	w.Header().Set("X-Up", "1")
	_, _ = io.WriteString(w, "part") // implicit 200, held
	require.NoError(t, http.NewResponseController(w).Flush(), "the owner accepted the bytes")
	w.Flush()
	assert.Equal(t, 2, divertFlushes, "the Divert target is flushed")
	assert.False(t, rec.Flushed, "the client is not flushed while held")
	assert.Empty(t, rec.Header().Get("X-Up"), "no field reached the client")
	assert.Equal(t, "part", buf.String())
	assert.Equal(t, 0, rec.Body.Len())

	w.Divert(nil, nil)
	w.SendHeader()
	require.NoError(t, http.NewResponseController(w).Flush())
	assert.True(t, rec.Flushed, "after the release Flush reaches the client")
	assert.Equal(t, "1", rec.Header().Get("X-Up"))
}

// TestDetachedFlushBeforeStatus checks that a Flush before any status
// writes 200 as net/http does, which gives the owner its decision.
func TestDetachedFlushBeforeStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		release     bool
		wantFlushed bool
	}{
		{name: "owner releases", release: true, wantFlushed: true},
		{name: "owner holds", release: false, wantFlushed: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := httptest.NewRecorder()
			w := respwriter.New(rec)
			w.Detach(nil)
			var seen int
			w.OnHeader = func(status int) {
				seen = status
				if tt.release {
					w.SendHeader()
				}
			}
			w.Flush()
			assert.Equal(t, http.StatusOK, seen)
			assert.Equal(t, tt.wantFlushed, rec.Flushed)
		})
	}
}

// TestDetachedUnwrapWhileHeld checks over a real connection that
// ResponseController reaches the connection's deadlines through a
// detached Writer whose status is held, and that Unwrap is the wrapped
// writer.
func TestDetachedUnwrapWhileHeld(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(cw http.ResponseWriter, r *http.Request) {
		w := respwriter.New(cw)
		w.Detach(nil)
		w.OnHeader = func(int) { w.Divert(io.Discard, nil) }
		w.WriteHeader(http.StatusNotModified) // held
		assert.Same(t, cw, w.Unwrap())
		rc := http.NewResponseController(w)
		assert.NoError(t, rc.SetWriteDeadline(time.Now().Add(time.Minute)), "deadline reaches the connection while held")
		assert.NoError(t, rc.SetReadDeadline(time.Time{}))
		// The owner answers instead of the held 304.
		cw.Header().Set("X-From", "owner")
		_, _ = io.WriteString(cw, "owner")
	}))
	defer srv.Close()
	res, err := srv.Client().Get(srv.URL)
	require.NoError(t, err)
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	assert.Equal(t, http.StatusOK, res.StatusCode)
	assert.Equal(t, "owner", string(body))
	assert.Equal(t, "owner", res.Header.Get("X-From"))
}

// TestDetachedWithoutClient checks a detached Writer around nil (a
// background fetch): the status stays held and nothing panics.
func TestDetachedWithoutClient(t *testing.T) {
	t.Parallel()
	w := respwriter.New(nil)
	own := make(http.Header)
	w.Detach(own)
	var buf bytes.Buffer
	w.OnHeader = func(int) {
		w.SendHeader() // nothing to send to
		w.Divert(&buf, nil)
	}
	w.Header().Set("Cache-Control", "max-age=5")
	w.WriteHeader(http.StatusEarlyHints) // dropped: no client
	_, err := io.WriteString(w, "body")
	require.NoError(t, err)
	assert.NoError(t, w.FlushError())
	_, _, err = w.Hijack()
	assert.ErrorIs(t, err, http.ErrNotSupported)
	assert.Nil(t, w.Unwrap())
	assert.Equal(t, http.StatusOK, w.Status())
	assert.Equal(t, "body", buf.String())
	assert.Equal(t, "max-age=5", own.Get("Cache-Control"))
	w.Header().Set("X-Late", "1")
	assert.Equal(t, "1", own.Get("X-Late"), "still the owner's map")
}

// TestDetachedInformational checks over a real connection that a 1xx from
// a detached Writer carries the handler's fields without leaving them in
// the client's final header, and that DropInformational drops it.
func TestDetachedInformational(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		drop      bool
		wantHints []string
	}{
		{name: "forwarded", wantHints: []string{"</style.css>; rel=preload"}},
		{name: "dropped", drop: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(cw http.ResponseWriter, r *http.Request) {
				cw.Header().Set("X-Outer", "o")
				w := respwriter.New(cw)
				w.Detach(nil)
				w.DropInformational = tt.drop
				w.OnHeader = func(int) { w.SendHeader() }
				w.Header().Set("Link", "</style.css>; rel=preload")
				w.WriteHeader(http.StatusEarlyHints)
				w.Header().Del("Link")
				w.Header().Set("X-Final", "f")
				_, _ = io.WriteString(w, "page")
			}))
			defer srv.Close()
			var hints []string
			ctx := httptrace.WithClientTrace(t.Context(), &httptrace.ClientTrace{
				Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
					hints = append(hints, h.Values("Link")...)
					return nil
				},
			})
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
			require.NoError(t, err)
			res, err := srv.Client().Do(req)
			require.NoError(t, err)
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			assert.Equal(t, tt.wantHints, hints)
			assert.Equal(t, "page", string(body))
			assert.Empty(t, res.Header.Get("Link"), "the hint's field is not a final field")
			assert.Equal(t, "o", res.Header.Get("X-Outer"))
			assert.Equal(t, "f", res.Header.Get("X-Final"))
		})
	}
}

// TestDetachedTrailers checks over a real connection that trailers the
// handler sets after its status was released reach the client.
func TestDetachedTrailers(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(cw http.ResponseWriter, r *http.Request) {
		w := respwriter.New(cw)
		w.Detach(nil)
		w.OnHeader = func(int) { w.SendHeader() }
		w.Header().Set("Trailer", "X-Sum")
		_, _ = io.WriteString(w, "data")
		w.Header().Set("X-Sum", "42")
	}))
	defer srv.Close()
	res, err := srv.Client().Get(srv.URL)
	require.NoError(t, err)
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	assert.Equal(t, "data", string(body))
	assert.Equal(t, "42", res.Trailer.Get("X-Sum"))
}

// TestDetachedHijack checks that a hijack passes through a detached
// Writer and that a held status is then never sent.
func TestDetachedHijack(t *testing.T) {
	t.Parallel()
	done := make(chan *respwriter.Writer, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(cw http.ResponseWriter, r *http.Request) {
		w := respwriter.New(cw)
		w.Detach(nil)
		w.OnHeader = func(int) { w.Divert(io.Discard, nil) }
		w.WriteHeader(http.StatusNotModified) // held
		c, brw, err := http.NewResponseController(w).Hijack()
		if !assert.NoError(t, err) {
			done <- w
			return
		}
		w.SendHeader() // too late: nothing is written
		_, _ = brw.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nraw")
		_ = brw.Flush()
		_ = c.Close()
		done <- w
	}))
	defer srv.Close()
	res, err := srv.Client().Get(srv.URL)
	require.NoError(t, err)
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	w := <-done
	assert.Equal(t, http.StatusOK, res.StatusCode)
	assert.Equal(t, "raw", string(body))
	assert.True(t, w.Hijacked())
	assert.Equal(t, http.StatusNotModified, w.Status(), "the held status stays recorded")
}

// TestResetUndoesDetach checks that a pooled Writer does not stay
// detached.
func TestResetUndoesDetach(t *testing.T) {
	t.Parallel()
	var w respwriter.Writer
	w.Reset(httptest.NewRecorder())
	w.Detach(nil)
	w.DropInformational = true
	rec := httptest.NewRecorder()
	w.Reset(rec)
	w.Header().Set("X-A", "1")
	w.WriteHeader(http.StatusAccepted)
	assert.Equal(t, "1", rec.Header().Get("X-A"))
	assert.Equal(t, http.StatusAccepted, rec.Code)
}

func TestHoldHeaderWriteWithoutDivert(t *testing.T) {
	t.Parallel()
	rec := httptest.NewRecorder()
	w := respwriter.New(rec)
	w.OnHeader = func(int) { w.HoldHeader() }
	n, err := w.Write([]byte("x"))
	assert.ErrorIs(t, err, respwriter.ErrHeld)
	assert.Zero(t, n)
	n2, err := w.WriteString("x")
	assert.ErrorIs(t, err, respwriter.ErrHeld)
	assert.Zero(t, n2)
	assert.False(t, rec.Flushed)
	assert.Equal(t, 0, rec.Body.Len(), "nothing reached the client before SendHeader")
	w.SendHeader()
	_, err = w.WriteString("y")
	require.NoError(t, err)
	assert.Equal(t, "y", rec.Body.String())
	assert.EqualValues(t, 1, w.BytesWritten())
}

func BenchmarkDetached(b *testing.B) {
	rec := httptest.NewRecorder()
	p := []byte("payload")
	own := make(http.Header)
	b.ReportAllocs()
	for b.Loop() {
		clear(own)
		clear(rec.Header())
		var w respwriter.Writer
		w.Reset(rec)
		w.Detach(own)
		w.Header()["Cache-Control"] = []string{"max-age=60"}
		w.WriteHeader(http.StatusOK)
		w.SendHeader()
		_, _ = w.Write(p)
	}
}
