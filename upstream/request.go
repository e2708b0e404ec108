package upstream

import (
	"net/http"
	"net/netip"
	"net/url"
	"strings"

	"github.com/gatewaykit/gateway/internal/reqinfo"
)

// ProxyRequest is what [Config.Rewrite] sees: the inbound request In, which
// must not be modified, and the outbound request Out, which may be.
//
// When Rewrite runs, Out already carries the inbound headers minus the
// hop-by-hop ones and minus the headers named by the client's Connection
// header, the forwarding headers (see [Upstream]), X-Request-ID, the Host
// chosen by Config.Host, and an empty User-Agent when the client sent none
// (so that Go's default is not added). Out.URL has the inbound path and raw
// query; its scheme (from Config.Scheme) and host (the chosen endpoint) are
// set on every attempt, after Rewrite.
type ProxyRequest struct {
	In  *http.Request
	Out *http.Request
}

// SetURL makes Out's path target.Path joined with the inbound path, and its
// query target.RawQuery followed by the inbound raw query, as
// httputil.ProxyRequest.SetURL does. When target.Host is non-empty it
// becomes the outbound Host header. The scheme and host the request is sent
// to stay those of the chosen endpoint.
func (r *ProxyRequest) SetURL(target *url.URL) {
	r.Out.URL.Path, r.Out.URL.RawPath = joinURLPath(target, r.Out.URL)
	switch {
	case target.RawQuery == "":
	case r.Out.URL.RawQuery == "":
		r.Out.URL.RawQuery = target.RawQuery
	default:
		r.Out.URL.RawQuery = target.RawQuery + "&" + r.Out.URL.RawQuery
	}
	if target.Host != "" {
		r.Out.Host = target.Host
	}
}

// SetXForwarded sets X-Forwarded-For, X-Forwarded-Host and
// X-Forwarded-Proto on Out from the inbound connection alone, like
// httputil.ProxyRequest.SetXForwarded, discarding the values the Upstream
// set. It is for a Rewrite that wants the plain single-hop values whatever
// TrustedProxies says; most Rewrite functions need not call it.
func (r *ProxyRequest) SetXForwarded() {
	h := r.Out.Header
	if ip := remoteHost(r.In.RemoteAddr); ip != "" {
		h["X-Forwarded-For"] = []string{ip}
	} else {
		delete(h, "X-Forwarded-For")
	}
	h["X-Forwarded-Host"] = []string{r.In.Host}
	h["X-Forwarded-Proto"] = []string{protoOf(r.In)}
}

// HostPolicy says how the outbound Host header is set. The zero value is
// [ClientHost]. Config.Rewrite may still change Out.Host afterwards.
type HostPolicy struct {
	endpoint bool
	fixed    string
}

var (
	// ClientHost keeps the Host the client sent (the zero HostPolicy). It
	// suits upstreams that route on the public host name, and is what
	// Envoy, Traefik and Caddy do by default.
	ClientHost = HostPolicy{}
	// EndpointHost sends the chosen endpoint's address ("10.0.0.7:8080") as
	// Host, like nginx's default proxy_set_header Host $proxy_host and
	// Kong's preserve_host=false.
	EndpointHost = HostPolicy{endpoint: true}
)

// FixedHost returns the policy that sends host as the Host header (Kong's
// upstream host_header, Envoy's host_rewrite_literal).
func FixedHost(host string) HostPolicy { return HostPolicy{fixed: host} }

func (p HostPolicy) outHost(in *http.Request) string {
	switch {
	case p.fixed != "":
		return p.fixed
	case p.endpoint:
		return "" // the transport sends URL.Host: the endpoint
	}
	return in.Host
}

// Extra header slots newOutHeader reserves for the headers the Upstream sets
// (X-Forwarded-For, -Host, -Proto, Forwarded, X-Real-IP, X-Request-ID,
// User-Agent, Te, Connection, Upgrade).
const extraHeaderSlots = 10

// connNamesHeaders reports whether the Connection values conn name any
// header (a token other than "keep-alive", "close" and "upgrade"), so that
// the per-key check is skipped in the common case.
func connNamesHeaders(conn []string) bool {
	for _, v := range conn {
		for len(v) > 0 {
			var tok string
			tok, v = nextToken(v)
			if tok == "" {
				continue
			}
			if !strings.EqualFold(tok, "keep-alive") && !strings.EqualFold(tok, "close") &&
				!strings.EqualFold(tok, "upgrade") {
				return true
			}
		}
	}
	return false
}

