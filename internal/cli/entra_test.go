package cli

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestEntraEmulatorCommand runs `mcpgate entra-emulator` with the walk-through file of
// docs/entra-emulator.md and follows the walk-through: discovery, device code sign-in,
// On-Behalf-Of to Microsoft Graph.
func TestEntraEmulatorCommand(t *testing.T) {
	t.Setenv("WEATHER_API_SECRET", "s3cret-from-the-portal")
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	cfg := filepath.Join("..", "authserver", "entraemulator", "testdata", "walkthrough.yaml")
	pr, pw := io.Pipe()
	root := NewRoot(strings.NewReader(""), pw, io.Discard)
	root.SetArgs([]string{"entra-emulator", "--config", cfg, "--addr", "127.0.0.1:0", "--ca-out", ca, "--log-level", "error"})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx); pw.Close() }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("entra-emulator: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("entra-emulator did not stop")
		}
	})
	var base string
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		if u, ok := strings.CutPrefix(sc.Text(), "Entra ID emulator listening on "); ok {
			base = u
			break
		}
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	if base == "" {
		t.Fatal("no listening line")
	}
	pemCA, err := os.ReadFile(ca)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemCA)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 10 * time.Second}
	post := func(path string, form url.Values) (int, map[string]any) {
		t.Helper()
		resp, err := hc.PostForm(base+path, form)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	resp, err := hc.Get(base + "/contoso.onmicrosoft.com/v2.0/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	var md map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&md)
	resp.Body.Close()
	if md["issuer"] != base+"/7a1e5f00-0000-4000-8000-00000000c0de/v2.0" {
		t.Fatalf("issuer %v", md["issuer"])
	}
	const tenant = "/contoso.onmicrosoft.com"
	const cli, api = "0c11e470-0000-4000-8000-0000000000c1", "6e5d1a7a-0000-4000-8000-0000000000a1"
	_, dc := post(tenant+"/oauth2/v2.0/devicecode", url.Values{"client_id": {cli}, "scope": {"api://weather-mcp/access_as_user offline_access"}})
	userCode, _ := dc["user_code"].(string)
	r, err := hc.PostForm(base+"/devicelogin", url.Values{"code": {userCode}, "login": {"alice@contoso.onmicrosoft.com"}, "passwd": {"alice-password"}})
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	st, user := post(tenant+"/oauth2/v2.0/token", url.Values{"client_id": {cli}, "grant_type": {"urn:ietf:params:oauth:grant-type:device_code"}, "device_code": {dc["device_code"].(string)}})
	if st != 200 {
		t.Fatalf("device code: %d %v", st, user)
	}
	st, obo := post(tenant+"/oauth2/v2.0/token", url.Values{"client_id": {api}, "client_secret": {"s3cret-from-the-portal"},
		"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"}, "requested_token_use": {"on_behalf_of"},
		"assertion": {user["access_token"].(string)}, "scope": {"https://graph.microsoft.com/User.Read"}})
	if st != 200 || obo["scope"] != "https://graph.microsoft.com/User.Read" {
		t.Fatalf("OBO: %d %v", st, obo)
	}
}
