// Package discovery provides the sources of endpoint sets that feed an
// [upstream.Upstream] through its [upstream.Discovery] interface.
//
// [Static] is the embedded default: a fixed list of addresses, known without
// I/O, which an Upstream uses from the moment it is built. Sources that
// watch DNS, a file, etcd or Consul implement the same interface; the ones
// with heavy dependencies live in their own subpackages so that programs
// that do not use them do not compile them in.
//
// A Discovery is wired in code, in main:
//
//	users := upstream.New(upstream.Config{
//		Name:      "users",
//		Discovery: discovery.Static("10.0.0.7:8080", "10.0.0.8:8080"),
//	})
package discovery
