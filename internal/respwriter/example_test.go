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
