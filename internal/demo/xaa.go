package demo

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"strings"

	"github.com/mcpgate/mcpgate/internal/config"
)

// Enterprise-managed authorization in the demo (docs/enterprise-managed-authorization.md):
// the demo's authorization server is also the enterprise IdP. The confidential client
// XAAClientID signs the user in once, exchanges the ID token for an ID-JAG for any demo
// route, and exchanges the ID-JAG for that route's access token, with no browser.
const (
	// XAAClientID is the demo's enterprise agent client (at the IdP and at the AS alike).
	XAAClientID = "xaa-agent"
	// XAARedirectPort is the loopback port of its redirect URI (confidential clients'
	// redirect URIs match exactly).
	XAARedirectPort = 8976
	// XAAIdPName names the demo IdP in enterpriseIdPs (the idjag_idp claim).
	XAAIdPName = "demo-idp"
)

// XAASecret is the agent's client secret, derived from the demo's stored secrets so that it
// stays the same across restarts.
func XAASecret(s Secrets) string {
	m := hmac.New(sha256.New, []byte(s.MCPGateApp))
	m.Write([]byte("mcpgate demo " + XAAClientID))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))[:32]
}

// addEnterprise makes the demo's authorization server issue ID-JAGs to the agent for the
// weather, stocks and whoami routes, and accept them (users: existing, so the token is for
// the same local or federated user).
func addEnterprise(cfg *config.Config, s Secrets) {
	base := strings.TrimRight(cfg.PublicURL, "/")
	a := cfg.AuthServer
	a.Clients = append(a.Clients, config.AuthServerClient{
		ID: XAAClientID, Name: "Enterprise agent (ID-JAG)", Secret: XAASecret(s), Trusted: true,
		RedirectURIs: []string{fmt.Sprintf("http://127.0.0.1:%d/callback", XAARedirectPort)},
		GrantTypes: []string{"authorization_code", "refresh_token", "urn:ietf:params:oauth:grant-type:token-exchange",
			"urn:ietf:params:oauth:grant-type:jwt-bearer"},
	})
	var resources []string
	for _, r := range cfg.Routes {
		if r.Name == "weather" || r.Name == "stocks" || r.Name == "whoami" {
			resources = append(resources, base+r.Path)
		}
	}
	a.IDJAG = &config.AuthServerIDJAG{Grants: []config.AuthServerIDJAGGrant{{Client: XAAClientID, Audience: base, Resources: resources}}}
	a.EnterpriseIdPs = append(a.EnterpriseIdPs, config.AuthServerEnterpriseIdP{
		Name: XAAIdPName, Issuer: base, Users: config.EnterpriseUsersExisting,
		// The IdP is this process; on a loopback demo its discovery document is plain http.
		AllowPrivateAddresses: strings.HasPrefix(base, "http://"),
	})
}

// printEnterprise explains enterprise-managed authorization in the welcome text.
func printEnterprise(w io.Writer, info Info, exe string) {
	if info.XAASecret == "" {
		return
	}
	fmt.Fprintf(w, "\nEnterprise-managed authorization (ID-JAG): sign in once at the demo IdP, then no browser for any server:\n"+
		"  export MCPGATE_IDP=%s MCPGATE_IDP_CLIENT_ID=%s MCPGATE_IDP_CLIENT_SECRET=%s MCPGATE_IDP_REDIRECT_PORT=%d\n"+
		"  export MCPGATE_CLIENT_SECRET=$MCPGATE_IDP_CLIENT_SECRET\n"+
		"  %s login --client-id %s %s    # the browser opens once, at the IdP\n"+
		"  %s tools --client-id %s %s    # no browser: an ID-JAG is exchanged for the token\n",
		info.BaseURL, XAAClientID, info.XAASecret, XAARedirectPort,
		exe, XAAClientID, info.Routes["weather"], exe, XAAClientID, info.Routes["stocks"])
}