// nextToken returns the first comma-separated element of s, trimmed of
// spaces and tabs, and the rest after the comma.
func nextToken(s string) (tok, rest string) {
	i := strings.IndexByte(s, ',')
	if i < 0 {
		tok, rest = s, ""
	} else {
		tok, rest = s[:i], s[i+1:]
	}
	return strings.Trim(tok, " \t"), rest
}

// namedIn reports whether key is one of the comma-separated tokens of conn.
func namedIn(key string, conn []string) bool {
	for _, v := range conn {
		for len(v) > 0 {
			var tok string
			tok, v = nextToken(v)
			if strings.EqualFold(tok, key) {
				return true
			}
		}
	}
	return false
}

// containsToken reports whether the comma-separated values vv contain tok
// (case-insensitively).
func containsToken(vv []string, tok string) bool { return namedIn(tok, vv) }

// hopHeader reports whether the canonical key is hop-by-hop (RFC 9110
// §7.6.1 and the RFC 2616 list httputil.ReverseProxy keeps).
func hopHeader(k string) bool {
	switch k {
	case "Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
		"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade":
		return true
	}
	return false
}

// fwdState is what the forwarding headers need from the inbound request.
type fwdState struct {
	trusted bool // the direct peer is a trusted proxy
	ip      string
	reqID   string
}

// skipInbound reports whether the inbound header k is dropped from the
// outbound copy: hop-by-hop, named by Connection, a forwarding header that
// the Upstream sets itself, or X-Request-ID when the gateway has its own.
func skipInbound(k string, conn []string, connNames bool, fs *fwdState) bool {
	if hopHeader(k) {
		return true
	}
	switch k {
	case "X-Forwarded-For", "Forwarded":
		return true // rebuilt (extended when trusted) below
	case "X-Forwarded-Host", "X-Forwarded-Proto", "X-Real-Ip":
		if !fs.trusted {
			return true
		}
	case "X-Request-Id":
		if fs.reqID != "" {
			return true
		}
	}
	return connNames && namedIn(k, conn)
}

// newOutHeader returns the outbound header for in: a new map of exact size
// holding copies of the inbound values that pass skipInbound, sharing one
// backing array, and the remaining free value slots for the headers the
// Upstream adds.
func newOutHeader(in http.Header, fs *fwdState, added int) (http.Header, []string) {
	conn := in["Connection"]
	connNames := connNamesHeaders(conn)
	keys, nv := 0, 0
	for k, vv := range in {
		if skipInbound(k, conn, connNames, fs) {
			continue
		}
		keys++
		nv += len(vv)
	}
	// Exact size: a map sized for at most 8 keys is one small allocation,
	// a larger hint a bigger table.
	h := make(http.Header, keys+added)
	vals := make([]string, nv+extraHeaderSlots)
	for k, vv := range in {
		if len(vv) == 0 || skipInbound(k, conn, connNames, fs) {
			continue
		}
		n := copy(vals, vv)
		h[k] = vals[:n:n]
		vals = vals[n:]
	}
	return h, vals
}

// setOne sets h[k] to the single value v, taking the slot from free.
func setOne(h http.Header, free *[]string, k, v string) {
	var s []string
	if len(*free) > 0 {
		s = (*free)[:1:1]
		*free = (*free)[1:]
	} else {
		s = make([]string, 1)
	}
	s[0] = v
	h[k] = s
}

// remoteHost returns the IP part of a RemoteAddr ("1.2.3.4:5", "[::1]:5"),
// or "" when it has none.
func remoteHost(addr string) string {
	i := strings.LastIndexByte(addr, ':')
	if i < 0 {
		return ""
	}
	if addr[0] != '[' && strings.IndexByte(addr[:i], ':') >= 0 {
		return addr // a bare IPv6 address without a port
	}
	host := addr[:i]
	if len(host) > 1 && host[0] == '[' && host[len(host)-1] == ']' {
		host = host[1 : len(host)-1]
	}
	return host
}

func protoOf(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	return "http"
}

