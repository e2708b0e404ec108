package auth

import (
	"cmp"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
)

// DefaultAPIKeyHeader is the header read by [APIKeys] when
// [APIKeyConfig.Header] is empty.
const DefaultAPIKeyHeader = "X-API-Key"

// APIKey is one API key of a consumer. A consumer may own several (for
// rotation): list one APIKey per key with the same Consumer.ID.
type APIKey struct {
	// Key is the key in plaintext. [NewAPIKeys] hashes it and keeps only
	// the hash. Set Key or Hash.
	Key string
	// Hash is the lowercase hex SHA-256 of the key (as [HashAPIKey]
	// returns), optionally prefixed "sha256:", for configurations that
	// never hold plaintext keys.
	Hash string
	// Consumer owns the key; Consumer.ID is required.
	Consumer Consumer
}

// APIKeyConfig configures [APIKeys].
type APIKeyConfig struct {
	// Header names the request header holding the key; empty means
	// DefaultAPIKeyHeader (X-API-Key).
	Header string
	// Query, if set, names a query parameter read when the header is
	// absent. Empty means the query is not read (keys in URLs end up in
	// logs; prefer the header).
	Query string
	// Cookie, if set, names a cookie read when the header and query
	// parameter are absent. Empty means cookies are not read.
	Cookie string
	// Realm is the realm of the challenge; empty means "gateway".
	Realm string
	// Keys are the accepted keys.
	Keys []APIKey
}

// APIKeys authenticates requests by an API key in a header, query
// parameter or cookie. Keys are stored as SHA-256 digests: the presented
// key is hashed before lookup, so an unknown key and a wrong key take the
// same path and time and get the same answer, and the lookup never
// compares secrets byte by byte (the matched digest is also confirmed with
// a constant-time compare). Keys are never logged. Build it with
// [NewAPIKeys]; an APIKeys is safe for simultaneous use by multiple
// goroutines.
type APIKeys struct {
	header    string
	query     string
	cookie    string
	challenge string
	keys      map[[sha256.Size]byte]*keyEntry
}

var _ Authenticator = (*APIKeys)(nil)

// HashAPIKey returns the lowercase hex SHA-256 of key, the form to store in
// [APIKey.Hash].
func HashAPIKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// NewAPIKeys returns an APIKeys for cfg, or an error wrapping [ErrConfig]
// for a key without a consumer ID, an empty key, a malformed hash, or the
// same key listed twice.
func NewAPIKeys(cfg APIKeyConfig) (*APIKeys, error) {
	k := &APIKeys{
		header: http.CanonicalHeaderKey(cfg.Header),
		query:  cfg.Query,
		cookie: cfg.Cookie,
		keys:   make(map[[sha256.Size]byte]*keyEntry, len(cfg.Keys)),
	}
	if k.header == "" {
		k.header = http.CanonicalHeaderKey(DefaultAPIKeyHeader)
	}
	realm := cfg.Realm
	if realm == "" {
		realm = "gateway"
	}
	k.challenge = "APIKey realm=" + quote(realm) + ", header=" + quote(cmp.Or(cfg.Header, DefaultAPIKeyHeader))
	ids := map[string]*Identity{} // one shared Identity per consumer
	for i, ak := range cfg.Keys {
		if ak.Consumer.ID == "" {
			return nil, fmt.Errorf("%w: api key %d: consumer ID is required", ErrConfig, i)
		}
		var sum [sha256.Size]byte
		switch {
		case ak.Key != "" && ak.Hash != "":
			return nil, fmt.Errorf("%w: api key %d: set Key or Hash, not both", ErrConfig, i)
		case ak.Key != "":
			sum = sha256.Sum256([]byte(ak.Key))
		case ak.Hash != "":
			b, err := hex.DecodeString(strings.TrimPrefix(strings.ToLower(ak.Hash), "sha256:"))
			if err != nil || len(b) != sha256.Size {
				return nil, fmt.Errorf("%w: api key %d: hash must be 64 hex digits of SHA-256", ErrConfig, i)
			}
			copy(sum[:], b)
		default:
			return nil, fmt.Errorf("%w: api key %d: empty key", ErrConfig, i)
		}
		if _, dup := k.keys[sum]; dup {
			return nil, fmt.Errorf("%w: api key %d: key listed twice", ErrConfig, i)
		}
		id := ids[ak.Consumer.ID]
		if id == nil {
			id = ak.Consumer.identity(MethodAPIKey)
			ids[ak.Consumer.ID] = id
		}
		k.keys[sum] = &keyEntry{digest: sum, id: id}
	}
	return k, nil
}

// Challenge returns `APIKey realm="...", header="..."`.
func (k *APIKeys) Challenge() string { return k.challenge }

// Authenticate looks up the key r presents. It returns an error wrapping
// [ErrNoCredentials] when there is none, [ErrInvalidRequest] when the
// header is repeated, and [ErrInvalidCredentials] for any key that is not
// configured.
func (k *APIKeys) Authenticate(r *http.Request) (*Identity, error) {
	key, err := k.key(r)
	if err != nil {
		return nil, err
	}
	return k.lookup(key)
}

// lookup finds the consumer of key. Only SHA-256 digests are looked up and
// compared, so the time taken reveals nothing about stored keys' bytes: a
// client controls the digest's preimage, not the digest. The stored digest
// (or, for an unknown key, a dummy) is confirmed with a constant-time
// compare, so known and unknown keys do the same work.
func (k *APIKeys) lookup(key string) (*Identity, error) {
	sum := sha256.Sum256([]byte(key))
	e, ok := k.keys[sum]
	stored := &dummyDigest
	if ok {
		stored = &e.digest
	}
	if subtle.ConstantTimeCompare(stored[:], sum[:]) != 1 || !ok {
		return nil, ErrInvalidCredentials
	}
	return e.id, nil
}

type keyEntry struct {
	digest [sha256.Size]byte
	id     *Identity
}

var dummyDigest = sha256.Sum256([]byte("gatewaykit: no such api key"))

func (k *APIKeys) key(r *http.Request) (string, error) {
	switch v := r.Header[k.header]; len(v) {
	case 0:
	case 1:
		if v[0] == "" {
			return "", ErrInvalidCredentials
		}
		return v[0], nil
	default:
		return "", ErrInvalidRequest
	}
	if k.query != "" && r.URL != nil && r.URL.RawQuery != "" {
		if vals, ok := r.URL.Query()[k.query]; ok {
			if len(vals) != 1 {
				return "", ErrInvalidRequest
			}
			if vals[0] == "" {
				return "", ErrInvalidCredentials
			}
			return vals[0], nil
		}
	}
	if k.cookie != "" {
		if c, err := r.Cookie(k.cookie); err == nil {
			if c.Value == "" {
				return "", ErrInvalidCredentials
			}
			return c.Value, nil
		}
	}
	return "", ErrNoCredentials
}

// StripCredentials removes the key header, query parameter and cookie from
// r, which must be [Require]'s own copy (its URL is replaced, not
// modified).
func (k *APIKeys) StripCredentials(r *http.Request) {
	delete(r.Header, k.header)
	if k.query != "" && r.URL != nil && r.URL.RawQuery != "" {
		q := r.URL.Query()
		if _, ok := q[k.query]; ok {
			q.Del(k.query)
			u := *r.URL
			u.RawQuery = q.Encode()
			r.URL = &u
			r.RequestURI = u.RequestURI()
		}
	}
	if k.cookie != "" {
		removeCookie(r, k.cookie)
	}
}
