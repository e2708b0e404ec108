package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"

	"github.com/golang-jwt/jwt/v5"
)

// Key is a token verification key bound to exactly one algorithm: a token
// is checked with a Key only when its alg header equals Key.Algorithm, and
// a Key is accepted by [NewJWT] only when its type fits that algorithm. So
// "alg":"none" (no such algorithm here) and algorithm confusion (an RSA
// public key used as an HMAC secret) cannot happen by construction.
type Key struct {
	// ID is the key ID matched against the token's kid header. A token
	// without a kid is tried against the issuer's keys of its algorithm.
	ID string
	// Algorithm is the JWS algorithm: HS256, HS384, HS512, RS256, RS384,
	// RS512, PS256, PS384, PS512, ES256, ES384, ES512 or EdDSA. Required.
	Algorithm string
	// Key is the verification key: []byte (at least as long as the hash
	// output) for HS*, *rsa.PublicKey (at least 2048 bits) for RS* and PS*,
	// *ecdsa.PublicKey on the matching curve for ES*, ed25519.PublicKey for
	// EdDSA. The matching private keys are accepted and reduced to their
	// public halves.
	Key any
}

// algorithms is the closed set of supported algorithms. "none" is absent on
// purpose.
var algorithms = map[string]jwt.SigningMethod{
	"HS256": jwt.SigningMethodHS256, "HS384": jwt.SigningMethodHS384, "HS512": jwt.SigningMethodHS512,
	"RS256": jwt.SigningMethodRS256, "RS384": jwt.SigningMethodRS384, "RS512": jwt.SigningMethodRS512,
	"PS256": jwt.SigningMethodPS256, "PS384": jwt.SigningMethodPS384, "PS512": jwt.SigningMethodPS512,
	"ES256": jwt.SigningMethodES256, "ES384": jwt.SigningMethodES384, "ES512": jwt.SigningMethodES512,
	"EdDSA": jwt.SigningMethodEdDSA,
}

// asymmetric lists the algorithms allowed by default for key sets fetched
// from a JWKS (symmetric keys are never taken from a remote source).
var asymmetric = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

// boundKey is a validated Key ready for verification.
type boundKey struct {
	id     string
	alg    string
	method jwt.SigningMethod
	key    any
}

// bindKey checks that k's key type fits its algorithm and returns the
// bound key.
func bindKey(k Key) (*boundKey, error) {
	method, ok := algorithms[k.Algorithm]
	if !ok {
		return nil, fmt.Errorf("%w: key %q: unsupported algorithm %q", ErrConfig, k.ID, k.Algorithm)
	}
	pub, err := checkKeyType(k.Algorithm, k.Key)
	if err != nil {
		return nil, fmt.Errorf("%w: key %q: %w", ErrConfig, k.ID, err)
	}
	return &boundKey{id: k.ID, alg: k.Algorithm, method: method, key: pub}, nil
}

func checkKeyType(alg string, key any) (any, error) {
	switch alg[:2] {
	case "HS":
		b, ok := key.([]byte)
		if !ok {
			return nil, fmt.Errorf("%s needs a []byte secret, got %T", alg, key)
		}
		if min := hashSize(alg); len(b) < min {
			return nil, fmt.Errorf("%s secret must be at least %d bytes (RFC 7518 §3.2)", alg, min)
		}
		return append([]byte(nil), b...), nil
	case "RS", "PS":
		var pub *rsa.PublicKey
		switch k := key.(type) {
		case *rsa.PublicKey:
			pub = k
		case *rsa.PrivateKey:
			pub = &k.PublicKey
		default:
			return nil, fmt.Errorf("%s needs an *rsa.PublicKey, got %T", alg, key)
		}
		if pub == nil || pub.N == nil || pub.N.BitLen() < 2048 {
			return nil, fmt.Errorf("%s key must be at least 2048 bits", alg)
		}
		return pub, nil
	case "ES":
		var pub *ecdsa.PublicKey
		switch k := key.(type) {
		case *ecdsa.PublicKey:
			pub = k
		case *ecdsa.PrivateKey:
			pub = &k.PublicKey
		default:
			return nil, fmt.Errorf("%s needs an *ecdsa.PublicKey, got %T", alg, key)
		}
		if pub == nil || pub.Curve != curveFor(alg) {
			return nil, fmt.Errorf("%s key must be on curve %s", alg, curveFor(alg).Params().Name)
		}
		return pub, nil
	case "Ed":
		switch k := key.(type) {
		case ed25519.PublicKey:
			if len(k) != ed25519.PublicKeySize {
				return nil, errors.New("EdDSA key has the wrong size")
			}
			return k, nil
		case ed25519.PrivateKey:
			return k.Public(), nil
		}
		return nil, fmt.Errorf("EdDSA needs an ed25519.PublicKey, got %T", key)
	}
	return nil, fmt.Errorf("unsupported algorithm %q", alg)
}

