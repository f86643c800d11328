package proxy

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"net"
	"path/filepath"
	"testing"

	"github.com/veilgw/veil/internal/testpki"
)

type testPKI struct {
	ca                            *x509.Certificate
	caFile, serverCert, serverKey string
	client                        tls.Certificate
}

// newTestPKI issues a server certificate for 127.0.0.1 and a client
// certificate (CN svc-reporting, OU analyst) from one test CA.
func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	dir := t.TempDir()
	ca := testpki.NewCA(t, "veil test CA")
	srv := ca.Issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, nil)
	cli := ca.Issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "svc-reporting", OrganizationalUnit: []string{"analyst"}},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, nil)
	p := &testPKI{ca: ca.Cert, caFile: ca.WriteCert(t, filepath.Join(dir, "ca.pem")),
		serverCert: filepath.Join(dir, "srv.pem"), serverKey: filepath.Join(dir, "srv.key"), client: cli.TLS()}
	srv.WriteFiles(t, p.serverCert, p.serverKey)
	return p
}
