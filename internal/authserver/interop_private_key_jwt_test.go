package authserver

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/internal/testutil"
)

// TestTypeScriptSDKPrivateKeyJWT: the official TypeScript MCP SDK 1.32.2's
// PrivateKeyJwtProvider (client_credentials, private_key_jwt with ES256, RFC 7523) gets a
// token from mcpgate's authorization server, with the key registered through DCR, and
// calls a tool through the gateway; no secret is ever sent (testdata/ts_private_key_jwt.cjs).
func TestTypeScriptSDKPrivateKeyJWT(t *testing.T) {
	nodeDir := testutil.NodeModules(t)
	env := newGatewayEnv(t)
	c := newPKJClient(t)
	status, out := registerJSON(t, env, map[string]any{"client_name": "ts-pkj", "grant_types": []string{"client_credentials"},
		"token_endpoint_auth_method": "private_key_jwt", "jwks": c.jwks(), "scope": "mcp:tools"})
	if status != 201 {
		t.Fatalf("registration: %d %v", status, out)
	}
	c.id = out["client_id"].(string)
	der, err := x509.MarshalPKCS8PrivateKey(c.key)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", filepath.Join("testdata", "ts_private_key_jwt.cjs"), env.resource, c.id, env.issuer)
	cmd.Env = append(cmd.Environ(), "NODE_MODULES_DIR="+filepath.Join(nodeDir, "node_modules"), "PKJ_KEY="+string(keyPEM))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	raw, err := cmd.Output()
	if err != nil {
		t.Fatalf("node driver: %v\n%s", err, stderr.String())
	}
	var res struct {
		ToolText      string `json:"toolText"`
		TokenType     string `json:"tokenType"`
		TokenRequests []struct {
			GrantType     string `json:"grantType"`
			AssertionType string `json:"assertionType"`
			HasAssertion  bool   `json:"hasAssertion"`
			HasSecret     bool   `json:"hasSecret"`
			Resource      string `json:"resource"`
		} `json:"tokenRequests"`
	}
	if err := json.Unmarshal(raw, &res); err != nil {
		t.Fatalf("driver output %q: %v", raw, err)
	}
	t.Logf("TypeScript SDK result: %s", raw)
	if !strings.Contains(res.ToolText, "sub="+c.id) || !strings.EqualFold(res.TokenType, "bearer") {
		t.Errorf("tool result %q (token type %q), want the client as subject", res.ToolText, res.TokenType)
	}
	if len(res.TokenRequests) != 1 {
		t.Fatalf("token requests: %+v", res.TokenRequests)
	}
	tr := res.TokenRequests[0]
	if tr.GrantType != "client_credentials" || tr.AssertionType != clientAssertionType || !tr.HasAssertion || tr.HasSecret || tr.Resource != env.resource {
		t.Errorf("token request: %+v", tr)
	}
}