func hashSize(alg string) int {
	switch alg[2:] {
	case "384":
		return 48
	case "512":
		return 64
	}
	return 32
}

func curveFor(alg string) elliptic.Curve {
	switch alg {
	case "ES384":
		return elliptic.P384()
	case "ES512":
		return elliptic.P521()
	}
	return elliptic.P256()
}

// jwk is one JSON Web Key (RFC 7517) as found in a JWKS.
type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	N   string `json:"n"`
	E   string `json:"e"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
	// KeyOps, when present, must include "verify".
	KeyOps []string `json:"key_ops"`
}

// parseJWKS returns the verification keys of a JWKS document, bound to
// their algorithms. Keys whose algorithm is not in allowed, that are not
// for signatures, symmetric ("oct") or malformed are skipped; skipped
// counts them.
func parseJWKS(data []byte, allowed []string) (keys []*boundKey, skipped int, err error) {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, 0, fmt.Errorf("auth: jwks: %w", err)
	}
	for _, raw := range doc.Keys {
		var k jwk
		if json.Unmarshal(raw, &k) != nil {
			skipped++
			continue
		}
		bk, err := k.bind(allowed)
		if err != nil {
			skipped++
			continue
		}
		keys = append(keys, bk)
	}
	return keys, skipped, nil
}

func (k *jwk) bind(allowed []string) (*boundKey, error) {
	if k.Use != "" && k.Use != "sig" {
		return nil, errors.New("not a signature key")
	}
	if len(k.KeyOps) > 0 && !contains(k.KeyOps, "verify") {
		return nil, errors.New("key_ops excludes verify")
	}
	alg := k.Alg
	var pub crypto.PublicKey
	switch k.Kty {
	case "RSA":
		n, err1 := b64(k.N)
		e, err2 := b64(k.E)
		if err1 != nil || err2 != nil || len(e) == 0 || len(e) > 4 {
			return nil, errors.New("bad RSA key")
		}
		exp := 0
		for _, c := range e {
			exp = exp<<8 | int(c)
		}
		pub = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: exp}
		if alg == "" {
			alg = soleAlg(allowed, "RS", "PS")
		}
	case "EC":
		curveAlg := map[string]string{"P-256": "ES256", "P-384": "ES384", "P-521": "ES512"}[k.Crv]
		if curveAlg == "" || (alg != "" && alg != curveAlg) {
			return nil, errors.New("bad EC curve")
		}
		alg = curveAlg
		x, err1 := b64(k.X)
		y, err2 := b64(k.Y)
		size := (curveFor(alg).Params().BitSize + 7) / 8
		if err1 != nil || err2 != nil || len(x) != size || len(y) != size {
			return nil, errors.New("bad EC key")
		}
		point := make([]byte, 0, 1+2*size)
		point = append(append(append(point, 4), x...), y...)
		ec, err := ecdsa.ParseUncompressedPublicKey(curveFor(alg), point)
		if err != nil {
			return nil, err
		}
		pub = ec
	case "OKP":
		if k.Crv != "Ed25519" || (alg != "" && alg != "EdDSA") {
			return nil, errors.New("unsupported OKP curve")
		}
		alg = "EdDSA"
		x, err := b64(k.X)
		if err != nil || len(x) != ed25519.PublicKeySize {
			return nil, errors.New("bad Ed25519 key")
		}
		pub = ed25519.PublicKey(x)
	default: // "oct" and unknown types: never accept a secret from the network
		return nil, errors.New("unsupported key type")
	}
	if alg == "" || !contains(allowed, alg) {
		return nil, errors.New("algorithm not allowed")
	}
	return bindKey(Key{ID: k.Kid, Algorithm: alg, Key: pub})
}

// soleAlg returns the default algorithm for an RSA JWK without "alg": the
// only RSA algorithm allowed, else RS256 when allowed, else "".
func soleAlg(allowed []string, prefixes ...string) string {
	found := ""
	n := 0
	for _, a := range allowed {
		for _, p := range prefixes {
			if len(a) > 2 && a[:2] == p {
				found = a
				n++
			}
		}
	}
	if n == 1 {
		return found
	}
	if contains(allowed, "RS256") {
		return "RS256"
	}
	return ""
}

func b64(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(s)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
