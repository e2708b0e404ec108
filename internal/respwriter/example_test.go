package respwriter_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/gatewaykit/gateway/internal/respwriter"
)

// A middleware wraps the ResponseWriter once to learn the status and size.
func Example() {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, "created")
	})
	logged := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rw := respwriter.New(w)
		h.ServeHTTP(rw, r)
		fmt.Println(rw.Status(), rw.BytesWritten())
	})
	logged.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("POST", "/", nil))
	// Output: 201 7
}

// A cache hands upstream a detached Writer: upstream's fields and status
// stay with the cache, which answers a 304 to its own conditional request
// from what it stored, and releases any other response to the client.
func ExampleWriter_Detach() {
	origin := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Etag", `"v1"`)
		w.WriteHeader(http.StatusNotModified)
	})
	cache := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		up := make(http.Header)
		rw := respwriter.New(w)
		rw.Detach(up)
		rw.OnHeader = func(status int) {
			if status == http.StatusNotModified {
				rw.Divert(io.Discard, nil) // keep it: answer from the store
				return
			}
			rw.SendHeader()
		}
		origin.ServeHTTP(rw, r)
		if rw.Status() == http.StatusNotModified {
			fmt.Println("upstream said", rw.Status(), "for", up.Get("Etag"))
			w.Header().Set("Etag", up.Get("Etag"))
			io.WriteString(w, "stored body")
		}
	})
	rec := httptest.NewRecorder()
	cache.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	fmt.Println(rec.Code, rec.Header().Get("Etag"), rec.Body.String())
	// Output:
	// upstream said 304 for "v1"
	// 200 "v1" stored body
}
