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

// joseHeader is the protected header of a JWS, read case-sensitively from
// the decoded object (encoding/json's struct matching is case-insensitive,
// which would let "ALG" stand in for "alg").
type joseHeader struct {
	Alg string
	Kid string
	all map[string]json.RawMessage
}

// forbiddenHeaders would let a token choose its own key (jku, x5u, jwk,
// x5c), change the payload encoding (b64, RFC 7797) or make it a JWE (enc,
// zip): tokens carrying any of them are refused.
var forbiddenHeaders = []string{"jku", "x5u", "jwk", "x5c", "b64", "enc", "zip"}

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
	if err := decodeObject(hdr, &p.header.all); err != nil || p.header.all == nil {
		return nil, fmt.Errorf("%w: header is not a JSON object", ErrInvalidToken)
	}
	h := &p.header
	if countTopLevelKeys(hdr) != len(h.all) {
		return nil, fmt.Errorf("%w: duplicate header parameter", ErrInvalidToken)
	}
	if err := headerString(h.all, "alg", &h.Alg, true); err != nil {
		return nil, err
	}
	if _, ok := algorithms[h.Alg]; !ok {
		// Covers "none", "" and every algorithm outside the closed set.
		return nil, fmt.Errorf("%w: unsupported algorithm %q", ErrInvalidToken, h.Alg)
	}
	if err := headerString(h.all, "kid", &h.Kid, false); err != nil {
		return nil, err
	}
	for _, name := range forbiddenHeaders {
		if _, ok := h.all[name]; ok {
			return nil, fmt.Errorf("%w: header parameter %q is not accepted", ErrInvalidToken, name)
		}
	}
	if crit, ok := h.all["crit"]; ok {
		if err := checkCrit(h.all, crit, understood); err != nil {
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
	if countTopLevelKeys(payload) != len(p.claims) {
		// Another JSON parser (the upstream's) might read the other copy.
		return nil, fmt.Errorf("%w: duplicate claim", ErrInvalidToken)
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
func checkCrit(all map[string]json.RawMessage, raw json.RawMessage, understood []string) error {
	var names []string
	if err := json.Unmarshal(raw, &names); err != nil || len(names) == 0 {
		return fmt.Errorf("%w: crit must be a non-empty array of strings", ErrInvalidToken)
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

// headerString reads header parameter name as a string into dst.
func headerString(all map[string]json.RawMessage, name string, dst *string, required bool) error {
	raw, ok := all[name]
	if !ok {
		if required {
			return fmt.Errorf("%w: header lacks %q", ErrInvalidToken, name)
		}
		return nil
	}
	if err := json.Unmarshal(raw, dst); err != nil || len(raw) == 0 || raw[0] != '"' {
		return fmt.Errorf("%w: header %q is not a string", ErrInvalidToken, name)
	}
	return nil
}

// countTopLevelKeys counts the members of the JSON object in data, which
// must be valid JSON (it runs after a successful decode). Comparing the
// count with the decoded map's size detects duplicate names.
func countTopLevelKeys(data []byte) int {
	depth, n := 0, 0
	inStr, esc, expectKey := false, false, false
	for _, c := range data {
		if inStr {
			switch {
			case esc:
				esc = false
			case c == '\\':
				esc = true
			case c == '"':
				inStr = false
			}
			continue
		}
		switch c {
		case '"':
			inStr = true
			if depth == 1 && expectKey {
				n++
				expectKey = false
			}
		case '{':
			depth++
			if depth == 1 {
				expectKey = true
			}
		case '[':
			depth++
		case '}', ']':
			depth--
		case ',':
			if depth == 1 {
				expectKey = true
			}
		}
	}
	return n
}
