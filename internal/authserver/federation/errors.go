package federation

import (
	"strconv"
	"strings"

	"github.com/mcpgate/mcpgate/internal/aadsts"
)

// aadstsFixes are the fixes of Entra error codes that depend on the connector's own
// configuration (its client id, secret, redirect URI, tenant, scopes). {redirect} and {app}
// are filled in by ExplainError; other codes are explained by internal/aadsts.
var aadstsFixes = map[int]string{
	9010010: "Entra refused the resource parameter. mcpgate never forwards the MCP client's resource; remove resource from the connector's authParams and keep the scopes of a single API (api://<app>/<scope>).",
	500011:  "The resource (App ID URI) of a requested scope is not known in this tenant. Check entra.appIdUri and the scopes, and for a multi-tenant app make sure an administrator of the user's tenant consented (which provisions the app there).",
	65001:   "Consent is missing: in the Azure portal open App registrations > {app} > API permissions and press \"Grant admin consent\", or let the user consent interactively.",
	50011:   "The redirect URI is not registered: add {redirect} under App registrations > {app} > Authentication > Web > Redirect URIs.",
	700016:  "The application (client id {app}) was not found in this tenant: check the connector's clientId and entra.tenant; a multi-tenant app must be consented by an administrator of the user's tenant first.",
	7000215: "The client secret is wrong: copy the secret's Value (not its Secret ID) from App registrations > {app} > Certificates & secrets into the connector's clientSecret.",
	7000222: "The client secret has expired: create a new one under App registrations > {app} > Certificates & secrets and update clientSecret.",
	7000218: "The app is confidential but no clientSecret is configured: set the connector's clientSecret (or enable \"Allow public client flows\" for a public client).",
	90009:   "The app requested a token for itself by name: use the App ID URI (api://...) of the app, or its client id, in the scopes.",
	650053:  "A requested scope does not exist on the API: check the connector's scopes against App registrations > {app} > Expose an API (scope names are case-sensitive).",
	70011:   "A requested scope is invalid: every scope must be fully qualified (api://<app>/<scope>); set entra.appIdUri so mcpgate qualifies bare names.",
	50020:   "The user's account is not in this tenant: invite them as a guest, or make the app multi-tenant and list their tenant in entra.allowedTenants.",
	50194:   "The app is single-tenant but a multi-tenant endpoint was used: set entra.tenant to the Directory (tenant) ID.",
}

// oauthFixes are for other providers (and generic OAuth codes).
var oauthFixes = map[string]string{
	"invalid_client":            "The provider refused mcpgate's client credentials: check the connector's clientId and clientSecret at the provider.",
	"unauthorized_client":       "The provider does not allow this client to use the authorization code flow: enable it (Keycloak: Standard flow enabled; Okta: Grant type Authorization Code).",
	"invalid_grant":             "The code or refresh token was refused (expired, already used, or the redirect URI/PKCE verifier did not match); start the sign-in again.",
	"access_denied":             "The sign-in was cancelled or the user is not allowed to use this application at the provider.",
	"invalid_scope":             "The provider refused a requested scope: check the connector's scopes (Keycloak: client scopes; Okta: authorization server scopes).",
	"consent_required":          "The user or an administrator must consent to the application at the provider.",
	"login_required":            "The user is not signed in at the provider; start the sign-in again.",
	"interaction_required":      "The provider needs the user to interact (MFA, terms); start the sign-in again.",
	"invalid_request":           "The provider refused the request: check the connector's redirect URI ({redirect}) and client registration at the provider.",
	"temporarily_unavailable":   "The provider is temporarily unavailable; try again in a minute.",
	"server_error":              "The provider had an internal error; try again later.",
	"unsupported_response_type": "The provider does not allow response_type=code for this client.",
}

// ExplainError implements authserver.RedirectConnector: the code to log (AADSTS number
// when present) and a fix.
func (c *Connector) ExplainError(code, description string) (string, string) {
	fill := func(s string) string {
		app := c.cfg.ClientID
		if c.cfg.Name != "" {
			app = c.cfg.Name + " (" + c.cfg.ClientID + ")"
		}
		return strings.NewReplacer("{app}", app, "{redirect}", c.callbackURL()).Replace(s)
	}
	if codes := aadsts.Parse(description); len(codes) > 0 {
		n := codes[0]
		logCode := "AADSTS" + strconv.Itoa(n)
		if fix, ok := aadstsFixes[n]; ok {
			return logCode, fill(fix)
		}
		if e, ok := aadsts.Explain(n); ok {
			return logCode, e.Sentence()
		}
		if fix, ok := oauthFixes[code]; ok {
			return logCode, fill(fix) + " See https://login.microsoftonline.com/error?code=" + strconv.Itoa(n)
		}
		return logCode, "See https://login.microsoftonline.com/error?code=" + strconv.Itoa(n)
	}
	if fix, ok := oauthFixes[code]; ok {
		return code, fill(fix)
	}
	return code, ""
}
