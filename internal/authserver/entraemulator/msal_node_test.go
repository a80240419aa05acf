package entraemulator

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/internal/testutil"
)

type nodeCase struct {
	Name      string            `json:"name"`
	Flow      string            `json:"flow"`
	Authority string            `json:"authority"`
	ClientID  string            `json:"clientId"`
	Secret    string            `json:"secret,omitempty"`
	Cert      map[string]string `json:"cert,omitempty"`
	Scopes    []string          `json:"scopes"`
	Assertion string            `json:"assertion,omitempty"`
	Code      string            `json:"code,omitempty"`
	Verifier  string            `json:"codeVerifier,omitempty"`
	Redirect  string            `json:"redirectUri,omitempty"`
	Silent    []string          `json:"silentScopes,omitempty"`
	Nonce     string            `json:"nonce,omitempty"`
	Caps      []string          `json:"clientCapabilities,omitempty"`
	Claims    string            `json:"claims,omitempty"`
}

type nodeResult struct {
	Name                string      `json:"name"`
	OK                  bool        `json:"ok"`
	AccessToken         string      `json:"accessToken"`
	ErrorName           string      `json:"errorName"`
	ErrorCode           string      `json:"errorCode"`
	SubError            string      `json:"subError"`
	ErrorNo             json.Number `json:"errorNo"`
	Claims              string      `json:"claims"`
	Message             string      `json:"message"`
	InteractionRequired bool        `json:"interactionRequired"`
	Username            string      `json:"username"`
	HomeAccountID       string      `json:"homeAccountId"`
	SilentAccessToken   string      `json:"silentAccessToken"`
	URL                 string      `json:"url"`
}

