package redisstore_test

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/gatewaykit/gateway/cache"
	"github.com/gatewaykit/gateway/cache/redisstore"
)

// Two gateway instances share one Redis: what one stores, the other serves.
func Example() {
	addr, stop := exampleRedis() // a throwaway redis-server for the example
	defer stop()

	rdb := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: []string{addr}})
	defer rdb.Close()
	store := redisstore.New(redisstore.Config{Client: rdb})
	instanceA := cache.New(cache.Config{Store: store})
	instanceB := cache.New(cache.Config{Store: store})

	origin := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		fmt.Fprint(w, "hello")
	})
	for _, c := range []*cache.Cache{instanceA, instanceB} {
		rec := httptest.NewRecorder()
		c.Handler(origin).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "http://example.com/hello", nil))
		fmt.Println(rec.Body, "|", rec.Header().Get("Cache-Status"))
	}
	// Output:
	// hello | gatewaykit; fwd=uri-miss; stored
	// hello | gatewaykit; hit; ttl=60
}

// exampleRedis starts redis-server on a free loopback port and returns its
// address and a function that kills it.
func exampleRedis() (string, func()) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	cmd := exec.Command("/usr/bin/redis-server", "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	out, err := cmd.StdoutPipe()
	if err != nil {
		panic(err)
	}
	if err := cmd.Start(); err != nil {
		panic(err)
	}
	sc := bufio.NewScanner(out)
	for sc.Scan() && !strings.Contains(sc.Text(), "Ready to accept connections") {
	}
	done := make(chan struct{})
	go func() {
		for sc.Scan() {
		}
		close(done)
	}()
	return "127.0.0.1:" + port, func() {
		_ = cmd.Process.Kill()
		<-done
		_ = cmd.Wait()
	}
}
