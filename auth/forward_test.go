package auth

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestForward(t *testing.T) {
	t.Parallel()
	hang := make(chan struct{})
	t.Cleanup(func() { close(hang) })
	svc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The sub-request carries the chosen headers and the original
		// request's coordinates, never its body or other headers.
		assert.Equal(t, http.MethodGet, r.Method)
		assert.Empty(t, r.Header.Get("X-Secret-Internal"))
		w.Header().Set("X-Seen-Uri", r.Header.Get("X-Forwarded-Uri"))
		w.Header().Set("X-Seen-Method", r.Header.Get("X-Forwarded-Method"))
		switch r.Header.Get("Authorization") {
		case "Token good":
			w.Header().Set("X-Auth-User", "u-7")
			w.Header().Set("X-Auth-Groups", "staff, admins")
			w.Header().Set("X-Tenant", "acme")
			w.Header().Set("X-Internal", "not copied")
			w.WriteHeader(http.StatusNoContent)
		case "Token notenant":
			w.Header().Set("X-Auth-User", "u-8")
		case "Token forbidden":
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusForbidden)
			_, _ = w.Write([]byte(`{"error":"no access"}`))
		case "Token login":
			http.Redirect(w, r, "https://login.test/?rd=x", http.StatusFound)
		case "Token boom":
			http.Error(w, "internal detail", http.StatusBadGateway)
		case "Token slow":
			select {
			case <-hang:
			case <-r.Context().Done():
			}
		default:
			w.Header().Set("WWW-Authenticate", `Token realm="svc"`)
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte("who are you"))
		}
	}))
	t.Cleanup(svc.Close)
	f, err := NewForward(ForwardConfig{URL: svc.URL + "/check", ResponseHeaders: []string{"X-Tenant"}, Timeout: 100 * time.Millisecond})
	require.NoError(t, err)
	f500, err := NewForward(ForwardConfig{URL: svc.URL, FailureStatus: http.StatusInternalServerError})
	require.NoError(t, err)

	tests := []struct {
		name       string
		fw         *Forward
		auth       string
		wantStatus int
		wantHeader map[string]string
		wantBody   string
		wantTenant string
	}{
		{"admitted", f, "Token good", 200, map[string]string{"X-Seen-Consumer": "u-7", "Echo-X-Consumer-Groups": "staff,admins"}, "", "acme"},
		{"admitted, chosen header absent: client's copy removed", f, "Token notenant", 200, map[string]string{"X-Seen-Consumer": "u-8"}, "", ""},
		{"denied 401 relayed", f, "Token bad", 401, map[string]string{"WWW-Authenticate": `Token realm="svc"`, "X-Seen-Uri": "/orders/1?q=2"}, "who are you", ""},
		{"denied 403 relayed", f, "Token forbidden", 403, map[string]string{"Content-Type": "application/json"}, `{"error":"no access"}`, ""},
		{"login redirect relayed, not followed", f, "Token login", 302, map[string]string{"Location": "https://login.test/?rd=x"}, "", ""},
		{"auth service 5xx denies with 503", f, "Token boom", 503, map[string]string{"Content-Type": "application/problem+json"}, "", ""},
		{"auth service timeout denies with 503", f, "Token slow", 503, nil, "", ""},
		{"configured failure status", f500, "Token boom", 500, nil, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(http.MethodPost, "/orders/1?q=2", nil)
			r.Header.Set("Authorization", tt.auth)
			r.Header.Set("X-Secret-Internal", "x")
			r.Header.Set("X-Tenant", "spoofed-by-client")
			rec := httptest.NewRecorder()
			var upstreamTenant string
			next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				upstreamTenant = r.Header.Get("X-Tenant")
				okHandler().ServeHTTP(w, r)
			})
			Require(tt.fw)(next).ServeHTTP(rec, r)
			require.Equal(t, tt.wantStatus, rec.Code, rec.Body.String())
			for k, v := range tt.wantHeader {
				assert.Equal(t, v, rec.Header().Get(k), k)
			}
			if tt.wantBody != "" {
				assert.Equal(t, tt.wantBody, rec.Body.String())
			}
			assert.NotContains(t, rec.Body.String(), "internal detail")
			if tt.wantStatus == 200 {
				assert.Equal(t, tt.wantTenant, upstreamTenant, "chosen auth response headers go upstream, replacing the client's")
			}
		})
	}

	_, err = NewForward(ForwardConfig{URL: "ftp://x"})
	require.ErrorIs(t, err, ErrConfig)
	_, err = NewForward(ForwardConfig{URL: svc.URL, FailureStatus: 200})
	require.ErrorIs(t, err, ErrConfig)
}