// TestMSALNode drives the emulator with @azure/msal-node: https authority (msal-node
// refuses http) trusted through NODE_EXTRA_CA_CERTS, knownAuthorities so that no instance
// discovery goes to Microsoft.
func TestMSALNode(t *testing.T) {
	nodeDir := testutil.NodeModules(t)
	e := newEnv(t)
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: e.srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalPKCS8PrivateKey(e.cert.key)
	sum := sha256.Sum256(e.cert.cert.Raw)
	cert := map[string]string{"thumbprintSha256": hex.EncodeToString(sum[:]),
		"privateKey": string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))}
	alice := str(e.login(t, contosoID, clientID, "alice@contoso.com", "alice-pw", "api://mcp-api/access_as_user", nil), "access_token")
	bob := str(e.login(t, contosoID, clientID, "bob@contoso.com", "bob-pw", "api://mcp-api/access_as_user", nil), "access_token")
	authority := e.srv.URL + "/" + contosoID
	code, verifier := e.authorize(t, contosoID, webAppID, "alice@contoso.com", "alice-pw", "api://files/Files.Read openid profile offline_access", nil)
	e.em.GrantConsent(contosoID, aliceOID, webAppID, "https://graph.microsoft.com/User.Read")

	cases := []nodeCase{
		{Name: "cc secret", Flow: "cc", Authority: authority, ClientID: daemonID, Secret: daemonSecret, Scopes: []string{"api://files/.default"}},
		{Name: "cc certificate", Flow: "cc", Authority: authority, ClientID: mcpAPIID, Cert: cert, Scopes: []string{"api://files/.default"}},
		{Name: "obo secret", Flow: "obo", Authority: authority, ClientID: mcpAPIID, Secret: mcpSecret, Assertion: alice, Scopes: []string{"api://files/Files.Read"}},
		{Name: "obo certificate by domain", Flow: "obo", Authority: e.srv.URL + "/contoso.onmicrosoft.com", ClientID: mcpAPIID, Cert: cert, Assertion: alice, Scopes: []string{"api://files/.default"}},
		{Name: "consent required", Flow: "obo", Authority: authority, ClientID: mcpAPIID, Secret: mcpSecret, Assertion: alice, Scopes: []string{"api://reports/Reports.Read"}},
		{Name: "conditional access", Flow: "obo", Authority: authority, ClientID: mcpAPIID, Secret: mcpSecret, Assertion: bob, Scopes: []string{"api://files/Files.Read"}},
		{Name: "code then silent refresh", Flow: "code", Authority: authority, ClientID: webAppID, Secret: "web-secret", Code: code, Verifier: verifier,
			Redirect: redirectURI, Nonce: "n0nce", Scopes: []string{"api://files/Files.Read"}, Silent: []string{"User.Read"}},
		{Name: "wrong secret", Flow: "cc", Authority: authority, ClientID: daemonID, Secret: "nope", Scopes: []string{"api://files/.default"}},
	}
	in, _ := json.Marshal(map[string]any{"nodeModules": nodeDir, "host": strings.TrimPrefix(e.srv.URL, "https://"), "cases": cases})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", filepath.Join("testdata", "msal_node.mjs"))
	cmd.Stdin = bytes.NewReader(in)
	cmd.Env = append(os.Environ(), "NODE_EXTRA_CA_CERTS="+ca)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, stderr.String())
	}
	var results []nodeResult
	if err := json.Unmarshal(out, &results); err != nil || len(results) != len(cases) {
		t.Fatalf("node output: %v %s %s", err, out, stderr.String())
	}
	v1Iss := "https://sts.windows.net/" + contosoID + "/"
	want := map[string]func(t *testing.T, r nodeResult){
		"cc secret": func(t *testing.T, r nodeResult) {
			c, _ := e.verify(t, r.AccessToken, "/"+contosoID+"/discovery/keys", v1Iss, "api://files")
			if roles, _ := c["roles"].([]any); len(roles) != 1 || c["appid"] != daemonID {
				t.Fatalf("claims %v", c)
			}
		},
		"cc certificate": func(t *testing.T, r nodeResult) {
			if c, _ := e.verify(t, r.AccessToken, "/"+contosoID+"/discovery/keys", v1Iss, "api://files"); c["appidacr"] != "2" {
				t.Fatalf("claims %v", c)
			}
		},
		"obo secret": func(t *testing.T, r nodeResult) {
			if c, _ := e.verify(t, r.AccessToken, "/"+contosoID+"/discovery/keys", v1Iss, "api://files"); c["upn"] != "alice@contoso.com" || c["scp"] != "Files.Read" {
				t.Fatalf("claims %v", c)
			}
		},
		"obo certificate by domain": func(t *testing.T, r nodeResult) {
			if c, _ := e.verify(t, r.AccessToken, "/"+contosoID+"/discovery/keys", v1Iss, "api://files"); c["appidacr"] != "2" || c["oid"] != aliceOID {
				t.Fatalf("claims %v", c)
			}
		},
		"code then silent refresh": func(t *testing.T, r nodeResult) {
			if r.Username != "alice@contoso.com" || r.HomeAccountID != aliceOID+"."+contosoID {
				t.Fatalf("account %+v", r)
			}
			e.verify(t, r.AccessToken, "/"+contosoID+"/discovery/keys", v1Iss, "api://files")
			if c, _ := e.verify(t, r.SilentAccessToken, "/"+contosoID+"/discovery/keys", v1Iss, GraphResource); c["scp"] != "User.Read" {
				t.Fatalf("silent token claims %v", c)
			}
		},
		"consent required": func(t *testing.T, r nodeResult) {
			if r.ErrorCode != "invalid_grant" || r.SubError != "consent_required" || r.ErrorNo.String() != "65001" || !strings.HasPrefix(r.Message, "AADSTS65001:") {
				t.Fatalf("%+v", r)
			}
		},
		"conditional access": func(t *testing.T, r nodeResult) {
			if !r.InteractionRequired || r.ErrorCode != "interaction_required" || r.ErrorNo.String() != "50076" || !strings.Contains(r.Claims, "capolids") {
				t.Fatalf("%+v", r)
			}
		},
		"wrong secret": func(t *testing.T, r nodeResult) {
			if r.ErrorCode != "invalid_client" || r.ErrorNo.String() != "7000215" {
				t.Fatalf("%+v", r)
			}
		},
	}
	for _, r := range results {
		t.Run(r.Name, func(t *testing.T) {
			check := want[r.Name]
			if strings.HasPrefix(r.Name, "cc") || strings.HasPrefix(r.Name, "obo") || strings.HasPrefix(r.Name, "code") {
				if !r.OK {
					t.Fatalf("msal-node failed: %+v", r)
				}
			} else if r.OK {
				t.Fatalf("msal-node succeeded, want an error")
			}
			check(t, r)
		})
	}
}
