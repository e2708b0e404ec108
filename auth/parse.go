package auth

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/golang-jwt/jwt/v5"
)

var b64url = base64.RawURLEncoding.Strict()

// joseHeader is the protected header of a JWS. The parameters that would
// let a token choose its own key (jku, x5u, jwk, x5c) are decoded only to
// reject tokens that carry them.
type joseHeader struct {
	Alg  string          `json:"alg"`
	Kid  string          `json:"kid"`
	Typ  string          `json:"typ"`
	Crit json.RawMessage `json:"crit"`
	Jku  json.RawMessage `json:"jku"`
	X5u  json.RawMessage `json:"x5u"`
	Jwk  json.RawMessage `json:"jwk"`
	X5c  json.RawMessage `json:"x5c"`
	B64  json.RawMessage `json:"b64"`
	Enc  json.RawMessage `json:"enc"`
	Zip  json.RawMessage `json:"zip"`
}

// registeredHeaders are the header names defined by RFC 7515/7516/7518,
// which RFC 7515 §4.1.11 forbids in crit.
var registeredHeaders = []string{"alg", "jku", "jwk", "kid", "x5u", "x5c", "x5t", "x5t#S256", "typ", "cty", "crit",
	"enc", "zip", "epk", "apu", "apv", "iv", "tag", "p2s", "p2c"}

type parsedToken struct {
	header       joseHeader
	claims       jwt.MapClaims
	signingInput string
	signature    []byte
}

// parseCompact decodes a compact JWS strictly: three non-empty base64url
// segments without padding, a JSON object header and payload, a supported
// algorithm, no key-carrying headers, and a crit header listing only
// understood, present, unregistered names. It does not verify the
// signature.
func parseCompact(token string, understood []string) (*parsedToken, error) {
	first := strings.IndexByte(token, '.')
	last := strings.LastIndexByte(token, '.')
	if first <= 0 || last == first || last == len(token)-1 || strings.IndexByte(token[first+1:last], '.') >= 0 {
		return nil, fmt.Errorf("%w: token must have three non-empty segments", ErrInvalidToken)
	}
	if last == first+1 {
		return nil, fmt.Errorf("%w: empty payload", ErrInvalidToken)
	}
	p := &parsedToken{signingInput: token[:last]}

	hdr, err := b64url.DecodeString(token[:first])
	if err != nil {
		return nil, fmt.Errorf("%w: header is not base64url", ErrInvalidToken)
	}
	if err := decodeObject(hdr, &p.header); err != nil {
		return nil, fmt.Errorf("%w: header: %w", ErrInvalidToken, err)
	}
	h := &p.header
	if _, ok := algorithms[h.Alg]; !ok {
		// Covers "none", "" and every algorithm outside the closed set.
		return nil, fmt.Errorf("%w: unsupported algorithm %q", ErrInvalidToken, h.Alg)
	}
	switch {
	case h.Jku != nil, h.X5u != nil:
		return nil, fmt.Errorf("%w: key URL headers (jku, x5u) are not accepted", ErrInvalidToken)
	case h.Jwk != nil, h.X5c != nil:
		return nil, fmt.Errorf("%w: embedded key headers (jwk, x5c) are not accepted", ErrInvalidToken)
	case h.B64 != nil, h.Enc != nil, h.Zip != nil:
		return nil, fmt.Errorf("%w: unsupported JWS/JWE header parameter", ErrInvalidToken)
	}
	if h.Crit != nil {
		if err := checkCrit(hdr, h.Crit, understood); err != nil {
			return nil, err
		}
	}

	payload, err := b64url.DecodeString(token[first+1 : last])
	if err != nil {
		return nil, fmt.Errorf("%w: payload is not base64url", ErrInvalidToken)
	}
	if err := decodeObject(payload, &p.claims); err != nil || p.claims == nil {
		return nil, fmt.Errorf("%w: payload is not a JSON object", ErrInvalidToken)
	}
	p.signature, err = b64url.DecodeString(token[last+1:])
	if err != nil {
		return nil, fmt.Errorf("%w: signature is not base64url", ErrInvalidToken)
	}
	return p, nil
}

// decodeObject decodes exactly one JSON object (numbers as json.Number)
// and rejects trailing data.
func decodeObject(data []byte, v any) error {
	data = bytes.TrimSpace(data)
	if len(data) == 0 || data[0] != '{' {
		return fmt.Errorf("not a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("trailing data after JSON object")
	}
	return nil
}

// checkCrit enforces RFC 7515 §4.1.11: crit is a non-empty array of
// distinct strings naming header parameters that are present, not defined
// by the JWS/JWA specifications, and understood by this deployment.
func checkCrit(hdr []byte, raw json.RawMessage, understood []string) error {
	var names []string
	if err := json.Unmarshal(raw, &names); err != nil || len(names) == 0 {
		return fmt.Errorf("%w: crit must be a non-empty array of strings", ErrInvalidToken)
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(hdr, &all); err != nil {
		return fmt.Errorf("%w: header: %w", ErrInvalidToken, err)
	}
	for i, n := range names {
		switch {
		case contains(names[:i], n):
			return fmt.Errorf("%w: crit lists %q twice", ErrInvalidToken, n)
		case contains(registeredHeaders, n):
			return fmt.Errorf("%w: crit lists registered header %q", ErrInvalidToken, n)
		case !contains(understood, n):
			return fmt.Errorf("%w: crit extension %q not understood", ErrInvalidToken, n)
		}
		if _, ok := all[n]; !ok {
			return fmt.Errorf("%w: crit extension %q absent from header", ErrInvalidToken, n)
		}
	}
	return nil
}
