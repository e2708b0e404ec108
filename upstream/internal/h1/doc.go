// Package h1 is the gateway's fast HTTP/1.1 client for plain-HTTP upstreams:
// a synchronous [net/http.RoundTripper] with a pool of keep-alive
// connections per host:port.
//
// # Why it exists
//
// Measured on the project's peer harness (one core, 1 KiB bodies),
// [net/http.Transport] with [net/http/httputil.ReverseProxy] costs about
// 130 µs of CPU per proxied request; a synchronous HTTP/1.1 client costs
// about 65 µs, of which about 32 µs is the net/http server itself and half is
// loopback syscalls. The difference is the Transport's machinery: a readLoop
// and a writeLoop goroutine per connection, channels and selects between
// them and the caller for every request. [Client] has none of it: the
// request is written with a pooled [bufio.Writer] and the response read with
// [net/http.ReadResponse] on the caller's own goroutine, and the response
// body reads straight from the connection's buffer.
//
// # What it does
//
//   - pools idle connections per host:port (LIFO), closes those idle longer
//     than Config.IdleConnTimeout lazily on checkout (or from [Client.Run]),
//     caps connections per host with waiters that honour the request's
//     context (Config.MaxConnsPerHost), and retires connections after
//     Config.MaxRequestsPerConn requests or Config.MaxConnLifetime (nginx's
//     keepalive_requests and keepalive_time);
//   - writes Content-Length or chunked bodies (with trailers), streams
//     bodies from a pooled 32 KiB buffer, always closes the request body;
//   - delivers 1xx responses (103 Early Hints) to the
//     [net/http/httptrace.ClientTrace] Got1xxResponse hook, returns 101
//     Switching Protocols with an [io.ReadWriteCloser] Body over the raw
//     connection, and implements "Expect: 100-continue";
//   - interrupts I/O when the request's context ends through
//     [context.AfterFunc] and connection deadlines, without a goroutine per
//     request; bounds waits on a stalled upstream with ResponseHeaderTimeout,
//     ReadTimeout and WriteTimeout (the latter two between successive reads
//     or writes, like nginx's proxy_read_timeout and proxy_send_timeout);
//     reports [ErrResponseHeaderTimeout], [ErrReadTimeout] and
//     [ErrWriteTimeout] (timeout [net.Error]s, not context.DeadlineExceeded)
//     and [*DialError]
//     distinctly so a proxy can answer 504 or retry another endpoint and
//     answer 502;
//   - retries once, on a new connection, a request that failed on a pooled
//     connection the upstream had closed (or that got an unsolicited 408 on
//     it), when [IsReplayable] allows it; for other requests a pooled
//     connection is first checked with a non-blocking peek (Linux);
//   - validates what it writes verbatim (method, target, Host, header and
//     trailer fields) so that no request can smuggle a header line.
//
// A response body must be read to EOF or closed, as with
// [net/http.Transport]; EOF returns the connection to the pool at once.
//
// # Numbers
//
// BenchmarkRoundTrip (1 KiB bodies, in-process upstream, 2 cores, process
// CPU per request with the upstream server included) measures about 29 µs
// for a GET against 34-44 µs with [net/http.Transport] in the same run, and
// 27-35 µs against 63-72 µs for a POST with a 1 KiB body; 29 allocations
// against 57 for the GET. Of the client's own code only the response body
// wrapper allocates, plus context.AfterFunc's registration (2 allocations)
// when the request's context can be cancelled.
//
// # What it does not do
//
// No TLS, no HTTP/2, no HTTP proxies, no transparent gzip: upstreams that
// need them use [net/http.Transport]. The request body is written completely
// before the response is read (the synchronous design); an upstream that
// answers early and closes still has its response returned. See
// [Client.RoundTrip] for the exact differences from [net/http.Transport].
package h1
