package cache

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// resp returns an origin answering 200 "v<n>" with the given header pairs.
func resp(kv ...string) func(http.ResponseWriter, *http.Request, int) {
	return func(w http.ResponseWriter, r *http.Request, n int) {
		for i := 0; i+1 < len(kv); i += 2 {
			w.Header().Add(kv[i], kv[i+1])
		}
		writeBody(w, "v"+itoa(n))
	}
}

// statusResp answers status with the header pairs and body "v<n>".
func statusResp(status int, kv ...string) func(http.ResponseWriter, *http.Request, int) {
	return func(w http.ResponseWriter, r *http.Request, n int) {
		for i := 0; i+1 < len(kv); i += 2 {
			w.Header().Add(kv[i], kv[i+1])
		}
		w.Header().Set("Content-Length", itoa(len("v"+itoa(n))))
		w.WriteHeader(status)
		_, _ = w.Write([]byte("v" + itoa(n)))
	}
}

// etagOrigin answers 304 to If-None-Match: "e1", else 200 "v<n>" with
// ETag "e1" and cc; extra header pairs go on both.
func etagOrigin(cc string, kv ...string) func(http.ResponseWriter, *http.Request, int) {
	return func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("ETag", `"e1"`)
		if cc != "" {
			w.Header().Set("Cache-Control", cc)
		}
		for i := 0; i+1 < len(kv); i += 2 {
			w.Header().Set(kv[i], kv[i+1])
		}
		if r.Header.Get("If-None-Match") == `"e1"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		writeBody(w, "v"+itoa(n))
	}
}

func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

func TestRFC9111Storability(t *testing.T) {
	t.Parallel()
	tests := []rfcCase{
		{name: "3/get-200-max-age-stored", origin: resp("Cache-Control", "max-age=60"), steps: []step{
			{upstream: 1, body: str("v1"), cacheStatus: "fwd=uri-miss; stored"},
			{advance: 5 * time.Second, upstream: 1, body: str("v1"), cacheStatus: "gatewaykit; hit; ttl=55", headers: map[string]string{"Age": "5"}},
		}},
		{name: "3/post-not-stored", origin: resp("Cache-Control", "max-age=60"), steps: []step{
			{method: http.MethodPost, upstream: 1},
			{upstream: 2, body: str("v2")},
		}},
		{name: "3/response-no-store-not-stored", origin: resp("Cache-Control", "max-age=60, no-store"), steps: []step{
			{upstream: 1, cacheStatus: "detail=no-store"},
			{upstream: 2, body: str("v2")},
		}},
		{name: "3/private-not-stored-by-shared-cache", origin: resp("Cache-Control", "private, max-age=60"), steps: []step{
			{upstream: 1, cacheStatus: "detail=private"},
			{upstream: 2},
		}},
		{name: "3/qualified-private-not-stored", origin: resp("Cache-Control", `private="X-User", max-age=60`), steps: []step{
			{upstream: 1}, {upstream: 2},
		}},
		{name: "3/set-cookie-not-stored", origin: resp("Cache-Control", "max-age=60", "Set-Cookie", "s=1"), steps: []step{
			{upstream: 1, cacheStatus: "detail=set-cookie"}, {upstream: 2},
		}},
		{name: "3/302-without-freshness-not-stored", origin: statusResp(http.StatusFound, "Location", "/x"),
			cfg: Config{TTL: time.Minute}, steps: []step{
				{status: 302, upstream: 1, cacheStatus: "detail=not-cacheable"}, {status: 302, upstream: 2},
			}},
		{name: "3/302-with-max-age-stored", origin: statusResp(http.StatusFound, "Location", "/x", "Cache-Control", "max-age=60"), steps: []step{
			{status: 302, upstream: 1}, {status: 302, upstream: 1, cacheStatus: "hit"},
		}},
		{name: "3/404-with-max-age-stored", origin: statusResp(http.StatusNotFound, "Cache-Control", "max-age=60"), steps: []step{
			{status: 404, upstream: 1}, {status: 404, upstream: 1, body: str("v1")},
		}},
		{name: "3/206-from-origin-not-stored", origin: statusResp(http.StatusPartialContent, "Cache-Control", "max-age=60", "Content-Range", "bytes 0-1/10"), steps: []step{
			{status: 206, upstream: 1}, {status: 206, upstream: 2},
		}},
		{name: "3.1/hop-by-hop-and-connection-fields-not-stored",
			origin: resp("Cache-Control", "max-age=60", "Connection", "X-Hop", "X-Hop", "1", "Keep-Alive", "timeout=5", "X-End", "e"),
			steps: []step{
				{upstream: 1},
				{upstream: 1, absent: []string{"X-Hop", "Keep-Alive", "Connection"}, headers: map[string]string{"X-End": "e"}},
			}},
		{name: "3.3/incomplete-body-not-stored", origin: func(w http.ResponseWriter, r *http.Request, n int) {
			w.Header().Set("Cache-Control", "max-age=60")
			w.Header().Set("Content-Length", "100")
			_, _ = w.Write([]byte("short"))
		}, steps: []step{{upstream: 1}, {upstream: 2}}},
		{name: "3.3/streamed-body-without-length-stored", origin: func(w http.ResponseWriter, r *http.Request, n int) {
			w.Header().Set("Cache-Control", "max-age=60")
			_, _ = w.Write([]byte("chunk1-"))
			w.(http.Flusher).Flush()
			_, _ = w.Write([]byte("chunk2"))
		}, steps: []step{
			{upstream: 1, body: str("chunk1-chunk2")},
			{upstream: 1, body: str("chunk1-chunk2"), headers: map[string]string{"Content-Length": "13"}},
		}},
		{name: "3.5/authorization-not-stored", origin: resp("Cache-Control", "max-age=60"), steps: []step{
			{header: hdr("Authorization", "Bearer a"), upstream: 1, cacheStatus: "detail=authorization"},
			{header: hdr("Authorization", "Bearer a"), upstream: 2},
		}},
		{name: "3.5/authorization-with-s-maxage-stored", origin: resp("Cache-Control", "s-maxage=60"), steps: []step{
			{header: hdr("Authorization", "Bearer a"), upstream: 1},
			{header: hdr("Authorization", "Bearer a"), upstream: 1, cacheStatus: "hit"},
		}},
		{name: "3.5/authorization-with-public-stored", origin: resp("Cache-Control", "public, max-age=60"), steps: []step{
			{header: hdr("Authorization", "Bearer a"), upstream: 1},
			{upstream: 1, cacheStatus: "hit"},
		}},
		{name: "3.5/authorization-with-must-revalidate-stored", origin: resp("Cache-Control", "must-revalidate, max-age=60"), steps: []step{
			{header: hdr("Authorization", "Bearer a"), upstream: 1},
			{header: hdr("Authorization", "Bearer a"), upstream: 1, cacheStatus: "hit"},
		}},
		{name: "5.2.2.3/must-understand-overrides-no-store", origin: resp("Cache-Control", "must-understand, no-store, max-age=60"), steps: []step{
			{upstream: 1}, {upstream: 1, cacheStatus: "hit"},
		}},
		{name: "5.2.1.5/request-no-store-not-stored", origin: resp("Cache-Control", "max-age=60"), steps: []step{
			{header: hdr("Cache-Control", "no-store"), upstream: 1, cacheStatus: "detail=request-no-store"},
			{upstream: 2},
		}},
		{name: "4.1/vary-star-never-matches", origin: resp("Cache-Control", "max-age=60", "Vary", "*"), steps: []step{
			{upstream: 1, cacheStatus: "detail=vary-star"}, {upstream: 2},
		}},
		{name: "RFC9211-2/cache-status-appended-after-upstream-members", origin: resp("Cache-Control", "max-age=60", "Cache-Status", "origin-cache; hit"), steps: []step{
			{upstream: 1, headers: map[string]string{"Cache-Status": "origin-cache; hit"},
				check: func(t *testing.T, _ *origin, rec *httptest.ResponseRecorder) {
					assert.Equal(t, []string{"origin-cache; hit", "gatewaykit; fwd=uri-miss; stored"}, rec.Header().Values("Cache-Status"))
				}},
			{upstream: 1, check: func(t *testing.T, _ *origin, rec *httptest.ResponseRecorder) {
				assert.Equal(t, []string{"origin-cache; hit", "gatewaykit; hit; ttl=60"}, rec.Header().Values("Cache-Status"))
			}},
		}},
		{name: "surrogate-key-consumed-not-exposed", origin: resp("Cache-Control", "max-age=60", "Surrogate-Key", "a b"), steps: []step{
			{upstream: 1, absent: []string{"Surrogate-Key"}}, {upstream: 1, absent: []string{"Surrogate-Key"}},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			runCase(t, tc)
		})
	}
}

func TestRFC9111Freshness(t *testing.T) {
	t.Parallel()
	date := func(d time.Duration) string { return newClock().Now().Add(d).Format(http.TimeFormat) }
	tests := []rfcCase{
		{name: "4.2.1/s-maxage-over-max-age", origin: resp("Cache-Control", "max-age=100, s-maxage=10"), steps: []step{
			{upstream: 1}, {advance: 9 * time.Second, upstream: 1}, {advance: 2 * time.Second, upstream: 2},
		}},
		{name: "4.2.1/max-age-over-expires", origin: resp("Cache-Control", "max-age=100", "Expires", date(-time.Hour)), steps: []step{
			{upstream: 1}, {advance: 50 * time.Second, upstream: 1, cacheStatus: "hit"},
		}},
		{name: "4.2.1/expires-minus-date", origin: resp("Date", date(0), "Expires", date(30*time.Second)), steps: []step{
			{upstream: 1}, {advance: 29 * time.Second, upstream: 1, cacheStatus: "ttl=1"}, {advance: 2 * time.Second, upstream: 2},
		}},
		{name: "4.2.1/invalid-expires-is-stale", origin: etagOrigin("", "Expires", "0"), steps: []step{
			{upstream: 1}, {upstream: 2, body: str("v1"), cacheStatus: "fwd=stale; fwd-status=304"},
		}},
		{name: "4.2.1/duplicate-max-age-is-stale", origin: etagOrigin("max-age=60, max-age=120"), steps: []step{
			{upstream: 1}, {upstream: 2, cacheStatus: "fwd-status=304"},
		}},
		{name: "4.2.2/no-heuristic-freshness-by-default", origin: etagOrigin(""), steps: []step{
			{upstream: 1}, {upstream: 2, body: str("v1"), cacheStatus: "fwd=stale; fwd-status=304"},
		}},
		{name: "4.2.2/heuristic-freshness-when-configured", cfg: Config{TTL: 30 * time.Second}, origin: resp(), steps: []step{
			{upstream: 1}, {advance: 29 * time.Second, upstream: 1, cacheStatus: "hit"}, {advance: 2 * time.Second, upstream: 2},
		}},
		{name: "4.2.2/heuristic-at-most-10-percent-of-last-modified-age", cfg: Config{TTL: time.Hour},
			origin: resp("Date", date(0), "Last-Modified", date(-100*time.Second)), steps: []step{
				{upstream: 1}, {advance: 9 * time.Second, upstream: 1, cacheStatus: "hit; ttl=1"},
				{advance: 2 * time.Second, upstream: 2, cacheStatus: "fwd=stale",
					check: func(t *testing.T, o *origin, _ *httptest.ResponseRecorder) {
						assert.Equal(t, date(-100*time.Second), o.last().Header.Get("If-Modified-Since"))
					}},
			}},
		{name: "4.2.2/no-heuristic-when-explicit-expiration", cfg: Config{TTL: time.Hour}, origin: etagOrigin("max-age=5"), steps: []step{
			{upstream: 1}, {advance: 6 * time.Second, upstream: 2, cacheStatus: "fwd-status=304"},
		}},
		{name: "4.2.2/no-heuristic-for-non-heuristic-status", cfg: Config{TTL: time.Hour}, origin: statusResp(http.StatusTemporaryRedirect, "Location", "/y"), steps: []step{
			{status: 307, upstream: 1}, {status: 307, upstream: 2},
		}},
		{name: "4.2.3/age-from-upstream-age-header", origin: resp("Cache-Control", "max-age=60", "Age", "50"), steps: []step{
			{upstream: 1}, {advance: 5 * time.Second, upstream: 1, headers: map[string]string{"Age": "55"}},
			{advance: 6 * time.Second, upstream: 2},
		}},
		{name: "4.2.3/apparent-age-from-date", origin: resp("Cache-Control", "max-age=30", "Date", date(-20*time.Second)), steps: []step{
			{upstream: 1}, {upstream: 1, headers: map[string]string{"Age": "20"}}, {advance: 11 * time.Second, upstream: 2},
		}},
		{name: "4.2.3/missing-date-added", origin: resp("Cache-Control", "max-age=30"), steps: []step{
			{upstream: 1, headers: map[string]string{"Date": date(0)}}, {upstream: 1, headers: map[string]string{"Date": date(0)}},
		}},
		{name: "5.2.1.1/request-max-age", origin: resp("Cache-Control", "max-age=60"), steps: []step{
			{upstream: 1}, {advance: 10 * time.Second, header: hdr("Cache-Control", "max-age=5"), upstream: 2},
			{header: hdr("Cache-Control", "max-age=5"), upstream: 2, cacheStatus: "hit"},
		}},
		{name: "5.2.1.2/request-max-stale", origin: resp("Cache-Control", "max-age=10"), steps: []step{
			{upstream: 1}, {advance: 15 * time.Second, header: hdr("Cache-Control", "max-stale=10"), upstream: 1, body: str("v1"), cacheStatus: "detail=max-stale"},
			{header: hdr("Cache-Control", "max-stale=2"), upstream: 2},
		}},
		{name: "5.2.1.2/request-max-stale-without-value", origin: resp("Cache-Control", "max-age=10"), steps: []step{
			{upstream: 1}, {advance: 5 * time.Minute, header: hdr("Cache-Control", "max-stale"), upstream: 1},
			{advance: 10 * time.Minute, header: hdr("Cache-Control", "max-stale"), upstream: 2}, // past KeepStale: gone
		}},
		{name: "5.2.1.3/request-min-fresh", origin: resp("Cache-Control", "max-age=60"), steps: []step{
			{upstream: 1}, {advance: 50 * time.Second, header: hdr("Cache-Control", "min-fresh=20"), upstream: 2},
		}},
		{name: "5.2.1.4/request-no-cache-forwards", origin: resp("Cache-Control", "max-age=60"), steps: []step{
			{upstream: 1}, {header: hdr("Cache-Control", "no-cache"), upstream: 2, body: str("v2"), cacheStatus: "fwd=request"}, {upstream: 2, body: str("v2")},
		}},
		{name: "5.2.1.7/only-if-cached-504-when-absent", origin: resp("Cache-Control", "max-age=60"), steps: []step{
			{header: hdr("Cache-Control", "only-if-cached"), status: 504, upstream: 0,
				headers: map[string]string{"Content-Type": "application/problem+json"}},
		}},
		{name: "5.2.1.7/only-if-cached-hit", origin: resp("Cache-Control", "max-age=60"), steps: []step{
			{upstream: 1}, {header: hdr("Cache-Control", "only-if-cached"), upstream: 1, body: str("v1")},
		}},
		{name: "5.2.1.7/only-if-cached-stale-504", origin: resp("Cache-Control", "max-age=1"), steps: []step{
			{upstream: 1}, {advance: 5 * time.Second, header: hdr("Cache-Control", "only-if-cached"), status: 504, upstream: 1},
		}},
		{name: "5.2.2.4/response-no-cache-always-revalidates", origin: etagOrigin("no-cache, max-age=60"), steps: []step{
			{upstream: 1}, {upstream: 2, body: str("v1"), cacheStatus: "fwd-status=304"}, {upstream: 3, body: str("v1")},
		}},
		{name: "5.2.2.2/must-revalidate-ignores-max-stale", origin: etagOrigin("max-age=1, must-revalidate"), steps: []step{
			{upstream: 1}, {advance: 5 * time.Second, header: hdr("Cache-Control", "max-stale=100"), upstream: 2},
		}},
		{name: "5.2.2.8/proxy-revalidate-ignores-max-stale", origin: etagOrigin("max-age=1, proxy-revalidate"), steps: []step{
			{upstream: 1}, {advance: 5 * time.Second, header: hdr("Cache-Control", "max-stale=100"), upstream: 2},
		}},
		{name: "5.2.2.10/s-maxage-implies-proxy-revalidate", origin: etagOrigin("s-maxage=1"), steps: []step{
			{upstream: 1}, {advance: 5 * time.Second, header: hdr("Cache-Control", "max-stale=100"), upstream: 2},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			runCase(t, tc)
		})
	}
}

func TestRFC9111ValidationVaryInvalidation(t *testing.T) {
	t.Parallel()
	tests := []rfcCase{
		{name: "4.3.1/stale-revalidated-with-if-none-match", origin: etagOrigin("max-age=10"), steps: []step{
			{upstream: 1},
			{advance: 11 * time.Second, upstream: 2, body: str("v1"), cacheStatus: "fwd=stale; fwd-status=304",
				check: func(t *testing.T, o *origin, _ *httptest.ResponseRecorder) {
					assert.Equal(t, `"e1"`, o.last().Header.Get("If-None-Match"))
				}},
			{advance: 5 * time.Second, upstream: 2, cacheStatus: "hit"},
		}},
		{name: "4.3.1/stale-revalidated-with-if-modified-since", origin: func(w http.ResponseWriter, r *http.Request, n int) {
			lm := "Mon, 01 Dec 2025 00:00:00 GMT"
			w.Header().Set("Last-Modified", lm)
			w.Header().Set("Cache-Control", "max-age=10")
			if r.Header.Get("If-Modified-Since") == lm {
				w.WriteHeader(http.StatusNotModified)
				return
			}
			writeBody(w, "v"+itoa(n))
		}, steps: []step{
			{upstream: 1}, {advance: 20 * time.Second, upstream: 2, body: str("v1"), cacheStatus: "fwd-status=304"},
		}},
		{name: "4.3.1/client-validators-replaced-by-stored", origin: etagOrigin("max-age=10"), steps: []step{
			{upstream: 1},
			{advance: 11 * time.Second, header: hdr("If-None-Match", `"other"`), upstream: 2, body: str("v1"),
				check: func(t *testing.T, o *origin, _ *httptest.ResponseRecorder) {
					assert.Equal(t, `"e1"`, o.last().Header.Get("If-None-Match"))
				}},
		}},
		{name: "4.3.4/304-updates-stored-headers", origin: func(w http.ResponseWriter, r *http.Request, n int) {
			w.Header().Set("ETag", `"e1"`)
			w.Header().Set("Cache-Control", "max-age=10")
			w.Header().Set("X-Version", itoa(n))
			if r.Header.Get("If-None-Match") == `"e1"` {
				w.Header().Set("Cache-Control", "max-age=100")
				w.WriteHeader(http.StatusNotModified)
				return
			}
			writeBody(w, "body")
		}, steps: []step{
			{upstream: 1, headers: map[string]string{"X-Version": "1"}},
			{advance: 11 * time.Second, upstream: 2, body: str("body"), headers: map[string]string{"X-Version": "2", "Content-Length": "4"}},
			{advance: 50 * time.Second, upstream: 2, body: str("body"), cacheStatus: "hit; ttl=50", headers: map[string]string{"X-Version": "2", "Age": "50"}},
		}},
		{name: "4.3.4/200-replaces-stored", origin: func(w http.ResponseWriter, r *http.Request, n int) {
			w.Header().Set("Cache-Control", "max-age=10")
			w.Header().Set("ETag", `"e`+itoa(n)+`"`)
			writeBody(w, "v"+itoa(n))
		}, steps: []step{
			{upstream: 1}, {advance: 11 * time.Second, upstream: 2, body: str("v2"), cacheStatus: "fwd=stale; fwd-status=200; stored"},
			{upstream: 2, body: str("v2")},
		}},
		{name: "4.1/vary-separates-variants", origin: resp("Cache-Control", "max-age=60", "Vary", "Accept-Encoding"), steps: []step{
			{header: hdr("Accept-Encoding", "gzip"), upstream: 1, body: str("v1")},
			{header: hdr("Accept-Encoding", "br"), upstream: 2, body: str("v2")},
			{header: hdr("Accept-Encoding", "gzip"), upstream: 2, body: str("v1"), headers: map[string]string{"Vary": "Accept-Encoding"}},
			{header: hdr("Accept-Encoding", "br"), upstream: 2, body: str("v2")},
			{upstream: 3, body: str("v3")},
		}},
		{name: "4.1/vary-values-normalized", origin: resp("Cache-Control", "max-age=60", "Vary", "accept-encoding, Accept-Language"), steps: []step{
			{header: hdr("Accept-Encoding", "gzip, br", "Accept-Language", "en"), upstream: 1},
			{header: hdr("Accept-Encoding", "GZIP,br", "Accept-Language", "EN"), upstream: 1, cacheStatus: "hit"},
			{header: http.Header{"Accept-Encoding": {"gzip", " br"}, "Accept-Language": {"en"}}, upstream: 1, cacheStatus: "hit"},
			{header: hdr("Accept-Encoding", "br, gzip", "Accept-Language", "en"), upstream: 2},
		}},
		{name: "4.1/vary-absent-header-is-a-value", origin: resp("Cache-Control", "max-age=60", "Vary", "X-Tenant"), steps: []step{
			{upstream: 1}, {header: hdr("X-Tenant", "a"), upstream: 2}, {upstream: 2}, {header: hdr("X-Tenant", "a"), upstream: 2},
		}},
		{name: "4.4/post-invalidates-target", origin: func(w http.ResponseWriter, r *http.Request, n int) {
			w.Header().Set("Cache-Control", "max-age=60")
			writeBody(w, "v"+itoa(n))
		}, steps: []step{
			{upstream: 1}, {upstream: 1}, {method: http.MethodPost, upstream: 2}, {upstream: 3, body: str("v3")},
		}},
		{name: "4.4/put-invalidates-same-origin-location", origin: func(w http.ResponseWriter, r *http.Request, n int) {
			w.Header().Set("Cache-Control", "max-age=60")
			if r.Method == http.MethodPut {
				w.Header().Set("Location", "/other")
				w.Header().Set("Content-Location", "http://example.com/third?b=2&a=1")
				w.WriteHeader(http.StatusCreated)
				return
			}
			writeBody(w, "v"+itoa(n))
		}, steps: []step{
			{target: "/other", upstream: 1}, {target: "/third?a=1&b=2", upstream: 2},
			{method: http.MethodPut, status: 201, upstream: 3},
			{target: "/other", upstream: 4}, {target: "/third?a=1&b=2", upstream: 5},
		}},
		{name: "4.4/cross-origin-location-not-invalidated", origin: func(w http.ResponseWriter, r *http.Request, n int) {
			w.Header().Set("Cache-Control", "max-age=60")
			if r.Method == http.MethodPost {
				w.Header().Set("Location", "http://evil.example/other")
				w.WriteHeader(http.StatusCreated)
				return
			}
			writeBody(w, "v"+itoa(n))
		}, steps: []step{
			{target: "http://evil.example/other", upstream: 1},
			{method: http.MethodPost, status: 201, upstream: 2},
			{target: "http://evil.example/other", upstream: 2, cacheStatus: "hit"},
		}},
		{name: "4.4/error-response-does-not-invalidate", origin: func(w http.ResponseWriter, r *http.Request, n int) {
			if r.Method == http.MethodDelete {
				w.WriteHeader(http.StatusInternalServerError)
				return
			}
			w.Header().Set("Cache-Control", "max-age=60")
			writeBody(w, "v"+itoa(n))
		}, steps: []step{
			{upstream: 1}, {method: http.MethodDelete, status: 500, upstream: 2}, {upstream: 2, cacheStatus: "hit"},
		}},
		{name: "4/head-served-from-stored-get", origin: resp("Cache-Control", "max-age=60"), steps: []step{
			{upstream: 1},
			{method: http.MethodHead, upstream: 1, body: str(""), headers: map[string]string{"Content-Length": "2"}, cacheStatus: "hit"},
		}},
		{name: "4/head-miss-forwarded-not-stored", origin: resp("Cache-Control", "max-age=60"), steps: []step{
			{method: http.MethodHead, upstream: 1}, {upstream: 2},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			runCase(t, tc)
		})
	}
}

func TestRFC5861Stale(t *testing.T) {
	t.Parallel()
	failing := func(cc string) func(http.ResponseWriter, *http.Request, int) {
		return func(w http.ResponseWriter, r *http.Request, n int) {
			if n > 1 {
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
			w.Header().Set("Cache-Control", cc)
			w.Header().Set("ETag", `"e1"`)
			writeBody(w, "v1")
		}
	}
	tests := []rfcCase{
		{name: "RFC5861-4/stale-if-error-serves-stale", origin: failing("max-age=10, stale-if-error=60"), steps: []step{
			{upstream: 1},
			{advance: 20 * time.Second, upstream: 2, body: str("v1"), cacheStatus: "detail=stale-if-error; fwd=stale; fwd-status=503",
				headers: map[string]string{"Age": "20"}},
		}},
		{name: "RFC5861-4/stale-if-error-window-passed-forwards-error", origin: failing("max-age=10, stale-if-error=5"), steps: []step{
			{upstream: 1}, {advance: 20 * time.Second, status: 503, upstream: 2},
		}},
		{name: "RFC5861-4/request-stale-if-error", origin: failing("max-age=10"), steps: []step{
			{upstream: 1}, {advance: 20 * time.Second, header: hdr("Cache-Control", "stale-if-error=60"), upstream: 2, body: str("v1")},
		}},
		{name: "RFC5861-4/must-revalidate-beats-stale-if-error", origin: failing("max-age=10, stale-if-error=60, must-revalidate"), steps: []step{
			{upstream: 1}, {advance: 20 * time.Second, status: 503, upstream: 2},
		}},
		{name: "RFC5861-3/stale-while-revalidate-without-run-revalidates-synchronously", origin: etagOrigin("max-age=10, stale-while-revalidate=60"), steps: []step{
			{upstream: 1}, {advance: 20 * time.Second, upstream: 2, cacheStatus: "fwd-status=304"},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			runCase(t, tc)
		})
	}
}

func TestRFC9110ConditionalAndRange(t *testing.T) {
	t.Parallel()
	const lm = "Mon, 01 Dec 2025 00:00:00 GMT"
	full := func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("ETag", `"abc"`)
		w.Header().Set("Last-Modified", lm)
		w.Header().Set("Content-Type", "text/plain")
		writeBody(w, "0123456789")
	}
	tests := []rfcCase{
		{name: "RFC9110-13.1.2/if-none-match-304-from-cache", origin: full, steps: []step{
			{upstream: 1},
			{header: hdr("If-None-Match", `"x", W/"abc"`), status: 304, upstream: 1, body: str(""),
				headers: map[string]string{"ETag": `"abc"`, "Cache-Control": "max-age=60"}, absent: []string{"Content-Length", "Content-Type"}},
			{header: hdr("If-None-Match", `"zzz"`), upstream: 1, body: str("0123456789")},
		}},
		{name: "RFC9110-13.1.3/if-modified-since-304-from-cache", origin: full, steps: []step{
			{upstream: 1},
			{header: hdr("If-Modified-Since", lm), status: 304, upstream: 1},
			{header: hdr("If-Modified-Since", "Sun, 30 Nov 2025 00:00:00 GMT"), upstream: 1, body: str("0123456789")},
		}},
		{name: "RFC9110-13.2.2/if-none-match-wins-over-if-modified-since", origin: full, steps: []step{
			{upstream: 1}, {header: hdr("If-None-Match", `"zzz"`, "If-Modified-Since", lm), upstream: 1, status: 200},
		}},
		{name: "RFC9110-13.1.1/if-match-bypasses-cache", origin: full, steps: []step{
			{upstream: 1}, {header: hdr("If-Match", `"abc"`), upstream: 2, cacheStatus: "fwd=bypass"},
		}},
		{name: "RFC9110-14.2/single-range-206-from-stored-200", origin: full, steps: []step{
			{upstream: 1},
			{header: hdr("Range", "bytes=2-5"), status: 206, upstream: 1, body: str("2345"),
				headers: map[string]string{"Content-Range": "bytes 2-5/10", "Content-Length": "4"}},
			{header: hdr("Range", "bytes=7-"), status: 206, upstream: 1, body: str("789")},
			{header: hdr("Range", "bytes=-3"), status: 206, upstream: 1, body: str("789")},
			{header: hdr("Range", "bytes=8-100"), status: 206, upstream: 1, body: str("89"), headers: map[string]string{"Content-Range": "bytes 8-9/10"}},
			{upstream: 1, body: str("0123456789"), headers: map[string]string{"Content-Length": "10"}},
		}},
		{name: "RFC9110-14.2/multi-range-served-whole", origin: full, steps: []step{
			{upstream: 1}, {header: hdr("Range", "bytes=0-1,4-5"), upstream: 1, body: str("0123456789")},
		}},
		{name: "RFC9110-14.2/malformed-range-served-whole", origin: full, steps: []step{
			{upstream: 1}, {header: hdr("Range", "bytes=5-2"), upstream: 1, body: str("0123456789")},
			{header: hdr("Range", "items=1-2"), upstream: 1, body: str("0123456789")},
		}},
		{name: "RFC9110-15.5.17/unsatisfiable-range-416", origin: full, steps: []step{
			{upstream: 1}, {header: hdr("Range", "bytes=20-30"), status: 416, upstream: 1,
				headers: map[string]string{"Content-Range": "bytes */10", "Content-Type": "application/problem+json"}},
		}},
		{name: "RFC9110-13.1.5/if-range-mismatch-serves-whole", origin: full, steps: []step{
			{upstream: 1},
			{header: hdr("Range", "bytes=0-1", "If-Range", `"old"`), upstream: 1, body: str("0123456789")},
			{header: hdr("Range", "bytes=0-1", "If-Range", `"abc"`), status: 206, upstream: 1, body: str("01")},
			{header: hdr("Range", "bytes=0-1", "If-Range", lm), status: 206, upstream: 1, body: str("01")},
		}},
		{name: "RFC9110-14.2/range-on-miss-passed-through-uncached", origin: func(w http.ResponseWriter, r *http.Request, n int) {
			w.Header().Set("Cache-Control", "max-age=60")
			if r.Header.Get("Range") == "bytes=0-1" {
				w.Header().Set("Content-Range", "bytes 0-1/10")
				w.Header().Set("Content-Length", "2")
				w.WriteHeader(http.StatusPartialContent)
				_, _ = w.Write([]byte("01"))
				return
			}
			writeBody(w, "0123456789")
		}, steps: []step{
			{header: hdr("Range", "bytes=0-1"), status: 206, upstream: 1, body: str("01")},
			{upstream: 2, body: str("0123456789")},
			{header: hdr("Range", "bytes=0-1"), status: 206, upstream: 2, body: str("01")},
		}},
		{name: "RFC9110-14.2/range-of-stored-404-ignored", origin: statusResp(http.StatusNotFound, "Cache-Control", "max-age=60"), steps: []step{
			{status: 404, upstream: 1}, {status: 404, header: hdr("Range", "bytes=0-0"), upstream: 1, body: str("v1")},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			runCase(t, tc)
		})
	}
}

func TestKeys(t *testing.T) {
	t.Parallel()
	echoQuery := func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Cache-Control", "max-age=60")
		writeBody(w, r.URL.RawQuery+"#"+itoa(n))
	}
	tests := []rfcCase{
		{name: "key/query-params-sorted", origin: echoQuery, steps: []step{
			{target: "/q?b=2&a=1", upstream: 1}, {target: "/q?a=1&b=2", upstream: 1, cacheStatus: "hit", body: str("b=2&a=1#1")},
			{target: "/q?a=1&b=3", upstream: 2},
		}},
		{name: "key/query-keys-strip-unkeyed-params-upstream", cfg: Config{QueryKeys: []string{"a"}}, origin: echoQuery, steps: []step{
			{target: "/q?utm=x&a=1", upstream: 1, body: str("a=1#1")},
			{target: "/q?a=1&utm=evil", upstream: 1, body: str("a=1#1")},
			{target: "/q?a=2", upstream: 2, body: str("a=2#2")},
		}},
		{name: "key/ignore-query", cfg: Config{IgnoreQuery: true}, origin: echoQuery, steps: []step{
			{target: "/q?a=1", upstream: 1, body: str("#1")}, {target: "/q?a=2", upstream: 1, body: str("#1")},
		}},
		{name: "key/host-is-keyed-case-and-default-port-normalized", origin: echoQuery, steps: []step{
			{target: "http://a.example/q", upstream: 1}, {target: "http://b.example/q", upstream: 2},
			{target: "http://A.EXAMPLE:80/q", upstream: 2, cacheStatus: "hit"},
		}},
		{name: "key/key-headers", cfg: Config{KeyHeaders: []string{"x-api-version"}}, origin: echoQuery, steps: []step{
			{header: hdr("X-Api-Version", "1"), upstream: 1}, {header: hdr("X-Api-Version", "2"), upstream: 2},
			{header: hdr("X-Api-Version", "1"), upstream: 2, body: str("#1")},
		}},
		{name: "key/consumer-separates-entries", cfg: Config{Consumer: func(r *http.Request) string { return r.Header.Get("X-Consumer") }}, origin: echoQuery, steps: []step{
			{header: hdr("X-Consumer", "alice"), upstream: 1}, {header: hdr("X-Consumer", "bob"), upstream: 2},
			{header: hdr("X-Consumer", "alice"), upstream: 2, body: str("#1")},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			runCase(t, tc)
		})
	}
}
