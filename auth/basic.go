package auth

import (
	"cmp"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// BasicUser is one user accepted by [Basic].
type BasicUser struct {
	// Username is the login name; required and unique.
	Username string
	// PasswordHash is the bcrypt hash of the password (as produced by
	// bcrypt.GenerateFromPassword or htpasswd -B); required.
	PasswordHash string
	// Consumer is the identity of the user; an empty Consumer.ID means the
	// Username.
	Consumer Consumer
}

// BasicConfig configures [Basic].
type BasicConfig struct {
	// Realm is the realm of the Basic challenge; empty means "gateway".
	Realm string
	// Users are the accepted users.
	Users []BasicUser
	// CacheTTL is how long a successful check is remembered (keyed by a
	// SHA-256 digest of the credentials, never the password) so that a
	// busy client does not pay bcrypt on every request; zero means one
	// minute.
	CacheTTL time.Duration
	// CacheEntries bounds that cache; zero means 1,000.
	CacheEntries int
	// Clock returns the current time; nil means time.Now.
	Clock func() time.Time
}

// Basic authenticates requests with HTTP Basic credentials (RFC 7617)
// checked against bcrypt hashes, meant for internal tools. An unknown user
// is checked against a dummy hash of the same cost, so it takes the same
// time and gets the same answer as a wrong password. Build it with
// [NewBasic]; a Basic is safe for simultaneous use by multiple goroutines.
type Basic struct {
	users     map[string]basicEntry
	dummy     []byte
	challenge string
	cache     *identityCache
	ttl       time.Duration
	now       func() time.Time
}

type basicEntry struct {
	hash []byte
	id   *Identity
}

var _ Authenticator = (*Basic)(nil)

// NewBasic returns a Basic for cfg, or an error wrapping [ErrConfig] for a
// missing or duplicate username or a hash that is not bcrypt.
func NewBasic(cfg BasicConfig) (*Basic, error) {
	b := &Basic{
		users:     make(map[string]basicEntry, len(cfg.Users)),
		challenge: "Basic realm=" + quote(cmp.Or(cfg.Realm, "gateway")) + `, charset="UTF-8"`,
		ttl:       cmp.Or(cfg.CacheTTL, time.Minute),
		now:       nowFunc(cfg.Clock),
	}
	b.cache = newIdentityCache(cmp.Or(cfg.CacheEntries, 1000), 1<<30)
	cost := bcrypt.DefaultCost
	for i, u := range cfg.Users {
		if u.Username == "" || strings.Contains(u.Username, ":") {
			return nil, fmt.Errorf("%w: basic user %d: username empty or contains ':'", ErrConfig, i)
		}
		if _, dup := b.users[u.Username]; dup {
			return nil, fmt.Errorf("%w: basic user %q listed twice", ErrConfig, u.Username)
		}
		c, err := bcrypt.Cost([]byte(u.PasswordHash))
		if err != nil {
			return nil, fmt.Errorf("%w: basic user %q: %w", ErrConfig, u.Username, err)
		}
		if i == 0 {
			cost = c
		}
		cons := u.Consumer
		if cons.ID == "" {
			cons.ID = u.Username
		}
		if cons.Username == "" {
			cons.Username = u.Username
		}
		b.users[u.Username] = basicEntry{hash: []byte(u.PasswordHash), id: cons.identity(MethodBasic)}
	}
	// A dummy hash of the users' cost, so unknown users cost as much as
	// known ones.
	secret := make([]byte, 16)
	_, _ = rand.Read(secret)
	dummy, err := bcrypt.GenerateFromPassword(secret, cost)
	if err != nil {
		return nil, fmt.Errorf("%w: basic: %w", ErrConfig, err)
	}
	b.dummy = dummy
	return b, nil
}

// Challenge returns `Basic realm="...", charset="UTF-8"`.
func (b *Basic) Challenge() string { return b.challenge }

// Authenticate checks r's Basic credentials. It returns an error wrapping
// [ErrNoCredentials] when r has no Basic Authorization header,
// [ErrInvalidRequest] for a repeated header, and [ErrInvalidCredentials]
// for a malformed header, an unknown user or a wrong password alike.
func (b *Basic) Authenticate(r *http.Request) (*Identity, error) {
	vals := r.Header["Authorization"]
	if len(vals) == 0 {
		return nil, ErrNoCredentials
	}
	if len(vals) > 1 {
		return nil, ErrInvalidRequest
	}
	const prefix = "Basic "
	v := vals[0]
	if len(v) < len(prefix) || !strings.EqualFold(v[:len(prefix)], prefix) {
		return nil, ErrNoCredentials
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(v[len(prefix):]))
	if err != nil {
		return nil, fmt.Errorf("%w: malformed basic credentials", ErrInvalidCredentials)
	}
	user, pass, ok := strings.Cut(string(raw), ":")
	if !ok {
		return nil, fmt.Errorf("%w: malformed basic credentials", ErrInvalidCredentials)
	}
	now := b.now().UnixNano()
	sum := sha256.Sum256(raw)
	key := string(sum[:])
	if id := b.cache.get(key, now); id != nil {
		return id, nil
	}
	e, known := b.users[user]
	hash := e.hash
	if !known {
		hash = b.dummy
	}
	if bcrypt.CompareHashAndPassword(hash, []byte(pass)) != nil || !known {
		return nil, ErrInvalidCredentials
	}
	b.cache.put(key, e.id, now+int64(b.ttl), now, 0)
	return e.id, nil
}

// StripCredentials removes a Basic Authorization header from r, which must
// be [Require]'s own copy.
func (b *Basic) StripCredentials(r *http.Request) {
	if v := r.Header["Authorization"]; len(v) == 1 && len(v[0]) > 6 && strings.EqualFold(v[0][:6], "Basic ") {
		delete(r.Header, "Authorization")
	}
}
