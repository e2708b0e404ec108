package auth

import (
	"crypto/x509"
	"fmt"
	"net/http"
)

// CertName selects which name of a verified client certificate identifies
// the consumer in [MTLS].
type CertName int

// The certificate names [MTLS] can map to consumers.
const (
	// SubjectCN is the subject common name (the default).
	SubjectCN CertName = iota
	// SANDNS are the DNS subject alternative names.
	SANDNS
	// SANEmail are the email subject alternative names.
	SANEmail
	// SANURI are the URI subject alternative names (SPIFFE IDs).
	SANURI
)

// MTLSConfig configures [MTLS].
type MTLSConfig struct {
	// Name selects the certificate name that identifies the consumer; the
	// zero value is SubjectCN. For SAN kinds every SAN of that kind is
	// tried in order.
	Name CertName
	// Consumers maps certificate names to consumers. Nil admits every
	// verified certificate, with the name itself as the consumer ID; a
	// non-nil map admits only the names it lists.
	Consumers map[string]Consumer
}

// MTLS authenticates requests by the client certificate the TLS handshake
// verified (tls.Config.ClientAuth VerifyClientCertIfGiven or
// RequireAndVerifyClientCert with ClientCAs). A certificate the server did
// not verify (RequestClientCert, RequireAnyClientCert) is never accepted.
// Build it with [NewMTLS]; an MTLS is safe for simultaneous use by multiple
// goroutines.
type MTLS struct {
	name      CertName
	consumers map[string]*Identity
}

var _ Authenticator = (*MTLS)(nil)

// NewMTLS returns an MTLS for cfg, or an error wrapping [ErrConfig] for an
// unknown Name or a consumer without an ID.
func NewMTLS(cfg MTLSConfig) (*MTLS, error) {
	if cfg.Name < SubjectCN || cfg.Name > SANURI {
		return nil, fmt.Errorf("%w: mtls: unknown certificate name kind %d", ErrConfig, cfg.Name)
	}
	m := &MTLS{name: cfg.Name}
	if cfg.Consumers != nil {
		m.consumers = make(map[string]*Identity, len(cfg.Consumers))
		for name, c := range cfg.Consumers {
			if c.ID == "" {
				return nil, fmt.Errorf("%w: mtls: consumer for %q has no ID", ErrConfig, name)
			}
			m.consumers[name] = c.identity(MethodMTLS)
		}
	}
	return m, nil
}

// Authenticate maps r's verified client certificate to a consumer. It
// returns an error wrapping [ErrNoCredentials] when the connection is not
// TLS or carries no client certificate, and [ErrInvalidCredentials] when
// the certificate was not verified or names no known consumer.
func (m *MTLS) Authenticate(r *http.Request) (*Identity, error) {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return nil, ErrNoCredentials
	}
	if len(r.TLS.VerifiedChains) == 0 || len(r.TLS.VerifiedChains[0]) == 0 {
		return nil, fmt.Errorf("%w: client certificate not verified", ErrInvalidCredentials)
	}
	leaf := r.TLS.VerifiedChains[0][0]
	for _, name := range m.names(leaf) {
		if name == "" {
			continue
		}
		if m.consumers == nil {
			return (&Identity{ConsumerID: name, Username: name, Method: MethodMTLS}).seal(), nil
		}
		if id := m.consumers[name]; id != nil {
			return id, nil
		}
	}
	return nil, fmt.Errorf("%w: client certificate names no known consumer", ErrInvalidCredentials)
}

func (m *MTLS) names(c *x509.Certificate) []string {
	switch m.name {
	case SANDNS:
		return c.DNSNames
	case SANEmail:
		return c.EmailAddresses
	case SANURI:
		out := make([]string, 0, len(c.URIs))
		for _, u := range c.URIs {
			out = append(out, u.String())
		}
		return out
	}
	return []string{c.Subject.CommonName}
}
