package demo

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"

	"github.com/mcpgate/mcpgate/internal/config"
	"github.com/mcpgate/mcpgate/internal/demo/canvas"
)

// The web-canvas scenario (docs/scenarios.md): two more Contoso app registrations — the
// canvas (a single-page app) and the agent's API — and a gateway route that accepts the
// agent's On-Behalf-Of tokens for mcpgate's Contoso app.
const (
	// CanvasAppID is the canvas app registration (SPA redirect URIs).
	CanvasAppID = "ca4a5000-0000-4000-8000-0000000000c5"
	// AgentAppID is the agent's app registration: it exposes AgentScope and exchanges the
	// canvas token On-Behalf-Of the user for mcpgate's API.
	AgentAppID = "a6e47000-0000-4000-8000-0000000000a6"
	// AgentScope is the scope the OAuth card asks for (Copilot Studio's "Token exchange URL").
	AgentScope = "api://mcpgate-agent/agent.chat"
	// AgentRoutePath is the gateway route the agent calls the whoami tool on.
	AgentRoutePath = "/agent/whoami/mcp"
	// CanvasUnauthorizedEnv, set to 1, leaves out "Expose an API > Add a client
	// application" (and the canvas's permission on the agent), so the silent exchange fails
	// and the page shows the sign-in card: the scenario's fallback.
	CanvasUnauthorizedEnv = "MCPGATE_DEMO_CANVAS_UNAUTHORIZED"
	// WebChatDirEnv is the default of `mcpgate demo --webchat-dir`.
	WebChatDirEnv = "MCPGATE_DEMO_WEBCHAT_DIR"

	agentIssuer = "contoso-entra"
)

// agentSecret derives the agent app's client secret from the demo's mcpgate app secret, so
// that it survives restarts without another file.
func agentSecret(s Secrets) string {
	m := hmac.New(sha256.New, []byte(s.MCPGateApp))
	m.Write([]byte("canvas agent"))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// addCanvas adds the canvas and agent registrations, the Contoso issuer and the agent's
// route to the demo configuration.
func addCanvas(cfg *config.Config, upstreams map[string]string, s Secrets) {
	base := strings.TrimRight(cfg.PublicURL, "/")
	authorized := os.Getenv(CanvasUnauthorizedEnv) != "1"
	canvasApp := config.EntraApp{
		// App registrations > New registration > "Contoso web canvas"; Authentication > Add a
		// platform > Single-page application; Manifest: accessTokenAcceptedVersion 2.
		Name: "Contoso web canvas", ClientID: CanvasAppID,
		SPARedirectURIs:            []string{base + "/canvas/redirect.html", base + "/canvas/"},
		AccessTokenAcceptedVersion: 2,
		RequiredResourceAccess:     []config.EntraRequiredAccess{{Resource: "Microsoft Graph", Scopes: []string{"User.Read"}}},
	}
	agentApp := config.EntraApp{
		// The agent's (Copilot's) authentication app: Expose an API > scope agent.chat; it
		// calls mcpgate's API On-Behalf-Of the user.
		Name: "mcpgate demo agent", ClientID: AgentAppID,
		IdentifierURIs:             []string{"api://mcpgate-agent"},
		Scopes:                     []config.EntraScope{{Value: "agent.chat", Description: "Chat with the mcpgate demo agent as you"}},
		AccessTokenAcceptedVersion: 2,
		Secrets:                    []config.EntraSecret{{Value: agentSecret(s)}},
		RequiredResourceAccess:     []config.EntraRequiredAccess{{Resource: "api://mcpgate", Scopes: []string{"access_as_user"}}},
	}
	if authorized {
		// Expose an API > Add a client application: the canvas, for agent.chat.
		agentApp.PreAuthorizedApplications = []config.EntraPreAuthorized{{AppID: CanvasAppID, Scopes: []string{"agent.chat"}}}
		canvasApp.RequiredResourceAccess = append(canvasApp.RequiredResourceAccess, config.EntraRequiredAccess{Resource: "api://mcpgate-agent", Scopes: []string{"agent.chat"}})
	}
	cfg.Entra.Apps = append(cfg.Entra.Apps, canvasApp, agentApp)
	t := &cfg.Entra.Tenants[0]
	// API permissions > Grant admin consent for Contoso, on both.
	t.AdminConsent = append(t.AdminConsent, canvasApp.Name, agentApp.Name)

	cfg.Issuers = append(cfg.Issuers, config.Issuer{Name: agentIssuer, Entra: &config.EntraIssuer{
		Tenant: ContosoTenant, ClientID: mcpgateAppID, AppIDURI: "api://mcpgate", Authority: base + "/entra", Versions: []int{2}}})
	cfg.Routes = append(cfg.Routes, config.Route{
		Name: "agent-whoami", Path: AgentRoutePath,
		Upstream: config.Upstream{URL: upstreams["whoami"]},
		Auth:     config.Auth{Mode: "strict", Issuers: []string{agentIssuer}, Audiences: []string{mcpgateAppID}},
		Policy: &config.RoutePolicy{Rules: []config.Rule{{Name: "agent-whoami-only", Description: "the canvas agent may call whoami only",
			Allow: `mcp.tool == "" || mcp.tool == "whoami"`}}},
		ForwardIdentity: &config.ForwardIdentity{Subject: "X-Mcp-User-Sub", Email: "X-Mcp-User-Email", Groups: "X-Mcp-User-Groups"},
		UpstreamAuth:    &config.UpstreamAuth{GatewayJWT: &config.GatewayJWTAuth{Audience: "urn:mcpgate:demo:whoami"}},
	})
}

// newCanvas builds the canvas server for a demo configuration.
func newCanvas(cfg *config.Config, s Secrets, webChatDir string, log *slog.Logger) (*canvas.Server, error) {
	base := strings.TrimRight(cfg.PublicURL, "/")
	return canvas.New(canvas.Options{
		BaseURL: base, Authority: base + "/entra", Tenant: ContosoTenant,
		CanvasClientID: CanvasAppID, AgentClientID: AgentAppID, AgentSecret: agentSecret(s), AgentScope: AgentScope,
		ToolScope: "api://mcpgate/access_as_user", ToolURL: base + AgentRoutePath, Tool: "whoami",
		ConnectionName: "contoso", ProviderID: "entra-emulator", WebChatDir: webChatDir, Logger: log,
	})
}

// printCanvas explains the canvas in the welcome text.
func printCanvas(w io.Writer, info Info) {
	chat := "Bot Framework Web Chat"
	if !info.WebChat {
		chat = "a stand-in for Web Chat; --webchat-dir <botframework-webchat>/dist for the real one"
	}
	fmt.Fprintf(w, "\nWeb canvas (single sign-on into an agent, MSAL.js + %s): %s/canvas/\n", chat, info.BaseURL)
	if strings.HasPrefix(info.BaseURL, "http://") {
		fmt.Fprintln(w, "  MSAL.js refuses http authorities: start the demo with --tls to use it.")
	}
	fmt.Fprintf(w, "  Sign in once as %s, ask \"who am I?\": the agent gets your token silently, exchanges it\n"+
		"  On-Behalf-Of at the Entra emulator and calls whoami through %s%s as you.\n", ContosoUPN("alice"), info.BaseURL, AgentRoutePath)
}

// canvasMount returns the app.Options.Mount function serving the canvas.
func canvasMount(c *canvas.Server) func(*http.ServeMux) { return c.Mount }
