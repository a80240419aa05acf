package federation

import (
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/mcpgate/mcpgate/internal/config"
	"github.com/mcpgate/mcpgate/internal/store"
)

// TestConnectorCAFile: a connector's caFile makes its HTTP client trust a provider behind a
// private CA (and only its client); an unreadable caFile stops the connector.
func TestConnectorCAFile(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("{}")) }))
	defer srv.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600)
	mk := func(caFile string) (*Connector, error) {
		return New(Options{Config: config.AuthServerConnector{ID: "corp", Type: "oidc", Issuer: srv.URL, ClientID: "x", AllowPrivateAddresses: true, CAFile: caFile},
			Store: store.NewMemory(), Keys: keyring(t)})
	}
	with, err := mk(ca)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := with.http.Get(srv.URL)
	if err != nil {
		t.Fatalf("with caFile: %v", err)
	}
	resp.Body.Close()
	without, err := mk("")
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := without.http.Get(srv.URL); err == nil {
		resp.Body.Close()
		t.Fatal("the private CA was trusted without caFile")
	}
	if _, err := mk(filepath.Join(t.TempDir(), "missing.pem")); err == nil {
		t.Fatal("a missing caFile must stop the connector")
	}
}
