package problem_test

import (
	"fmt"
	"net/http/httptest"

	"github.com/gatewaykit/gateway/internal/problem"
)

func ExampleWrite() {
	rec := httptest.NewRecorder()
	problem.Write(rec, httptest.NewRequest("GET", "/nowhere", nil), 404, "no route matches")
	fmt.Print(rec.Code, " ", rec.Header().Get("Content-Type"), "\n", rec.Body.String())
	// Output:
	// 404 application/problem+json
	// {"type":"about:blank","title":"Not Found","status":404,"detail":"no route matches","instance":"/nowhere"}
}
