package upstream

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"strings"
	"testing"

	"github.com/mcpgate/mcpgate/internal/store"
)

func TestLoadCertificateAssertion(t *testing.T) {
	key, cert := selfSignedCert(t)
	dir := t.TempDir()
	writeFile(t, dir+"/cert.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})))
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	writeFile(t, dir+"/key.pem", string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})))
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	writeFile(t, dir+"/other.pem", string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(other)})))
	ca, err := LoadCertificateAssertion("app", dir+"/cert.pem", dir+"/key.pem", "")
	if err != nil || ca.ID != "app" || !ca.Certificate.Equal(cert) {
		t.Fatalf("load: %v", err)
	}
	if _, err := LoadCertificateAssertion("app", dir+"/cert.pem", dir+"/other.pem", ""); err == nil || !strings.Contains(err.Error(), "does not belong to the certificate") {
		t.Fatalf("mismatched key accepted: %v", err)
	}
	if _, err := LoadCertificateAssertion("app", dir+"/key.pem", dir+"/key.pem", ""); err == nil || !strings.Contains(err.Error(), "no PEM CERTIFICATE") {
		t.Fatalf("key as certificate accepted: %v", err)
	}
}

func TestConnectionReturnURL(t *testing.T) {
	cs, err := NewConnections(ConnectionsConfig{Apps: []OAuthApp{{Name: "svc", AuthorizeURL: "http://127.0.0.1:1/a", TokenURL: "http://127.0.0.1:1/t", ClientID: "c"}},
		Store: store.NewMemory(), Keys: newKeyring(t, "k"), BaseURL: "https://mcp.example.com/connections"})
	if err != nil {
		t.Fatal(err)
	}
	p, _ := cs.Provider("svc")
	for ret, want := range map[string]string{
		"/chat/42":             "https://mcp.example.com/connections/svc/connect?return=%2Fchat%2F42",
		"https://evil.example": "https://mcp.example.com/connections/svc/connect",
	} {
		_, err := p.Credential(context.Background(), Request{Principal: principal("alice", "t"), ReturnURL: ret})
		if nua, ok := err.(*NeedsUserAction); !ok || nua.URL != want {
			t.Errorf("return %q: %v, want %s", ret, err, want)
		}
	}
}
