package gatewaytest

import (
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"testing"
)

// Problem is a decoded RFC 9457 problem document as the gateway writes it.
type Problem struct {
	Type      string `json:"type"`
	Title     string `json:"title"`
	Status    int    `json:"status"`
	Detail    string `json:"detail"`
	Instance  string `json:"instance"`
	RequestID string `json:"request_id"`
}

// ReadProblem decodes resp's body as application/problem+json, failing the
// test when the media type or the JSON is wrong or when the document's status
// differs from the response's. It closes the body.
func ReadProblem(t testing.TB, resp *http.Response) Problem {
	t.Helper()
	defer resp.Body.Close()
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if mt != "application/problem+json" {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("gatewaytest: Content-Type %q, want application/problem+json (status %d, body %q)", resp.Header.Get("Content-Type"), resp.StatusCode, b)
	}
	var p Problem
	if err := json.NewDecoder(resp.Body).Decode(&p); err != nil {
		t.Fatalf("gatewaytest: decoding problem: %v", err)
	}
	if p.Status != resp.StatusCode {
		t.Fatalf("gatewaytest: problem status %d, response status %d", p.Status, resp.StatusCode)
	}
	return p
}

// Do sends req to h through an httptest.ResponseRecorder and returns the
// response.
func Do(h http.Handler, req *http.Request) *http.Response {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}
