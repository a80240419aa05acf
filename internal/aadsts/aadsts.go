package aadsts

import (
	"encoding/json"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Explanation is what an AADSTS error code means for an SSO, OBO or consent setup.
type Explanation struct {
	Code  int    // the AADSTS number
	Error string // the OAuth error Entra usually returns with it (invalid_grant, …)
	Cause string // what happened, in one sentence
	Fix   string // what to change, in one sentence
}

// Explain returns the explanation of a Microsoft Entra ID error code (the number after
// "AADSTS"). Microsoft warns that numbers can change; branch on the OAuth error in code and
// use this for people. Other packages (the federation error page, upstream credential errors)
// use it to tell users what to change.
func Explain(code int) (Explanation, bool) {
	e, ok := table[code]
	if ok {
		e.Code = code
	}
	return e, ok
}

// Sentence is the explanation as one text for people: "Cause. Fix."
func (e Explanation) Sentence() string {
	c := e.Cause
	if c != "" {
		c = strings.ToUpper(c[:1]) + c[1:] + ". "
	}
	f := e.Fix
	if f != "" {
		f = strings.ToUpper(f[:1]) + f[1:] + "."
	}
	return c + f
}

// Codes returns every code the table explains, in ascending order.
func Codes() []int {
	out := make([]int, 0, len(table))
	for c := range table {
		out = append(out, c)
	}
	slices.Sort(out)
	return out
}

var inText = regexp.MustCompile(`AADSTS(\d+)`)

// Parse finds the AADSTS codes in an error: a bare number, "AADSTS65001", an
// error_description, or a whole JSON error body (error_codes and error_description). Codes
// are returned once each, in order of appearance.
func Parse(text string) []int {
	var out []int
	add := func(n int) {
		for _, c := range out {
			if c == n {
				return
			}
		}
		out = append(out, n)
	}
	t := strings.TrimSpace(text)
	if n, err := strconv.Atoi(strings.TrimPrefix(strings.ToUpper(t), "AADSTS")); err == nil && n > 0 {
		return []int{n}
	}
	var body struct {
		ErrorCodes []int `json:"error_codes"`
	}
	if json.Unmarshal([]byte(t), &body) == nil {
		for _, n := range body.ErrorCodes {
			add(n)
		}
	}
	for _, m := range inText.FindAllStringSubmatch(t, -1) {
		if n, err := strconv.Atoi(m[1]); err == nil {
			add(n)
		}
	}
	return out
}

// table: the codes an MCP SSO, On-Behalf-Of or consent setup meets. Causes follow
// Microsoft's reference-error-codes page; fixes say where in the portal or in mcpgate's
// configuration to change it.
var table = map[int]Explanation{
	16000: {Error: "interaction_required", Cause: "the user is signed in with several accounts, or the account is not in the tenant the app asked for",
		Fix: "sign in again choosing the right account (prompt=select_account), or invite the user into the tenant"},
	20001: {Error: "invalid_request", Cause: "a federated identity provider (ADFS, another IdP) returned an error during sign-in",
		Fix: "check the federation settings of the user's domain and the federated IdP's logs"},
	50000: {Error: "temporarily_unavailable", Cause: "Entra ID had an internal error issuing the token",
		Fix: "retry after a short wait; if it persists, check the Azure status page"},
	50011: {Error: "invalid_request", Cause: "the redirect_uri in the request is not one of the app's registered redirect URIs (exact match, scheme and trailing slash included)",
		Fix: "add the exact redirect URI under App registrations > the app > Authentication for the right platform (Web for confidential clients, Mobile and desktop for public ones)"},
	50013: {Error: "invalid_grant", Cause: "the assertion (the incoming token in OBO, or a client assertion) is invalid: bad signature, wrong issuer, malformed, or expired",
		Fix: "pass the user's access token for the middle-tier API unchanged and unexpired (not an ID token, not a Graph token); refresh it before the exchange"},
	50020: {Error: "invalid_grant", Cause: "the user's account is from a tenant that does not have access to this single-tenant app (or a personal account on a work-only app)",
		Fix: "invite the user as a guest, or make the app multi-tenant and list the tenant in entra.allowedTenants"},
	50034: {Error: "invalid_grant", Cause: "the user account does not exist in the tenant",
		Fix: "check the user name, or add or invite the user into the tenant the app signs in to"},
	50053: {Error: "invalid_grant", Cause: "the account is locked after too many failed sign-ins, or the sign-in came from a blocked IP",
		Fix: "wait for the lockout to end or have an administrator unlock the account; check Smart Lockout and Identity Protection"},
	50055: {Error: "invalid_grant", Cause: "the user's password has expired",
		Fix: "the user must change the password (interactive sign-in), then sign in again"},
	50057: {Error: "invalid_grant", Cause: "the user account is disabled",
		Fix: "re-enable the account in Entra ID > Users, or sign in with another account"},
	50058: {Error: "interaction_required", Cause: "a silent sign-in found no signed-in user session at Entra",
		Fix: "fall back to an interactive sign-in (the client must not use prompt=none here)"},
	50076: {Error: "interaction_required", Cause: "Conditional Access requires multi-factor authentication that the presented token or session does not carry",
		Fix: "relay the claims challenge to the client so the user signs in again with MFA (mcpgate answers 401 insufficient_claims); OBO cannot satisfy MFA by itself"},
	50079: {Error: "interaction_required", Cause: "the user must register for multi-factor authentication before Conditional Access lets them in",
		Fix: "the user completes MFA registration at https://aka.ms/mfasetup, then signs in again interactively"},
	50105: {Error: "invalid_grant", Cause: "the app requires user assignment and this user (or a group they are in) is not assigned to it",
		Fix: "assign the user or their group under Enterprise applications > the app > Users and groups, or set Assignment required to No"},
	50126: {Error: "invalid_grant", Cause: "wrong user name or password",
		Fix: "sign in with the right credentials; ROPC does not work for federated or MFA-enabled accounts"},
	50128: {Error: "invalid_request", Cause: "the tenant in the authority URL does not exist (a misspelt domain or GUID)",
		Fix: "use the Directory (tenant) ID from Entra ID > Overview in the authority (entra.tenant)"},
	50148: {Error: "invalid_grant", Cause: "the PKCE code_verifier does not match the code_challenge sent with the authorization request",
		Fix: "send the same verifier the challenge was computed from (S256), and do not reuse a verifier across sign-ins"},
	50158: {Error: "interaction_required", Cause: "an external security challenge (a third-party MFA or a custom control in Conditional Access) was not satisfied",
		Fix: "the user signs in interactively and completes the external challenge"},
	50194: {Error: "invalid_request", Cause: "a single-tenant app was used with the /common endpoint",
		Fix: "use the tenant-specific authority (https://login.microsoftonline.com/<tenant-id>), or make the app multi-tenant"},
	53003: {Error: "access_denied", Cause: "a Conditional Access policy blocked the sign-in or the token request",
		Fix: "an administrator looks up the sign-in in Entra ID > Sign-in logs to see which policy blocked it, and adjusts the policy or the user's device"},
	54005: {Error: "invalid_grant", Cause: "the authorization code was already redeemed",
		Fix: "redeem each code once; start the sign-in again (a retrying proxy or a double submit reuses the code)"},
	65001: {Error: "invalid_grant", Cause: "the user or an administrator has not consented to the app using the requested API (in OBO: the middle tier has no consent for the downstream API)",
		Fix: "grant admin consent for the middle-tier app's API permissions (App registrations > API permissions > Grant admin consent), or list the client in knownClientApplications for combined consent; OBO cannot prompt"},
	65004: {Error: "access_denied", Cause: "the user declined to consent to the app",
		Fix: "sign in again and accept, or have an administrator grant consent for the organisation"},
	65005: {Error: "invalid_client", Cause: "the app requests permissions the resource does not expose, or the resource app is not in the tenant",
		Fix: "check requiredResourceAccess against the API's Expose an API page; for a multi-tenant API, have an administrator of the user's tenant consent first"},
	70000: {Error: "invalid_grant", Cause: "the grant (authorization code, refresh token or assertion) is invalid, or its scopes are not authorised",
		Fix: "start the sign-in again; in OBO check the scope is one the middle tier has permission for"},
	70008: {Error: "invalid_grant", Cause: "the authorization code or refresh token has expired or been revoked",
		Fix: "sign in again; refresh tokens end after inactivity or when the user's password or sessions were reset"},
	70011: {Error: "invalid_scope", Cause: "a requested scope is invalid: a bare name (which Entra resolves against Microsoft Graph), scopes of more than one resource, or a malformed value",
		Fix: "request fully qualified scopes of a single API (api://<app-id>/<scope>, or api://<app-id>/.default) plus openid/offline_access if needed"},
	90009: {Error: "invalid_request", Cause: "the app requested a token for itself by App ID URI, which Entra accepts only as the client id GUID",
		Fix: "use the app's client id (GUID) as the resource or scope prefix when an app requests a token for itself"},
	90014: {Error: "invalid_request", Cause: "a required field is missing from the request (for example client_id, code, assertion or requested_token_use)",
		Fix: "send every parameter the grant needs; for OBO: grant_type jwt-bearer, assertion, requested_token_use=on_behalf_of, scope, client_id and the client credential"},
	90072: {Error: "invalid_grant", Cause: "the user's account is from an external tenant that has not been invited into this tenant",
		Fix: "invite the user as a guest (B2B), or make the app multi-tenant and use /organizations"},
	240002: {Error: "invalid_grant", Cause: "an ID token was used as the OBO assertion; OBO needs an access token issued for the middle tier",
		Fix: "pass the access token the client received for the middle-tier API (aud = its client id or App ID URI), not the id_token"},
	500011: {Error: "invalid_resource", Cause: "the resource (App ID URI) of a requested scope is not found in the tenant: a typo, or the API app's service principal does not exist there",
		Fix: "check the App ID URI in the scope against Expose an API; for a multi-tenant API an administrator of the user's tenant must consent to create its service principal"},
	500133: {Error: "invalid_grant", Cause: "the OBO assertion has expired, or is not yet valid",
		Fix: "refresh the user's access token before exchanging it and check the clocks (NTP) of the middle tier"},
	650053: {Error: "invalid_client", Cause: "the app asked for a scope the resource does not expose (scope names are case-sensitive)",
		Fix: "use a scope listed under the API's Expose an API page (or .default), spelt exactly"},
	700016: {Error: "unauthorized_client", Cause: "the application (client id) was not found in the directory: a wrong client id, the wrong tenant, or a multi-tenant app not yet consented there",
		Fix: "check the client id and the tenant in the authority; for a multi-tenant app, have an administrator of that tenant consent first"},
	700024: {Error: "invalid_grant", Cause: "the client assertion is outside its valid time range (expired, or iat/nbf in the future)",
		Fix: "sign a fresh client assertion with exp at most 10 minutes ahead and check the clock (NTP) of the host that signs it"},
	700027: {Error: "invalid_client", Cause: "the client assertion's signature does not verify with any certificate uploaded to the app",
		Fix: "upload the certificate's public part under Certificates & secrets and sign with its private key, with x5t#S256 (or x5t) naming it"},
	700051: {Error: "unauthorized_client", Cause: "response_type token (implicit grant) is not enabled for the app",
		Fix: "use the authorization code flow with PKCE; enable implicit grant under Authentication only if a legacy client really needs it"},
	700054: {Error: "unauthorized_client", Cause: "response_type id_token is not enabled for the app",
		Fix: "use the authorization code flow; or enable ID tokens under Authentication > Implicit grant and hybrid flows"},
	700082: {Error: "invalid_grant", Cause: "the refresh token expired after 90 days of inactivity",
		Fix: "the user signs in again interactively"},
	7000112: {Error: "unauthorized_client", Cause: "the application is disabled in the tenant",
		Fix: "an administrator re-enables the enterprise application (Properties > Enabled for users to sign in)"},
	7000114: {Error: "invalid_grant", Cause: "an app-only token (client credentials) was used as the OBO assertion; OBO needs a user's token",
		Fix: "exchange the delegated token the user's client obtained; for app-only access to the downstream API use client credentials instead of OBO"},
	7000215: {Error: "invalid_client", Cause: "the client secret is wrong (often the secret's ID was copied instead of its value)",
		Fix: "copy the secret's Value (shown once when created) from Certificates & secrets into the client secret setting"},
	7000218: {Error: "invalid_client", Cause: "the request has no client_secret or client_assertion, and the app is not a public client",
		Fix: "send the app's client secret or a client assertion; or, for a desktop/CLI app, enable Allow public client flows under Authentication"},
	7000222: {Error: "invalid_client", Cause: "the client secret has expired",
		Fix: "create a new secret under Certificates & secrets, update the configuration, and delete the expired one"},
	900144: {Error: "invalid_request", Cause: "a required parameter is missing from the request body (most often grant_type, client_id or scope)",
		Fix: "send the missing parameter named in the message, form-encoded in the POST body"},
	901002: {Error: "invalid_request", Cause: "the v2 endpoint refused the resource parameter (older Entra behaviour)",
		Fix: "leave out resource on the v2 endpoint and name the API through its scopes (api://<app-id>/<scope>)"},
	9002313: {Error: "invalid_request", Cause: "the request is malformed: a parameter is invalid, duplicated, or badly encoded",
		Fix: "check the request's encoding and parameters (no duplicated scope or resource, URL-encoded values, POST form body for the token endpoint)"},
	9010010: {Error: "invalid_request", Cause: "the RFC 8707 resource parameter does not match the requested scopes' resource (an MCP client sent the MCP URL as resource with v2 scopes)",
		Fix: "add the MCP URL to the API app's identifierUris, or send resource=api://<app-id> or no resource; mcpgate's authorization server federated to Entra never forwards the client's resource"},
	90094: {Error: "access_denied", Cause: "the app asks for permissions that need administrator consent",
		Fix: "an administrator grants consent (API permissions > Grant admin consent for the tenant)"},
	90027: {Error: "invalid_request", Cause: "the app is not configured for the endpoint used (v1 vs v2, or a personal-account app used on a work tenant)",
		Fix: "use the endpoint that matches the app's supported account types (signInAudience)"},
	700022: {Error: "invalid_scope", Cause: "scopes of more than one resource were requested, or the token endpoint was given a bare or unknown scope",
		Fix: "request the scopes of one API per token request (api://<app-id>/.default for client credentials and OBO)"},
	135011: {Error: "invalid_grant", Cause: "the device used for sign-in is disabled",
		Fix: "an administrator re-enables the device in Entra ID > Devices"},
}
