package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mcpgate/mcpgate/internal/authserver/entraemulator"
	"github.com/mcpgate/mcpgate/internal/config"
)

const doctorEntraFile = `
tenants:
  - id: 7a1e5f00-0000-4000-8000-00000000c0de
    adminConsent: [Directory reader]
apps:
  - name: Weather MCP API
    clientId: 6e5d1a7a-0000-4000-8000-0000000000a1
    identifierUris: [api://weather-mcp]
    scopes: [{value: access_as_user, adminConsentRequired: true}]
  - name: Weather CLI
    clientId: 0c11e470-0000-4000-8000-0000000000c1
    publicClient: true
    redirectUris: [http://localhost]
    requiredResourceAccess: [{resource: api://weather-mcp, scopes: [access_as_user]}]
  - name: Directory reader
    clientId: 0c11e470-0000-4000-8000-0000000000d1
    secrets: [{value: reader-secret}]
    requiredResourceAccess: [{resource: Microsoft Graph, roles: [Application.Read.All]}]
`

// The emulator's registrations, exported by mcpgate entra-emulator export, diagnosed by
// mcpgate doctor entra against a gateway configuration that accepts only v2 tokens: the API
// issues v1 tokens (its version is left null) and its scope is Admin-only with the CLI not
// pre-authorized (the second-user case).
func TestDoctorEntraCommand(t *testing.T) {
	dir := t.TempDir()
	ef := filepath.Join(dir, "entra.yaml")
	os.WriteFile(ef, []byte(doctorEntraFile), 0o600)
	export := func(name string) string {
		var out bytes.Buffer
		root := NewRoot(strings.NewReader(""), &out, io.Discard)
		root.SetArgs([]string{"entra-emulator", "export", "--config", ef, "--app", name})
		if err := root.ExecuteContext(context.Background()); err != nil {
			t.Fatalf("export %s: %v", name, err)
		}
		f := filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".json")
		os.WriteFile(f, out.Bytes(), 0o600)
		return f
	}
	appFile, apiFile := export("Weather CLI"), export("Weather MCP API")
	cfg := filepath.Join(dir, "mcpgate.yaml")
	os.WriteFile(cfg, []byte(`
issuers:
  - name: contoso
    entra: {tenant: 7a1e5f00-0000-4000-8000-00000000c0de, clientId: 6e5d1a7a-0000-4000-8000-0000000000a1, appIdUri: api://weather-mcp, versions: [2]}
routes:
  - {name: weather, path: /weather/mcp, upstream: {url: "http://127.0.0.1:9001/mcp"}, auth: {issuers: [contoso]}}
`), 0o600)

	out, err := runDoctor("", "entra", "--app", appFile, "--api", apiFile, "--config", cfg)
	var ee exitError
	if !errors.As(err, &ee) || ee.code != 1 {
		t.Fatalf("a failed check must exit 1: %v\n%s", err, out)
	}
	for _, want := range []string{"✓ gateway", "issuer contoso in " + cfg, "✗ access-token-version", "accepts only v2", "✗ consent", "knownClientApplications", "2 failed"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	out, _ = runDoctor("", "entra", "--app", appFile, "--api", apiFile, "--versions", "1,2", "--json")
	var steps []struct{ ID, Status string }
	if err := json.Unmarshal([]byte(out), &steps); err != nil {
		t.Fatalf("--json: %v\n%s", err, out)
	}
	failed := map[string]bool{}
	for _, s := range steps {
		if s.Status == "fail" {
			failed[s.ID] = true
		}
	}
	if len(failed) != 1 || !failed["consent"] {
		t.Errorf("with --versions 1,2 only consent fails: %v", failed)
	}

	if out, err := runDoctor("", "entra", "--app", ef); err == nil || !strings.Contains(out, "is not an app registration") {
		t.Errorf("a YAML file is not an app registration: %v\n%s", err, out)
	}
}

// The emulator serves the same documents at Graph's GET /v1.0/applications/{id} to a Graph
// token with Application.Read.All, as az ad app show reads them from a real tenant.
func TestEmulatorGraphApplications(t *testing.T) {
	ec, _, err := config.ParseEntra("entra.yaml", []byte(doctorEntraFile), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(nil)
	defer srv.Close()
	em, err := entraemulator.New(entraemulator.Options{Config: ec, BaseURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = em.Handler()
	const tid = "7a1e5f00-0000-4000-8000-00000000c0de"
	tok := func(clientID, secret string) string {
		resp, err := http.PostForm(em.TokenURL(tid), url.Values{"grant_type": {"client_credentials"}, "client_id": {clientID},
			"client_secret": {secret}, "scope": {"https://graph.microsoft.com/.default"}})
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body struct {
			AccessToken string `json:"access_token"`
		}
		json.NewDecoder(resp.Body).Decode(&body)
		if body.AccessToken == "" {
			t.Fatalf("client credentials: %d", resp.StatusCode)
		}
		return body.AccessToken
	}
	get := func(path, token string) (int, []byte) {
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	reader := tok("0c11e470-0000-4000-8000-0000000000d1", "reader-secret")
	status, body := get("/v1.0/applications(appId='6e5d1a7a-0000-4000-8000-0000000000a1')", reader)
	var g entraemulator.GraphApplication
	if status != 200 || json.Unmarshal(body, &g) != nil || g.AppID != "6e5d1a7a-0000-4000-8000-0000000000a1" ||
		g.API.RequestedAccessTokenVersion != nil || len(g.API.OAuth2PermissionScopes) != 1 || g.API.OAuth2PermissionScopes[0].Type != "Admin" {
		t.Fatalf("GET applications(appId=…) = %d %s", status, body)
	}
	if s, b := get("/v1.0/applications/"+g.ID, reader); s != 200 || !bytes.Contains(b, []byte(`"displayName":"Weather MCP API"`)) {
		t.Errorf("GET applications/{object id} = %d %s", s, b)
	}
	if s, b := get("/v1.0/applications?$filter="+url.QueryEscape("appId eq '0c11e470-0000-4000-8000-0000000000c1'"), reader); s != 200 ||
		!bytes.Contains(b, []byte(`"publicClient":{"redirectUris":["http://localhost"]}`)) || bytes.Contains(b, []byte("Weather MCP API")) {
		t.Errorf("GET applications?$filter = %d %s", s, b)
	}
	if s, b := get("/v1.0/applications", ""); s != 401 {
		t.Errorf("without a token = %d %s", s, b)
	}
	if s, b := get("/v1.0/applications/nope", reader); s != 404 {
		t.Errorf("unknown app = %d %s", s, b)
	}
	if bytes.Contains(body, []byte("reader-secret")) {
		t.Error("a secret's value was exported")
	}
}
