package reqinfo_test

import (
	"fmt"
	"net/http/httptest"

	"github.com/gatewaykit/gateway/internal/reqinfo"
)

func ExampleEnsure() {
	r, info := reqinfo.Ensure(httptest.NewRequest("GET", "/", nil))
	info.RequestID = "req-1"
	fmt.Println(reqinfo.RequestID(r))
	// Output: req-1
}
