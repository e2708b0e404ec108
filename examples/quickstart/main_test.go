package main

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestQuickstart runs the quickstart on a free port and tries what it
// prints: a proxied route, the probes, a 404, auth with the printed token
// and key, the rate limit and the cache.
func TestQuickstart(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, "127.0.0.1:0", slog.New(slog.DiscardHandler), pw)
		pw.Close()
	}()
	var printed strings.Builder
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		printed.WriteString(sc.Text() + "\n")
		if strings.HasPrefix(sc.Text(), "Press Ctrl-C") {
			break
		}
	}
	go io.Copy(io.Discard, pr)
	text := printed.String()
	base := regexp.MustCompile(`listening on (\S+)`).FindStringSubmatch(text)
	require.Len(t, base, 2, text)
	url := "http://" + base[1]
	token := regexp.MustCompile(`Bearer ([A-Za-z0-9_.-]+)`).FindStringSubmatch(text)
	require.Len(t, token, 2, text)
	key := regexp.MustCompile(`X-API-Key: (demo_[0-9a-f]+)`).FindStringSubmatch(text)
	require.Len(t, key, 2, text)

	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	do := func(method, path string, hdr ...string) *http.Response {
		t.Helper()
		req, err := http.NewRequest(method, url+path, nil)
		require.NoError(t, err)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := client.Do(req)
		require.NoError(t, err)
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}

	tests := []struct {
		name   string
		method string
		path   string
		hdr    []string
		status int
	}{
		{name: "proxied public route", method: "GET", path: "/users/42", status: 200},
		{name: "liveness", method: "GET", path: "/healthz", status: 200},
		{name: "readiness", method: "GET", path: "/readyz", status: 200},
		{name: "unknown path", method: "GET", path: "/nowhere", status: 404},
		{name: "wrong method", method: "POST", path: "/users/42", status: 405},
		{name: "protected without credentials", method: "GET", path: "/orders/7", status: 401},
		{name: "protected with the token", method: "GET", path: "/orders/7", hdr: []string{"Authorization", "Bearer " + token[1]}, status: 200},
		{name: "protected with the key", method: "GET", path: "/orders/7", hdr: []string{"X-API-Key", key[1]}, status: 200},
		{name: "scope the key lacks", method: "POST", path: "/orders", hdr: []string{"X-API-Key", key[1]}, status: 403},
		{name: "scope the token has", method: "POST", path: "/orders", hdr: []string{"Authorization", "Bearer " + token[1]}, status: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.status, do(tt.method, tt.path, tt.hdr...).StatusCode)
		})
	}

	var codes []int
	for range 6 {
		codes = append(codes, do("GET", "/limited/1").StatusCode)
	}
	assert.Equal(t, []int{200, 200, 200, 200, 200, 429}, codes, "5 a minute, then 429")

	first := do("GET", "/catalog/books")
	second := do("GET", "/catalog/books")
	assert.Contains(t, first.Header.Get("Cache-Status"), "stored")
	assert.Contains(t, second.Header.Get("Cache-Status"), "hit")
	assert.NotEmpty(t, second.Header.Get("Age"))

	cancel()
	require.NoError(t, <-done, "clean shutdown")
}
