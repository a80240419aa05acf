package federation

import (
	"regexp"
	"strconv"
	"strings"
)

var aadstsCode = regexp.MustCompile(`AADSTS(\d+)`)

// aadstsFixes maps Entra error codes to what to change. {redirect} and {app} are filled
// in by ExplainError.
var aadstsFixes = map[int]string{
	9010010: "Entra refused the resource parameter. mcpgate never forwards the MCP client's resource; remove resource from the connector's authParams and keep the scopes of a single API (api://<app>/<scope>).",
	500011:  "The resource (App ID URI) of a requested scope is not known in this tenant. Check entra.appIdUri and the scopes, and for a multi-tenant app make sure an administrator of the user's tenant consented (which provisions the app there).",
	65001:   "Consent is missing: in the Azure portal open App registrations > {app} > API permissions and press \"Grant admin consent\", or let the user consent interactively.",
	65004:   "The user declined the permissions Entra asked for. Sign in again and accept, or have an administrator grant consent for the organisation.",
	50011:   "The redirect URI is not registered: add {redirect} under App registrations > {app} > Authentication > Web > Redirect URIs.",
	700016:  "The application (client id {app}) was not found in this tenant: check the connector's clientId and entra.tenant; a multi-tenant app must be consented by an administrator of the user's tenant first.",
	7000215: "The client secret is wrong: copy the secret's Value (not its Secret ID) from App registrations > {app} > Certificates & secrets into the connector's clientSecret.",
	7000222: "The client secret has expired: create a new one under App registrations > {app} > Certificates & secrets and update clientSecret.",
	7000218: "The app is confidential but no clientSecret is configured: set the connector's clientSecret (or enable \"Allow public client flows\" for a public client).",
	90009:   "The app requested a token for itself by name: use the App ID URI (api://...) of the app, or its client id, in the scopes.",
	650053:  "A requested scope does not exist on the API: check the connector's scopes against App registrations > {app} > Expose an API (scope names are case-sensitive).",
	70011:   "A requested scope is invalid: every scope must be fully qualified (api://<app>/<scope>); set entra.appIdUri so mcpgate qualifies bare names.",
	50076:   "Multi-factor authentication is required by a Conditional Access policy: the user must sign in again and complete MFA.",
	50079:   "The user must register for multi-factor authentication before signing in.",
	53003:   "A Conditional Access policy blocked the sign-in; an administrator can see why under Entra ID > Sign-in logs.",
	50020:   "The user's account is not in this tenant: invite them as a guest, or make the app multi-tenant and list their tenant in entra.allowedTenants.",
	50126:   "Wrong username or password at Microsoft.",
	50058:   "The user is not signed in at Microsoft; start the sign-in again.",
	54005:   "The authorization code was already redeemed; start the sign-in again.",
	70008:   "The authorization code or refresh token expired; start the sign-in again.",
	700082:  "The refresh token expired after inactivity; the user must sign in again.",
	90094:   "An administrator must grant consent for the permissions this app requests (API permissions > Grant admin consent).",
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
	if m := aadstsCode.FindStringSubmatch(description); m != nil {
		n, _ := strconv.Atoi(m[1])
		if fix, ok := aadstsFixes[n]; ok {
			return "AADSTS" + m[1], fill(fix)
		}
		if fix, ok := oauthFixes[code]; ok {
			return "AADSTS" + m[1], fill(fix) + " See https://login.microsoftonline.com/error?code=" + m[1]
		}
		return "AADSTS" + m[1], "See https://login.microsoftonline.com/error?code=" + m[1]
	}
	if fix, ok := oauthFixes[code]; ok {
		return code, fill(fix)
	}
	return code, ""
}