// trustedPeer reports whether the direct peer ip is in one of prefixes.
func trustedPeer(ip string, prefixes []netip.Prefix) bool {
	if len(prefixes) == 0 || ip == "" {
		return false
	}
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return false
	}
	a = a.Unmap()
	for _, p := range prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// setForwarding adds X-Forwarded-For, X-Forwarded-Host, X-Forwarded-Proto
// and Forwarded to the outbound header h. The inbound values were copied
// (Host, Proto) or skipped (For, Forwarded) by newOutHeader according to
// fs.trusted.
func setForwarding(h http.Header, free *[]string, in *http.Request, fs *fwdState) {
	proto := protoOf(in)
	xff := fs.ip
	if fs.trusted {
		if prior := in.Header["X-Forwarded-For"]; len(prior) > 0 {
			xff = joinList(prior, fs.ip)
		}
	}
	if xff != "" {
		setOne(h, free, "X-Forwarded-For", xff)
	}
	if _, ok := h["X-Forwarded-Host"]; !ok && in.Host != "" {
		setOne(h, free, "X-Forwarded-Host", in.Host)
	}
	if _, ok := h["X-Forwarded-Proto"]; !ok {
		setOne(h, free, "X-Forwarded-Proto", proto)
	}
	elem := forwardedElement(fs.ip, in.Host, proto)
	if fs.trusted {
		if prior := in.Header["Forwarded"]; len(prior) > 0 {
			elem = joinList(prior, elem)
		}
	}
	setOne(h, free, "Forwarded", elem)
}

// joinList joins the values of prior and last with ", ".
func joinList(prior []string, last string) string {
	n := len(last)
	for _, p := range prior {
		n += len(p) + 2
	}
	var b strings.Builder
	b.Grow(n)
	for _, p := range prior {
		b.WriteString(p)
		b.WriteString(", ")
	}
	b.WriteString(last)
	return b.String()
}

// forwardedElement builds the RFC 7239 element
// for=<ip>;host=<host>;proto=<proto>, quoting IPv6 addresses (in brackets)
// and hosts that are not tokens.
func forwardedElement(ip, host, proto string) string {
	var b strings.Builder
	b.Grow(len("for=\"[]\";host=\"\";proto=") + len(ip) + len(host) + 2*strings.Count(host, `"`) + len(proto))
	b.WriteString("for=")
	switch {
	case ip == "":
		b.WriteString("unknown")
	case strings.IndexByte(ip, ':') >= 0:
		b.WriteString(`"[`)
		b.WriteString(ip)
		b.WriteString(`]"`)
	default:
		b.WriteString(ip)
	}
	if host != "" {
		b.WriteString(";host=")
		writeTokenOrQuoted(&b, host)
	}
	b.WriteString(";proto=")
	b.WriteString(proto)
	return b.String()
}

func writeTokenOrQuoted(b *strings.Builder, s string) {
	token := true
	for i := 0; i < len(s); i++ {
		if !isTchar(s[i]) {
			token = false
			break
		}
	}
	if token {
		b.WriteString(s)
		return
	}
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('"')
}

// isTchar reports whether c is an RFC 9110 token character.
func isTchar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// upgradeType returns the protocol named by Upgrade when Connection
// contains "upgrade", else "".
func upgradeType(h http.Header) string {
	if !containsToken(h["Connection"], "upgrade") {
		return ""
	}
	return h.Get("Upgrade")
}

// isPrintASCII reports whether s is printable ASCII.
func isPrintASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// addedHeaders counts the keys buildOutHeader adds to the inbound ones it
// keeps (exactly, or one too many in rare cases), to size the map.
func addedHeaders(in *http.Request, info *reqinfo.Info, fs *fwdState, upType string) int {
	n := 1 // Forwarded
	if fs.ip != "" {
		n++ // X-Forwarded-For
	}
	if !(fs.trusted && len(in.Header["X-Forwarded-Host"]) > 0) && in.Host != "" {
		n++
	}
	if !(fs.trusted && len(in.Header["X-Forwarded-Proto"]) > 0) {
		n++
	}
	if (info != nil && info.ClientIP.IsValid()) || (!(fs.trusted && len(in.Header["X-Real-Ip"]) > 0) && fs.ip != "") {
		n++
	}
	if fs.reqID != "" {
		n++
	}
	if len(in.Header["User-Agent"]) == 0 {
		n++
	}
	if len(in.Header["Te"]) > 0 {
		n++
	}
	if upType != "" {
		n += 2
	}
	return n
}

