package entraemulator

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/mcpgate/mcpgate/internal/config"
)

// TestTwoRegistrations: one registration as both canvas and agent is served (as Entra
// does) but warned about, at start and on the On-Behalf-Of exchange of its own token.
func TestTwoRegistrations(t *testing.T) {
	var buf bytes.Buffer
	cfg := fixture(newClientCert(t))
	withSPA(cfg)
	canvas := &cfg.Apps[len(cfg.Apps)-1]
	canvas.PreAuthorizedApplications = []config.EntraPreAuthorized{{AppID: spaID, Scopes: []string{"chat"}}}
	canvas.Scopes = []config.EntraScope{{Value: "chat"}}
	canvas.IdentifierURIs = []string{"api://canvas"}
	if _, err := New(Options{Config: cfg, BaseURL: "https://127.0.0.1", Logger: slog.New(slog.NewTextHandler(&buf, nil))}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "two app registrations") || !strings.Contains(buf.String(), spaID) {
		t.Fatalf("no start-up warning: %s", buf.String())
	}

	e := newEnv(t)
	buf.Reset()
	e.em.log = slog.New(slog.NewTextHandler(&buf, nil))
	st, m := e.post(t, "/"+contosoID+"/oauth2/v2.0/token", e.secretForm(mcpAPIID, mcpSecret, "grant_type", "password",
		"username", "alice@contoso.com", "password", "alice-pw", "scope", "api://mcp-api/access_as_user"))
	if st != 200 {
		t.Fatalf("%d %v", st, m)
	}
	st, m = e.post(t, "/"+contosoID+"/oauth2/v2.0/token", e.secretForm(mcpAPIID, mcpSecret, "grant_type", grantJWTBearer,
		"requested_token_use", "on_behalf_of", "assertion", str(m, "access_token"), "scope", "api://files/Files.Read"))
	if st != 200 {
		t.Fatalf("OBO: %d %v", st, m)
	}
	if !strings.Contains(buf.String(), "use two registrations") {
		t.Fatalf("no warning: %s", buf.String())
	}
}
