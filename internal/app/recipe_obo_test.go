package app_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/internal/app/apptest"
)

// TestRecipeCopilotConnectorOBO runs examples/recipe-copilot-connector-obo.yaml (docs/recipes/
// copilot-connector-obo.md): the connector's users call a tool through mcpgate's On-Behalf-Of.
// Alice, who consented, gets the tool's answer; Bob, for whom no consent exists, connects and
// lists tools, and his tool call carries AADSTS65001, Entra's ids, the app and the three fixes.
func TestRecipeCopilotConnectorOBO(t *testing.T) {
	raw, err := os.ReadFile("../../examples/recipe-copilot-connector-obo.yaml")
	if err != nil {
		t.Fatal(err)
	}
	y := strings.NewReplacer("127.0.0.1:8080", "$ADDR", "http://127.0.0.1:9001/mcp", upstream(t)).Replace(string(raw))
	const connectorSecret, oboSecret = "connector-secret-value-1", "obo-secret-value-2"
	base := serve(t, y, map[string]string{"ENTRA_CLIENT_SECRET": connectorSecret, "MCPGATE_OBO_SECRET": oboSecret})
	const tenant = "7a1e5f00-0000-4000-8000-00000000c0de"

	// The connector signs each user in (the password grant stands in for its browser sign-in).
	signIn := func(upn, pw string) string {
		resp, err := http.PostForm(base+"/entra/"+tenant+"/oauth2/v2.0/token", url.Values{"grant_type": {"password"},
			"client_id": {"c0ec7a11-0000-4000-8000-0000000000c5"}, "client_secret": {connectorSecret},
			"username": {upn}, "password": {pw}, "scope": {"api://mcpgate/access_as_user"}})
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		json.NewDecoder(resp.Body).Decode(&m)
		tok, _ := m["access_token"].(string)
		if tok == "" {
			t.Fatalf("sign-in of %s: %v", upn, m)
		}
		return tok
	}
	alice, bob := signIn("alice@contoso.onmicrosoft.com", "alice-pw"), signIn("bob@contoso.onmicrosoft.com", "bob-pw")
	mcpURL := base + "/files/mcp"
	waitKeys(t, mcpURL, alice)

	a := apptest.NewClient(t, mcpURL, alice)
	if resp, msg := a.CallTool(2, "get_forecast", `{"city":"Oslo"}`); resp.StatusCode != 200 || msg["result"] == nil {
		t.Fatalf("alice's call: %d %v", resp.StatusCode, msg)
	}

	b := apptest.NewClient(t, mcpURL, bob) // initialize works before consent
	if tools := b.ListTools(2); len(tools) == 0 {
		t.Fatal("bob cannot list tools before consent")
	}
	resp, msg := b.CallTool(3, "get_forecast", `{"city":"Oslo"}`)
	_, m := apptest.ErrorOf(msg)
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("bob's call: %d %v", resp.StatusCode, msg)
	}
	for _, want := range []string{"AADSTS65001", `"mcpgate" (3f6c0a5e-0000-4000-8000-0000000000a1)`, "api://files/.default", "trace id", "correlation id",
		"Grant admin consent", "Authorized client applications", "knownClientApplications"} {
		if !strings.Contains(m, want) {
			t.Errorf("bob's answer lacks %q: %s", want, m)
		}
	}
	if strings.Contains(m, oboSecret) || strings.Contains(m, bob) {
		t.Fatal("the answer leaks a secret")
	}
}

// waitKeys waits until the route's issuer keys are loaded (the gateway answers 503 before).
func waitKeys(t *testing.T, mcpURL, token string) {
	t.Helper()
	for i := 0; i < 50; i++ {
		req, _ := http.NewRequest(http.MethodPost, mcpURL, strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"ping"}`))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("the issuer's keys did not load")
}
