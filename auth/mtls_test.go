package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

func (ca *testCA) issue(t *testing.T, cn string, client bool, uri string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature,
	}
	if client {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
		if uri != "" {
			u, _ := url.Parse(uri)
			tmpl.URIs = []*url.URL{u}
		}
	} else {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	require.NoError(t, err)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func TestMTLS(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t, "test CA")
	other := newTestCA(t, "other CA")
	serverCert := ca.issue(t, "server", false, "")

	byCN, err := NewMTLS(MTLSConfig{Consumers: map[string]Consumer{"billing": {ID: "svc-billing", Groups: []string{"internal"}}}})
	require.NoError(t, err)
	byURI, err := NewMTLS(MTLSConfig{Name: SANURI})
	require.NoError(t, err)

	start := func(t *testing.T, m *MTLS, clientAuth tls.ClientAuthType) *httptest.Server {
		srv := httptest.NewUnstartedServer(Require(m)(okHandler()))
		srv.TLS = &tls.Config{Certificates: []tls.Certificate{serverCert}, ClientAuth: clientAuth, ClientCAs: ca.pool, MinVersion: tls.VersionTLS12}
		srv.StartTLS()
		t.Cleanup(srv.Close)
		return srv
	}
	client := func(certs ...tls.Certificate) *http.Client {
		cfg := &tls.Config{RootCAs: ca.pool}
		if len(certs) > 0 {
			// Send the certificate even when the server's acceptable CAs do
			// not list its issuer, as an attacker would.
			cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &certs[0], nil }
		}
		return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: true}}
	}

	tests := []struct {
		name         string
		m            *MTLS
		clientAuth   tls.ClientAuthType
		cert         []tls.Certificate
		wantStatus   int
		wantConsumer string
		wantTLSError bool
	}{
		{"verified cert, CN mapped", byCN, tls.VerifyClientCertIfGiven, []tls.Certificate{ca.issue(t, "billing", true, "")}, 200, "svc-billing", false},
		{"verified cert, unknown CN", byCN, tls.VerifyClientCertIfGiven, []tls.Certificate{ca.issue(t, "intruder", true, "")}, 401, "", false},
		{"no cert", byCN, tls.VerifyClientCertIfGiven, nil, 401, "", false},
		{"verified cert, SAN URI", byURI, tls.VerifyClientCertIfGiven, []tls.Certificate{ca.issue(t, "x", true, "spiffe://test/ns/a/sa/orders")}, 200, "spiffe://test/ns/a/sa/orders", false},
		{"unverified cert never accepted", byCN, tls.RequestClientCert, []tls.Certificate{other.issue(t, "billing", true, "")}, 401, "", false},
		{"cert from another CA fails the handshake", byCN, tls.VerifyClientCertIfGiven, []tls.Certificate{other.issue(t, "billing", true, "")}, 0, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := start(t, tt.m, tt.clientAuth)
			resp, err := client(tt.cert...).Get(srv.URL + "/")
			if tt.wantTLSError {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			assert.Equal(t, tt.wantStatus, resp.StatusCode)
			assert.Equal(t, tt.wantConsumer, resp.Header.Get("X-Seen-Consumer"))
		})
	}

	_, err = NewMTLS(MTLSConfig{Name: 9})
	require.ErrorIs(t, err, ErrConfig)
	_, err = NewMTLS(MTLSConfig{Consumers: map[string]Consumer{"x": {}}})
	require.ErrorIs(t, err, ErrConfig)
}
