package router

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"time"
)

// ErrInvalidSplit is returned by [NewSplit] for a bad [SplitConfig].
var ErrInvalidSplit = errors.New("router: invalid split")

// Target is one destination of a [Split].
type Target struct {
	// Name labels the target (for example "stable" or "canary") in logs.
	// Empty means "target<i>".
	Name string
	// Handler serves the requests sent to this target. Required.
	Handler http.Handler
	// Weight is the target's share relative to the sum of all weights.
	// Zero drains the target (it gets no requests); negative weights are
	// an error, and at least one weight must be positive.
	Weight int
}

// SplitConfig configures a [Split].
type SplitConfig struct {
	// Targets are the destinations, with their weights. Required. Keep the
	// stable target first: a sticky key maps to a point in [0,1) and each
	// target owns a contiguous range in list order, so raising the last
	// target's weight (a canary going 5% → 10%) only moves keys from the
	// targets before it to it, and keys already on it stay there.
	Targets []Target
	// StickyHeader names a request header whose value keys stickiness: the
	// same value always reaches the same target (a deterministic hash,
	// stable across processes and restarts while the weights are unchanged).
	// Empty means no header.
	StickyHeader string
	// StickyCookie names a cookie whose value keys stickiness, as
	// StickyHeader does; StickyHeader is consulted first. Empty means no
	// cookie. A request with neither gets a weighted random target.
	StickyCookie string
	// SetCookie, with StickyCookie, makes a request that carries no sticky
	// key get a fresh random cookie value; the target is chosen by that
	// value's hash and the cookie is set on the response, so the browser
	// sticks to the target. False means the cookie is never set.
	SetCookie bool
	// CookiePath is the Path attribute of the set cookie. Empty means "/".
	CookiePath string
	// CookieMaxAge is the Max-Age of the set cookie. Zero means a session
	// cookie.
	CookieMaxAge time.Duration
	// CookieSecure forces the Secure attribute. False means Secure is set
	// only for requests that arrived over TLS. The cookie is always
	// HttpOnly and SameSite=Lax.
	CookieSecure bool
}

// Split is an [net/http.Handler] that sends each request to one of several
// targets in proportion to their weights (canary releases, A/B tests, blue/
// green shifts), optionally sticky by a header or cookie. Build it with
// [NewSplit]. Picking a target does not allocate.
//
// A client that controls the sticky header or cookie can choose its target
// by trying values: a Split routes traffic, it does not enforce access (put
// auth in front of a target that must be restricted).
//
// A Split is immutable and safe for simultaneous use by multiple goroutines.
type Split struct {
	targets []Target
	cum     []uint64 // cumulative weights
	total   uint64
	header  string // canonical
	cookie  string
	cfg     SplitConfig
}

var _ http.Handler = (*Split)(nil)

// NewSplit validates cfg and returns the Split. Its errors wrap
// [ErrInvalidSplit] and name the field.
func NewSplit(cfg SplitConfig) (*Split, error) {
	if len(cfg.Targets) == 0 {
		return nil, fmt.Errorf("%w: Targets is empty", ErrInvalidSplit)
	}
	s := &Split{cfg: cfg, targets: append([]Target(nil), cfg.Targets...)}
	for i := range s.targets {
		t := &s.targets[i]
		if t.Name == "" {
			t.Name = "target" + strconv.Itoa(i)
		}
		if t.Handler == nil {
			return nil, fmt.Errorf("%w: Targets[%d] (%q): Handler is nil", ErrInvalidSplit, i, t.Name)
		}
		if t.Weight < 0 || t.Weight > math.MaxInt32 {
			return nil, fmt.Errorf("%w: Targets[%d] (%q): Weight %d out of range [0, %d]", ErrInvalidSplit, i, t.Name, t.Weight, math.MaxInt32)
		}
		s.total += uint64(t.Weight)
		s.cum = append(s.cum, s.total)
	}
	if s.total == 0 {
		return nil, fmt.Errorf("%w: Targets: every Weight is zero", ErrInvalidSplit)
	}
	if cfg.StickyHeader != "" {
		s.header = textproto.CanonicalMIMEHeaderKey(cfg.StickyHeader)
	}
	if cfg.StickyCookie != "" {
		if !validCookieName(cfg.StickyCookie) {
			return nil, fmt.Errorf("%w: StickyCookie %q is not a valid cookie name", ErrInvalidSplit, cfg.StickyCookie)
		}
		s.cookie = cfg.StickyCookie
	}
	if cfg.SetCookie && s.cookie == "" {
		return nil, fmt.Errorf("%w: SetCookie needs StickyCookie", ErrInvalidSplit)
	}
	if cfg.CookieMaxAge < 0 {
		return nil, fmt.Errorf("%w: CookieMaxAge %v is negative", ErrInvalidSplit, cfg.CookieMaxAge)
	}
	return s, nil
}

