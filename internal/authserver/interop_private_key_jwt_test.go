package authserver

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"net/url"
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
	raw := testutil.RunNodeDriver(t, nodeDir, 60*time.Second, []string{"PKJ_KEY=" + string(keyPEM)}, &res, "ts_private_key_jwt.cjs", env.resource, c.id, env.issuer)
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

// TestTypeScriptSDKClientIDMetadataDocument: the TypeScript MCP SDK 1.32.2 with a client ID
// metadata document (its clientMetadataUrl, an https URL) signs in with the authorization
// code, PKCE and consent, with no registration: the document's URL is the client_id, and
// dynamic registration is off.
func TestTypeScriptSDKClientIDMetadataDocument(t *testing.T) {
	nodeDir := testutil.NodeModules(t)
	var docURL string
	doc := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/ts-client.json" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"client_id": docURL, "client_name": "TS CIMD client",
			"redirect_uris": []string{"http://127.0.0.1:5599/callback"}, "grant_types": []string{"authorization_code", "refresh_token"},
			"response_types": []string{"code"}, "token_endpoint_auth_method": "none"})
	}))
	t.Cleanup(doc.Close)
	docURL = doc.URL + "/ts-client.json"
	env := newGatewayEnvWith(t, func(o *Options) {
		o.CIMD.AllowPrivateAddresses = true // the document is on 127.0.0.1
		o.HTTPClient = doc.Client()         // which trusts the test server's certificate
		o.Registration = RegistrationOff
	})

	var res struct {
		AuthorizationURL string `json:"authorizationURL"`
		ToolText         string `json:"toolText"`
		ClientID         string `json:"clientId"`
		RefreshResult    string `json:"refreshResult"`
	}
	raw := testutil.RunNodeDriver(t, nodeDir, 60*time.Second, []string{"CIMD_URL=" + docURL}, &res, "ts_client.cjs", env.resource, "alice", testPassword)
	t.Logf("TypeScript SDK result: %s", raw)
	if res.ClientID != docURL || !strings.Contains(res.AuthorizationURL, "client_id="+url.QueryEscape(docURL)) {
		t.Errorf("client_id %q (authorization URL %s), want the document URL %s", res.ClientID, res.AuthorizationURL, docURL)
	}
	if !strings.Contains(res.ToolText, "sub=u-alice") || res.RefreshResult != "AUTHORIZED" {
		t.Errorf("tool result %q, refresh %q", res.ToolText, res.RefreshResult)
	}
}
