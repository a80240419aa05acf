package demo

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// demoTLS makes (once, in the data folder) a self-signed certificate for 127.0.0.1, ::1 and
// localhost, and returns the server configuration and the certificate's path. MSAL (msal-node,
// msal-browser) refuses http authorities, so the web canvas needs the demo over https.
//
// mcpgate calls itself over https too (the Entra emulator's keys, the Contoso sign-in, the
// canvas agent's token exchange and MCP calls), so the process trusts the certificate:
// SSL_CERT_FILE is pointed at the system roots plus this certificate before anything
// verifies a certificate. Demo only.
func demoTLS(dataDir string) (*tls.Config, string, error) {
	certPath, keyPath := filepath.Join(dataDir, "demo-tls-ca.pem"), filepath.Join(dataDir, "demo-tls-key.pem")
	if _, err := os.Stat(certPath); err != nil {
		if err := writeSelfSigned(certPath, keyPath); err != nil {
			return nil, "", fmt.Errorf("making the demo's TLS certificate: %w", err)
		}
	}
	pair, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		return nil, "", fmt.Errorf("loading the demo's TLS certificate (delete %s to make a new one): %w", certPath, err)
	}
	bundle := filepath.Join(dataDir, "demo-tls-trust.pem")
	var b []byte
	for _, sys := range []string{os.Getenv("SSL_CERT_FILE"), "/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/cert.pem"} {
		if data, err := os.ReadFile(sys); sys != "" && sys != bundle && err == nil {
			b = append(data, '\n')
			break
		}
	}
	ca, _ := os.ReadFile(certPath)
	if err := os.WriteFile(bundle, append(b, ca...), 0o600); err != nil {
		return nil, "", err
	}
	os.Setenv("SSL_CERT_FILE", bundle)
	return &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}, certPath, nil
}

func writeSelfSigned(certPath, keyPath string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: "mcpgate demo (self-signed)"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().AddDate(1, 0, 0),
		IsCA: true, BasicConstraintsValid: true,
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}, DNSNames: []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		return err
	}
	return os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
}

// printTLS tells how to trust the demo's certificate and point MSAL at the emulator.
func printTLS(w io.Writer, info Info, caPath string) {
	abs, err := filepath.Abs(caPath)
	if err != nil {
		abs = caPath
	}
	host := strings.TrimPrefix(info.BaseURL, "https://")
	fmt.Fprintf(w, "\nTLS: self-signed certificate %s\n", abs)
	fmt.Fprintf(w, "  curl --cacert %s …   Node/MSAL: NODE_EXTRA_CA_CERTS=%s\n", abs, abs)
	fmt.Fprintf(w, "  MSAL authority %s/entra/%s with knownAuthorities: [\"%s\"] (no instance discovery at Microsoft)\n", info.BaseURL, ContosoTenant, host)
	fmt.Fprintln(w, "  Browsers warn about the certificate once: accept it, or import it as a trusted authority.")
}