func validCookieName(n string) bool {
	for i := 0; i < len(n); i++ {
		if c := n[i]; c >= 0x80 || !isTokenByte[c] {
			return false
		}
	}
	return n != ""
}

// Targets returns a copy of the targets with their defaulted names.
func (s *Split) Targets() []Target { return append([]Target(nil), s.targets...) }

// Pick returns the index of the target for r: by the hash of the sticky
// header or cookie value when r has one, else weighted random. It does not
// allocate and does not modify r.
func (s *Split) Pick(r *http.Request) int {
	if key := s.stickyKey(r); key != "" {
		return s.ForKey(key)
	}
	return s.index(rand.Uint64N(s.total))
}

// ForKey returns the index of the target a sticky key maps to. The mapping
// is deterministic (FNV-1a with a 64-bit finaliser), so every gateway
// instance agrees on it.
func (s *Split) ForKey(key string) int {
	// Scale the hash to [0,total) by its fraction of 2^64 rather than by a
	// modulus, so each target owns a contiguous slice of the hash space and
	// weight changes move the fewest keys.
	hi, _ := bits.Mul64(hash64(key), s.total)
	return s.index(hi)
}

func (s *Split) index(point uint64) int {
	for i, c := range s.cum {
		if point < c {
			return i
		}
	}
	return len(s.cum) - 1
}

// ServeHTTP sends r to the picked target, first setting the sticky cookie
// when SetCookie asks for it and r had no sticky key.
func (s *Split) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key := s.stickyKey(r)
	if key == "" && s.cfg.SetCookie {
		key = newStickyValue()
		c := &http.Cookie{
			Name:     s.cookie,
			Value:    key,
			Path:     s.cfg.CookiePath,
			HttpOnly: true,
			Secure:   s.cfg.CookieSecure || r.TLS != nil,
			SameSite: http.SameSiteLaxMode,
		}
		if c.Path == "" {
			c.Path = "/"
		}
		if s.cfg.CookieMaxAge > 0 {
			c.MaxAge = int((s.cfg.CookieMaxAge + time.Second - 1) / time.Second)
		}
		http.SetCookie(w, c)
	}
	var i int
	if key != "" {
		i = s.ForKey(key)
	} else {
		i = s.index(rand.Uint64N(s.total))
	}
	s.targets[i].Handler.ServeHTTP(w, r)
}

// stickyKey returns the sticky header's first value, else the sticky
// cookie's value, else "".
func (s *Split) stickyKey(r *http.Request) string {
	if s.header != "" {
		if v := r.Header[s.header]; len(v) > 0 && v[0] != "" {
			return v[0]
		}
	}
	if s.cookie != "" {
		return cookieValue(r.Header["Cookie"], s.cookie)
	}
	return ""
}

// cookieValue finds name in Cookie header lines without allocating (unlike
// http.Request.Cookie, which parses every cookie). Surrounding quotes are
// removed from the value.
func cookieValue(lines []string, name string) string {
	for _, line := range lines {
		for line != "" {
			var part string
			if i := strings.IndexByte(line, ';'); i >= 0 {
				part, line = line[:i], line[i+1:]
			} else {
				part, line = line, ""
			}
			part = strings.TrimSpace(part)
			k, v, ok := strings.Cut(part, "=")
			if !ok || k != name {
				continue
			}
			if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
				v = v[1 : len(v)-1]
			}
			if v != "" {
				return v
			}
		}
	}
	return ""
}

// newStickyValue returns 128 random bits in hex. It identifies a browser
// for stickiness only and protects nothing, so math/rand/v2 (ChaCha8
// seeded from the OS) is enough.
func newStickyValue() string {
	var b [32]byte
	const hexdigits = "0123456789abcdef"
	x, y := rand.Uint64(), rand.Uint64()
	for i := 0; i < 16; i++ {
		b[i] = hexdigits[x>>(60-4*i)&0xf]
		b[16+i] = hexdigits[y>>(60-4*i)&0xf]
	}
	return string(b[:])
}

// hash64 is FNV-1a followed by the murmur3 64-bit finaliser, which spreads
// the low-entropy differences of similar keys ("user1", "user2") over the
// high bits that pick the target.
func hash64(s string) uint64 {
	const (
		offset = 14695981039346656037
		prime  = 1099511628211
	)
	h := uint64(offset)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= prime
	}
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}
