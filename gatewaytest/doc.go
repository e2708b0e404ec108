// Package gatewaytest has helpers for testing gateway policies and whole
// gateways with net/http/httptest: a recording upstream that keeps every
// request that reached it, a decoder for the gateway's problem+json errors,
// and (in auth.go) token minting and a JWKS server.
//
// Nothing in the module imports gatewaytest except tests.
package gatewaytest
