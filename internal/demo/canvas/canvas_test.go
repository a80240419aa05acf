package canvas

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/mcpgate/mcpgate/internal/testutil"
)

func opts() Options {
	return Options{BaseURL: "https://127.0.0.1:8443", Authority: "https://127.0.0.1:8443/entra", Tenant: "t", CanvasClientID: "c",
		AgentClientID: "a", AgentSecret: "s", AgentScope: "api://agent/x", ToolScope: "api://tool/y", ToolURL: "https://127.0.0.1:8443/mcp", Tool: "whoami"}
}

// TestTwoRegistrations: the canvas and the agent must be two app registrations.
func TestTwoRegistrations(t *testing.T) {
	o := opts()
	o.AgentClientID = "C"
	if _, err := New(o); !errors.Is(err, ErrSameRegistration) {
		t.Fatalf("err = %v", err)
	}
	if _, err := New(opts()); err != nil {
		t.Fatal(err)
	}
}

// TestVendoredMSAL: the embedded MSAL.js files are those of the @azure/msal-browser
// version test/node pins (update both together: npm install in test/node, then copy
// lib/msal-browser.min.js and lib/redirect-bridge/msal-redirect-bridge.min.js).
func TestVendoredMSAL(t *testing.T) {
	dir := filepath.Join(testutil.NodeModules(t), "node_modules", "@azure", "msal-browser", "lib")
	for name, src := range map[string]string{"msal-browser.min.js": "msal-browser.min.js", "msal-redirect-bridge.min.js": "redirect-bridge/msal-redirect-bridge.min.js"} {
		want, err := os.ReadFile(filepath.Join(dir, src))
		if err != nil {
			t.Fatal(err)
		}
		got, _ := assets.ReadFile("assets/" + name)
		if !bytes.Equal(got, want) {
			t.Errorf("assets/%s differs from test/node's @azure/msal-browser %s", name, src)
		}
	}
}