// buildOutHeader assembles the outbound header for in.
func (u *Upstream) buildOutHeader(in *http.Request, info *reqinfo.Info, upType string) http.Header {
	fs := fwdState{ip: remoteHost(in.RemoteAddr)}
	fs.trusted = trustedPeer(fs.ip, u.cfg.TrustedProxies)
	if info != nil {
		fs.reqID = info.RequestID
	}
	h, free := newOutHeader(in.Header, &fs, addedHeaders(in, info, &fs, upType))
	setForwarding(h, &free, in, &fs)
	switch _, ok := h["X-Real-Ip"]; {
	case info != nil && info.ClientIP.IsValid():
		// Resolved through the trusted proxies by the RealIP middleware.
		setOne(h, &free, "X-Real-Ip", info.ClientIP.String())
	case !ok && fs.ip != "":
		setOne(h, &free, "X-Real-Ip", fs.ip)
	}
	if fs.reqID != "" {
		setOne(h, &free, "X-Request-Id", fs.reqID)
	}
	if _, ok := h["User-Agent"]; !ok {
		// An empty value keeps Go's transports from adding their own.
		setOne(h, &free, "User-Agent", "")
	}
	// Issue 21096 (net/http): tell the upstream we pass trailers on when the
	// client said it accepts them.
	if containsToken(in.Header["Te"], "trailers") {
		setOne(h, &free, "Te", "trailers")
	}
	if upType != "" {
		setOne(h, &free, "Connection", "Upgrade")
		setOne(h, &free, "Upgrade", upType)
	}
	return h
}

func joinURLPath(a, b *url.URL) (path, rawpath string) {
	if a.RawPath == "" && b.RawPath == "" {
		return singleJoiningSlash(a.Path, b.Path), ""
	}
	apath := a.EscapedPath()
	bpath := b.EscapedPath()
	aslash := strings.HasSuffix(apath, "/")
	bslash := strings.HasPrefix(bpath, "/")
	switch {
	case aslash && bslash:
		return a.Path + b.Path[1:], apath + bpath[1:]
	case !aslash && !bslash:
		return a.Path + "/" + b.Path, apath + "/" + bpath
	}
	return a.Path + b.Path, apath + bpath
}

func singleJoiningSlash(a, b string) string {
	aslash := strings.HasSuffix(a, "/")
	bslash := strings.HasPrefix(b, "/")
	switch {
	case aslash && bslash:
		return a + b[1:]
	case !aslash && !bslash:
		return a + "/" + b
	}
	return a + b
}

// SanitizeConnection applies the client's Connection header to h at the
// gateway's entrance: it deletes the headers the Connection header names
// (other than the hop-by-hop ones the proxy removes anyway) and keeps only
// the "close", "keep-alive" and "upgrade" options in Connection.
//
// The proxy removes the headers named in Connection from its copy of the
// inbound request, before adding its own. A header that a middleware set on
// the inbound request counts as the client's there, so a client that names
// it in Connection gets it removed (a spoofed value never passes, but
// neither does the middleware's). Calling SanitizeConnection on the
// server's request before any middleware runs, first in the global chain,
// makes such headers survive: the client's nominations are applied once, at
// the entrance, and middleware headers set afterwards are kept. h is
// modified in place, so call it only on a request the caller owns; it does
// not allocate unless Connection names a header.
func SanitizeConnection(h http.Header) {
	conn := h["Connection"]
	if !connNamesHeaders(conn) {
		return
	}
	var keep []string
	for _, v := range conn {
		for len(v) > 0 {
			var tok string
			tok, v = nextToken(v)
			switch {
			case tok == "":
			case strings.EqualFold(tok, "close"), strings.EqualFold(tok, "keep-alive"), strings.EqualFold(tok, "upgrade"):
				keep = append(keep, tok)
			default:
				if k := http.CanonicalHeaderKey(tok); !hopHeader(k) {
					delete(h, k)
				}
			}
		}
	}
	if len(keep) == 0 {
		delete(h, "Connection")
		return
	}
	h["Connection"] = []string{strings.Join(keep, ", ")}
}
