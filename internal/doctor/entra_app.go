package doctor

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/mcpgate/mcpgate/internal/config"
)

// Step ids of CheckEntraApps. manifest and credentials carry the role after a slash
// (manifest/app, credentials/api).
const (
	StepManifest           = "manifest"
	StepEntraGateway       = "gateway"
	StepAccessTokenVersion = "access-token-version"
	StepIdentifierURIs     = "identifier-uris"
	StepExposedScopes      = "exposed-scopes"
	StepConsent            = "consent"
	StepKnownClients       = "known-clients"
	StepRequiredAccess     = "required-access"
	StepRedirectURIs       = "redirect-uris"
	StepImplicitGrant      = "implicit-grant"
	StepCredentials        = "credentials"
	StepCopilotConnector   = "copilot-connector"
	StepCopilotRedirect    = "copilot-redirect"
)

// AzureAPIConnectionsAppID is the appId of Microsoft's "Azure API Connections" service, the
// Power Platform service that signs users in for custom connectors (Copilot Studio, Power
// Automate, Power Apps). A connector's app registration must list it as an authorized client
// application (api.preAuthorizedApplications) for the connector's scope, or single sign-on
// works for the maker and fails for every other user.
const AzureAPIConnectionsAppID = "fe053c5f-3692-4f14-aef2-ee34fc081cae"

// PowerPlatformRedirectURI is the redirect URL of Power Platform custom connectors (the
// connector's Security tab; per-connector URLs are under /redirect/).
const PowerPlatformRedirectURI = "https://global.consent.azure-apim.net/redirect"

// credentialWarning is how long before a secret's or certificate's expiry the doctor warns.
const credentialWarning = 30 * 24 * time.Hour

// EntraAppOptions configure CheckEntraApps.
type EntraAppOptions struct {
	// Config is an mcpgate configuration file: the entra: issuer whose clientId (or
	// appIdUri) names the API app says which token versions and audience the gateway
	// accepts. Optional.
	Config string
	// Versions are the access token versions the gateway accepts ([2], [1], [1, 2]); they
	// override Config's. Nil: unknown (or from Config).
	Versions []int
	// Connector forces the Copilot Studio / Power Platform custom connector checks; they
	// also run when the app has the Power Platform redirect URL.
	Connector bool
	// Now is the clock for credential expiry. Zero: time.Now().
	Now time.Time
}

// entraApp is an app registration, normalised from Microsoft Graph's form or the legacy
// (Azure AD Graph) manifest.
type entraApp struct {
	role, file       string
	AppID, Name      string
	IdentifierURIs   []string
	Version          int // 0: null (v1)
	Scopes           []entraScope
	Roles            []string // app role ids
	PreAuth          map[string][]string
	Known            []string
	Required         []entraRequired
	Web, SPA, Native []string
	ImplicitAccess   bool
	ImplicitID       bool
	FallbackPublic   bool
	Secrets, Certs   []entraCred
}

type entraScope struct {
	ID, Value string
	Admin     bool
	Enabled   bool
}

type entraRequired struct {
	Resource string
	Access   []struct{ ID, Type string }
}

type entraCred struct {
	Name string
	End  time.Time // zero: no end
}

// graphApp is the JSON of both forms.
type graphApp struct {
	ID                     string   `json:"id"`
	AppID                  string   `json:"appId"`
	DisplayName            string   `json:"displayName"`
	Name                   string   `json:"name"` // legacy manifest
	IdentifierURIs         []string `json:"identifierUris"`
	IsFallbackPublicClient *bool    `json:"isFallbackPublicClient"`
	AllowPublicClient      *bool    `json:"allowPublicClient"` // legacy
	API                    *struct {
		RequestedAccessTokenVersion *int `json:"requestedAccessTokenVersion"`
		OAuth2PermissionScopes      []struct {
			ID        string `json:"id"`
			Value     string `json:"value"`
			Type      string `json:"type"`
			IsEnabled *bool  `json:"isEnabled"`
		} `json:"oauth2PermissionScopes"`
		PreAuthorizedApplications []struct {
			AppID                  string   `json:"appId"`
			DelegatedPermissionIDs []string `json:"delegatedPermissionIds"`
		} `json:"preAuthorizedApplications"`
		KnownClientApplications []string `json:"knownClientApplications"`
	} `json:"api"`
	// Legacy manifest members.
	AccessTokenAcceptedVersion *int `json:"accessTokenAcceptedVersion"`
	OAuth2Permissions          []struct {
		ID        string `json:"id"`
		Value     string `json:"value"`
		Type      string `json:"type"`
		IsEnabled *bool  `json:"isEnabled"`
	} `json:"oauth2Permissions"`
	LegacyPreAuthorized []struct {
		AppID         string   `json:"appId"`
		PermissionIDs []string `json:"permissionIds"`
	} `json:"preAuthorizedApplications"`
	LegacyKnownClients []string `json:"knownClientApplications"`
	ReplyURLsWithType  []struct {
		URL  string `json:"url"`
		Type string `json:"type"`
	} `json:"replyUrlsWithType"`
	OAuth2AllowImplicitFlow        *bool `json:"oauth2AllowImplicitFlow"`
	OAuth2AllowIDTokenImplicitFlow *bool `json:"oauth2AllowIdTokenImplicitFlow"`

	AppRoles []struct {
		ID string `json:"id"`
	} `json:"appRoles"`
	RequiredResourceAccess []struct {
		ResourceAppID  string `json:"resourceAppId"`
		ResourceAccess []struct {
			ID   string `json:"id"`
			Type string `json:"type"`
		} `json:"resourceAccess"`
	} `json:"requiredResourceAccess"`
	Web *struct {
		RedirectURIs          []string `json:"redirectUris"`
		ImplicitGrantSettings *struct {
			EnableAccessTokenIssuance bool `json:"enableAccessTokenIssuance"`
			EnableIDTokenIssuance     bool `json:"enableIdTokenIssuance"`
		} `json:"implicitGrantSettings"`
	} `json:"web"`
	SPA *struct {
		RedirectURIs []string `json:"redirectUris"`
	} `json:"spa"`
	PublicClient *struct {
		RedirectURIs []string `json:"redirectUris"`
	} `json:"publicClient"`
	PasswordCredentials []graphCred `json:"passwordCredentials"`
	KeyCredentials      []graphCred `json:"keyCredentials"`
}

type graphCred struct {
	DisplayName   string  `json:"displayName"`
	CustomKeyID   string  `json:"customKeyIdentifier"`
	KeyID         string  `json:"keyId"`
	EndDateTime   *string `json:"endDateTime"`
	LegacyEndDate *string `json:"endDate"`
}

// parseEntraApp reads one app registration: a Graph application object, a Graph list
// answer ({"value": [one]}), a JSON array of one (az ad app list), or a legacy manifest.
func parseEntraApp(role, file string, data []byte) (*entraApp, error) {
	data = bytes.TrimSpace(bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")))
	var list []json.RawMessage
	switch {
	case bytes.HasPrefix(data, []byte("[")):
		if err := json.Unmarshal(data, &list); err != nil {
			return nil, err
		}
	default:
		var wrap struct {
			Value []json.RawMessage `json:"value"`
		}
		if err := json.Unmarshal(data, &wrap); err != nil {
			return nil, err
		}
		if wrap.Value != nil {
			list = wrap.Value
		} else {
			list = []json.RawMessage{data}
		}
	}
	if len(list) != 1 {
		return nil, fmt.Errorf("it holds %d app registrations, not one: give one (az ad app show --id <appId>)", len(list))
	}
	var g graphApp
	if err := json.Unmarshal(list[0], &g); err != nil {
		return nil, err
	}
	if !isGUID(g.AppID) {
		return nil, fmt.Errorf("it has no appId: is it an app registration (az ad app show --id <appId>, or Graph GET /applications/{id})?")
	}
	a := &entraApp{role: role, file: file, AppID: strings.ToLower(g.AppID), Name: g.DisplayName,
		IdentifierURIs: g.IdentifierURIs, PreAuth: map[string][]string{}}
	if a.Name == "" {
		a.Name = g.Name
	}
	if a.Name == "" {
		a.Name = a.AppID
	}
	a.FallbackPublic = (g.IsFallbackPublicClient != nil && *g.IsFallbackPublicClient) || (g.AllowPublicClient != nil && *g.AllowPublicClient)
	scope := func(id, value, typ string, enabled *bool) {
		a.Scopes = append(a.Scopes, entraScope{ID: strings.ToLower(id), Value: value, Admin: strings.EqualFold(typ, "Admin"), Enabled: enabled == nil || *enabled})
	}
	if g.API != nil {
		if v := g.API.RequestedAccessTokenVersion; v != nil {
			a.Version = *v
		}
		for _, s := range g.API.OAuth2PermissionScopes {
			scope(s.ID, s.Value, s.Type, s.IsEnabled)
		}
		for _, p := range g.API.PreAuthorizedApplications {
			a.PreAuth[strings.ToLower(p.AppID)] = lowerAll(p.DelegatedPermissionIDs)
		}
		a.Known = lowerAll(g.API.KnownClientApplications)
	}
	if g.AccessTokenAcceptedVersion != nil && a.Version == 0 {
		a.Version = *g.AccessTokenAcceptedVersion
	}
	for _, s := range g.OAuth2Permissions {
		scope(s.ID, s.Value, s.Type, s.IsEnabled)
	}
	for _, p := range g.LegacyPreAuthorized {
		if len(p.PermissionIDs) > 0 {
			a.PreAuth[strings.ToLower(p.AppID)] = lowerAll(p.PermissionIDs)
		}
	}
	if len(a.Known) == 0 {
		a.Known = lowerAll(g.LegacyKnownClients)
	}
	for _, r := range g.AppRoles {
		a.Roles = append(a.Roles, strings.ToLower(r.ID))
	}
	for _, r := range g.RequiredResourceAccess {
		req := entraRequired{Resource: strings.ToLower(r.ResourceAppID)}
		for _, x := range r.ResourceAccess {
			req.Access = append(req.Access, struct{ ID, Type string }{strings.ToLower(x.ID), x.Type})
		}
		a.Required = append(a.Required, req)
	}
	if g.Web != nil {
		a.Web = g.Web.RedirectURIs
		if s := g.Web.ImplicitGrantSettings; s != nil {
			a.ImplicitAccess, a.ImplicitID = s.EnableAccessTokenIssuance, s.EnableIDTokenIssuance
		}
	}
	if g.SPA != nil {
		a.SPA = g.SPA.RedirectURIs
	}
	if g.PublicClient != nil {
		a.Native = g.PublicClient.RedirectURIs
	}
	for _, r := range g.ReplyURLsWithType {
		switch strings.ToLower(r.Type) {
		case "spa":
			a.SPA = append(a.SPA, r.URL)
		case "installedclient":
			a.Native = append(a.Native, r.URL)
		default:
			a.Web = append(a.Web, r.URL)
		}
	}
	if g.OAuth2AllowImplicitFlow != nil && *g.OAuth2AllowImplicitFlow {
		a.ImplicitAccess = true
	}
	if g.OAuth2AllowIDTokenImplicitFlow != nil && *g.OAuth2AllowIDTokenImplicitFlow {
		a.ImplicitID = true
	}
	creds := func(in []graphCred, kind string) ([]entraCred, error) {
		var out []entraCred
		for i, c := range in {
			ec := entraCred{Name: c.DisplayName}
			if ec.Name == "" {
				ec.Name = fmt.Sprintf("%s %d", kind, i+1)
			}
			end := c.EndDateTime
			if end == nil {
				end = c.LegacyEndDate
			}
			if end != nil && *end != "" {
				t, err := time.Parse(time.RFC3339, *end)
				if err != nil {
					return nil, fmt.Errorf("%s %q: endDateTime %q is not an RFC 3339 time", kind, ec.Name, *end)
				}
				ec.End = t
			}
			out = append(out, ec)
		}
		return out, nil
	}
	var err error
	if a.Secrets, err = creds(g.PasswordCredentials, "secret"); err != nil {
		return nil, err
	}
	if a.Certs, err = creds(g.KeyCredentials, "certificate"); err != nil {
		return nil, err
	}
	return a, nil
}

func lowerAll(s []string) []string {
	out := make([]string, 0, len(s))
	for _, x := range s {
		out = append(out, strings.ToLower(x))
	}
	return out
}

func (a *entraApp) label() string { return fmt.Sprintf("%q", a.Name) }

func (a *entraApp) confidential() bool { return len(a.Secrets)+len(a.Certs) > 0 }

func (a *entraApp) scopeByID(id string) *entraScope {
	for i := range a.Scopes {
		if a.Scopes[i].ID == id {
			return &a.Scopes[i]
		}
	}
	return nil
}

func (a *entraApp) enabledScopes() []entraScope {
	var out []entraScope
	for _, s := range a.Scopes {
		if s.Enabled {
			out = append(out, s)
		}
	}
	return out
}

// resourceID is how fully qualified scopes name the app.
func (a *entraApp) resourceID() string {
	if len(a.IdentifierURIs) > 0 {
		return strings.TrimRight(a.IdentifierURIs[0], "/")
	}
	return "api://" + a.AppID
}

// delegatesDownstream reports whether the app asks for delegated permissions of other APIs
// (an On-Behalf-Of middle tier).
func (a *entraApp) delegatesDownstream() []string {
	var out []string
	for _, r := range a.Required {
		if r.Resource == a.AppID {
			continue
		}
		for _, x := range r.Access {
			if strings.EqualFold(x.Type, "Scope") {
				out = append(out, resourceName(r.Resource))
				break
			}
		}
	}
	return out
}

func resourceName(appID string) string {
	switch appID {
	case "00000003-0000-0000-c000-000000000000":
		return "Microsoft Graph"
	case AzureAPIConnectionsAppID:
		return "Azure API Connections"
	}
	return appID
}

// isConnector reports whether the app is a Power Platform custom connector's (it has the
// connector redirect URL).
func (a *entraApp) isConnector() bool {
	return slices.ContainsFunc(a.Web, func(u string) bool {
		p, err := url.Parse(u)
		return err == nil && strings.EqualFold(p.Host, "global.consent.azure-apim.net")
	})
}

// CheckEntraApps checks Entra ID app registrations offline, as Microsoft Graph (GET
// /applications/{id}) or az ad app show return them, for the settings that break single
// sign-on. app is the client's registration (an MCP client's, or a custom connector's); api,
// when not nil, the registration of the API the client signs in to (the gateway's). With
// only app, app is checked both as a client and as an API.
func CheckEntraApps(appFile string, app []byte, apiFile string, api []byte, o EntraAppOptions) *Report {
	r := &Report{}
	now := o.Now
	if now.IsZero() {
		now = time.Now()
	}
	client, err := parseEntraApp("app", appFile, app)
	if err != nil {
		r.fail(StepManifest+"/app", appFile+" is not an app registration: "+err.Error(),
			"export it with az ad app show --id <appId> > app.json (or Graph GET /v1.0/applications/{id}, or mcpgate entra-emulator export)")
		return r
	}
	r.ok(StepManifest+"/app", fmt.Sprintf("%s: %s (appId %s)", appFile, client.label(), client.AppID))
	res := client
	if api != nil {
		if res, err = parseEntraApp("api", apiFile, api); err != nil {
			r.fail(StepManifest+"/api", apiFile+" is not an app registration: "+err.Error(),
				"export it with az ad app show --id <appId> > api.json (or Graph GET /v1.0/applications/{id}, or mcpgate entra-emulator export)")
			return r
		}
		r.ok(StepManifest+"/api", fmt.Sprintf("%s: %s (appId %s)", apiFile, res.label(), res.AppID))
	}
	separate := res != client
	isAPI := separate || len(res.Scopes) > 0 || len(res.IdentifierURIs) > 0
	connector := o.Connector || client.isConnector()

	versions, audiences, gw := o.Versions, []string(nil), ""
	if len(o.Versions) > 0 {
		gw = "the gateway (--versions)"
	}
	if o.Config != "" && isAPI {
		v, aud, name, found := gatewayForAPI(r, o.Config, res)
		if found {
			gw, audiences = name, aud
			if versions == nil {
				versions = v
			}
		}
	}
	if isAPI {
		checkTokenVersion(r, res, versions, gw)
		checkIdentifierURIs(r, res, audiences, gw)
		checkExposedScopes(r, res, separate || connector)
	}
	if separate {
		checkConsent(r, client, res)
		checkKnownClients(r, client, res)
		checkRequiredAccess(r, client, res)
	}
	checkRedirects(r, client, connector)
	checkImplicit(r, client)
	checkCredentials(r, client, now, connector || hasWebRedirect(client))
	if separate && (res.confidential() || len(res.delegatesDownstream()) > 0) {
		checkCredentials(r, res, now, len(res.delegatesDownstream()) > 0)
	}
	if connector {
		checkConnector(r, client)
	}
	return r
}

// gatewayForAPI finds the entra: issuer of an mcpgate configuration that names the API app.
func gatewayForAPI(r *Report, file string, res *entraApp) (versions []int, audiences []string, name string, found bool) {
	cfg, _, err := config.Load(file)
	if err != nil {
		r.fail(StepEntraGateway, file+" does not load: "+err.Error(), "run mcpgate config validate "+file+" and fix each problem it lists")
		return nil, nil, "", false
	}
	for _, is := range cfg.Issuers {
		e := is.Entra
		if e == nil {
			continue
		}
		if !strings.EqualFold(e.ClientID, res.AppID) && !(e.AppIDURI != "" && slices.ContainsFunc(res.IdentifierURIs, func(u string) bool {
			return strings.EqualFold(strings.TrimRight(u, "/"), strings.TrimRight(e.AppIDURI, "/"))
		})) {
			continue
		}
		versions = e.Versions
		if len(versions) == 0 {
			versions = []int{1, 2}
		}
		if e.AppIDURI != "" {
			audiences = []string{e.AppIDURI}
		}
		name = fmt.Sprintf("the gateway (issuer %s in %s)", is.Name, file)
		r.ok(StepEntraGateway, fmt.Sprintf("issuer %s in %s is the API's (clientId %s): it accepts v%s tokens", is.Name, file, res.AppID, joinInts(versions, " and v")))
		return versions, audiences, name, true
	}
	r.warn(StepEntraGateway, fmt.Sprintf("no entra: issuer in %s names %s (clientId %s or appIdUri one of its identifierUris): the gateway does not accept its tokens", file, res.label(), res.AppID),
		fmt.Sprintf("add an issuer with entra: {tenant: <tenant id>, clientId: %s, appIdUri: %s} and list it in the route's auth.issuers", res.AppID, res.resourceID()))
	return nil, nil, "", false
}

func joinInts(v []int, sep string) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = fmt.Sprint(x)
	}
	return strings.Join(s, sep)
}

func checkTokenVersion(r *Report, res *entraApp, versions []int, gw string) {
	v, shown := res.Version, fmt.Sprint(res.Version)
	if v == 0 {
		v, shown = 1, "null"
	}
	var form string
	if v == 2 {
		form = "iss https://login.microsoftonline.com/{tid}/v2.0, aud " + res.AppID
	} else {
		aud := res.AppID
		if len(res.IdentifierURIs) > 0 {
			aud = res.IdentifierURIs[0]
		}
		form = "iss https://sts.windows.net/{tid}/, aud " + aud
	}
	switch {
	case len(versions) == 0:
		r.ok(StepAccessTokenVersion, fmt.Sprintf("%s issues v%d access tokens (api.requestedAccessTokenVersion %s: %s)", res.label(), v, shown, form))
	case slices.Contains(versions, v):
		r.ok(StepAccessTokenVersion, fmt.Sprintf("%s issues v%d access tokens (api.requestedAccessTokenVersion %s), which %s accepts", res.label(), v, shown, gw))
	case v == 1:
		r.fail(StepAccessTokenVersion, fmt.Sprintf("%s issues v1 access tokens (api.requestedAccessTokenVersion %s: %s), but %s accepts only v%s: every token is refused (wrong_issuer)", res.label(), shown, form, gw, joinInts(versions, " and v")),
			"set api.requestedAccessTokenVersion to 2 in the API app's manifest (accessTokenAcceptedVersion in the legacy manifest; az ad app update --id "+res.AppID+" --set api.requestedAccessTokenVersion=2), or accept v1 at the gateway (entra: versions: [1, 2])")
	default:
		r.fail(StepAccessTokenVersion, fmt.Sprintf("%s issues v%d access tokens (api.requestedAccessTokenVersion %s: %s), but %s accepts only v%s: every token is refused (wrong_issuer)", res.label(), v, shown, form, gw, joinInts(versions, " and v")),
			fmt.Sprintf("accept v%d at the gateway (entra: versions: [1, 2]), or set api.requestedAccessTokenVersion to %s in the API app's manifest", v, joinInts(versions, "")))
	}
}

func checkIdentifierURIs(r *Report, res *entraApp, audiences []string, gw string) {
	if len(res.IdentifierURIs) == 0 {
		if len(res.Scopes) > 0 {
			r.fail(StepIdentifierURIs, res.label()+" exposes scopes but has no Application ID URI (identifierUris is empty): clients cannot name its scopes, and v1 tokens have no api:// audience",
				"Expose an API > Application ID URI > Add: api://"+res.AppID+" (az ad app update --id "+res.AppID+" --identifier-uris api://"+res.AppID+")")
		} else {
			r.fail(StepIdentifierURIs, res.label()+" has no Application ID URI (identifierUris is empty): it is not exposed as an API",
				"Expose an API > Application ID URI > Add: api://"+res.AppID+", then add a scope")
		}
		return
	}
	for _, a := range audiences {
		if !slices.ContainsFunc(res.IdentifierURIs, func(u string) bool {
			return strings.EqualFold(strings.TrimRight(u, "/"), strings.TrimRight(a, "/"))
		}) {
			r.fail(StepIdentifierURIs, fmt.Sprintf("%s expects the audience %s (entra.appIdUri), which is not among the identifierUris of %s (%s): v1 tokens carry identifierUris[0] and are refused (wrong_audience)", gw, a, res.label(), strings.Join(res.IdentifierURIs, ", ")),
				fmt.Sprintf("set entra.appIdUri to %s in the gateway's configuration, or add %s to the API app's identifierUris", res.IdentifierURIs[0], a))
			return
		}
	}
	var odd []string
	for _, u := range res.IdentifierURIs {
		p, err := url.Parse(u)
		if err != nil || (p.Scheme != "api" && p.Scheme != "https") {
			odd = append(odd, u)
		}
	}
	if len(odd) > 0 {
		r.warn(StepIdentifierURIs, fmt.Sprintf("identifierUris %s of %s is neither api:// nor https://: Entra no longer accepts such URIs on new registrations, and clients build scopes as <uri>/<scope>", strings.Join(odd, ", "), res.label()),
			"use api://"+res.AppID+" (the default), or an https:// URL on a verified domain of the tenant (the MCP server's URL lets clients send it as the RFC 8707 resource)")
		return
	}
	r.ok(StepIdentifierURIs, fmt.Sprintf("identifierUris %s (scopes are %s/<scope>; v1 tokens carry aud %s)", strings.Join(res.IdentifierURIs, ", "), res.resourceID(), res.IdentifierURIs[0]))
}

func describeScopes(s []entraScope) string {
	var parts []string
	for _, x := range s {
		t := "User"
		if x.Admin {
			t = "Admin"
		}
		parts = append(parts, x.Value+" ("+t+")")
	}
	return strings.Join(parts, ", ")
}

func checkExposedScopes(r *Report, res *entraApp, mustExpose bool) {
	enabled := res.enabledScopes()
	var disabled []string
	for _, s := range res.Scopes {
		if !s.Enabled {
			disabled = append(disabled, s.Value)
		}
	}
	switch {
	case len(enabled) == 0 && mustExpose:
		r.fail(StepExposedScopes, res.label()+" exposes no enabled delegated scope (api.oauth2PermissionScopes): a client signing a user in to it has nothing to ask for (AADSTS650053 / AADSTS70011)",
			"Expose an API > Add a scope (for instance access_as_user, Who can consent: Admins and users)")
	case len(enabled) == 0:
		return
	case len(disabled) > 0:
		r.warn(StepExposedScopes, fmt.Sprintf("%s exposes %s; %s is disabled (isEnabled false): tokens never carry it", res.label(), describeScopes(enabled), strings.Join(disabled, ", ")),
			"enable it under Expose an API, or remove it from the clients' API permissions and from the gateway's required scopes")
	default:
		var admin []string
		for _, s := range enabled {
			if s.Admin {
				admin = append(admin, s.Value)
			}
		}
		f := fmt.Sprintf("%s exposes %s", res.label(), describeScopes(enabled))
		if len(admin) > 0 {
			f += fmt.Sprintf("; only administrators can consent to %s", strings.Join(admin, ", "))
		}
		r.ok(StepExposedScopes, f)
	}
}

// requested returns the API scopes the client asks for: its requiredResourceAccess toward
// the API, else (dynamic consent) every enabled scope. static is false in the second case.
func requested(client, res *entraApp) (scopes []entraScope, static bool) {
	for _, req := range client.Required {
		if req.Resource != res.AppID {
			continue
		}
		for _, x := range req.Access {
			if s := res.scopeByID(x.ID); s != nil && strings.EqualFold(x.Type, "Scope") {
				scopes = append(scopes, *s)
			}
		}
		return scopes, true
	}
	return res.enabledScopes(), false
}

func checkConsent(r *Report, client, res *entraApp) {
	scopes, _ := requested(client, res)
	if len(scopes) == 0 {
		return // exposed-scopes or required-access says why
	}
	pre := res.PreAuth[client.AppID]
	var admin, user, ok []string
	for _, s := range scopes {
		switch {
		case slices.Contains(pre, s.ID):
			ok = append(ok, s.Value)
		case s.Admin:
			admin = append(admin, s.Value)
		default:
			user = append(user, s.Value)
		}
	}
	var missingIDs []string
	for _, s := range scopes {
		if !slices.Contains(pre, s.ID) {
			missingIDs = append(missingIDs, s.ID)
		}
	}
	entry, _ := json.Marshal(map[string]any{"appId": client.AppID, "delegatedPermissionIds": missingIDs})
	fixes := fmt.Sprintf("grant admin consent for the tenant (the client's API permissions > Grant admin consent, or az ad app permission admin-consent --id %s); or pre-authorize the client (the API's Expose an API > Add a client application: %s with %s — api.preAuthorizedApplications entry %s); or list %s in the API's knownClientApplications and have the client ask for %s/.default (one combined consent)",
		client.AppID, client.AppID, strings.Join(append(admin, user...), ", "), entry, client.AppID, res.resourceID())
	switch {
	case len(client.SPA) > 0 && len(admin)+len(user) > 0:
		// A single-page app that hands its signed-in user on (a web canvas: MSAL.js
		// acquireTokenSilent for the agent's scope, then signin/tokenExchange) asks without
		// any prompt: a missing pre-authorization is the canvas showing its sign-in card.
		r.warn(StepConsent, fmt.Sprintf("%s (a single-page app) is not an authorized client application of %s for %s: its silent token requests (MSAL.js acquireTokenSilent, ssoSilent — a web canvas handing its user to an agent) cannot show a consent prompt, so every user who has not consented gets AADSTS65001 and the canvas falls back to the sign-in card; the missing api.preAuthorizedApplications entry is %s",
			client.label(), res.label(), strings.Join(append(admin, user...), ", "), entry), fixes)
	case len(admin) > 0:
		r.fail(StepConsent, fmt.Sprintf("%s is not a pre-authorized client of %s, and %s is Admin-only: no user can consent to it, so every user fails (AADSTS90094, or AADSTS65001 where no prompt can be shown) unless an administrator granted consent for the tenant — the \"second user\" case: it works for whoever consented as an admin and for nobody else",
			client.label(), res.label(), strings.Join(admin, ", ")), fixes)
	case len(user) > 0:
		r.warn(StepConsent, fmt.Sprintf("%s is not a pre-authorized client of %s: each user is asked to consent to %s at first sign-in, and where no prompt can be shown (On-Behalf-Of, Copilot Studio, a headless device) every user who has not consented fails with AADSTS65001 — it works for the user who consented and not for the second one",
			client.label(), res.label(), strings.Join(user, ", ")), fixes)
	default:
		r.ok(StepConsent, fmt.Sprintf("%s is pre-authorized for %s of %s: no consent prompt, for every user", client.label(), strings.Join(ok, ", "), res.label()))
	}
}

func checkKnownClients(r *Report, client, res *entraApp) {
	down := res.delegatesDownstream()
	if len(down) == 0 {
		return
	}
	if slices.Contains(res.Known, client.AppID) {
		r.ok(StepKnownClients, fmt.Sprintf("%s lists %s in knownClientApplications: consenting to it also consents to %s's own permissions (%s), which On-Behalf-Of needs", res.label(), client.label(), res.label(), strings.Join(down, ", ")))
		return
	}
	r.warn(StepKnownClients, fmt.Sprintf("%s calls %s on behalf of the user (delegated requiredResourceAccess), and %s is not in its knownClientApplications: On-Behalf-Of cannot prompt, so it fails with AADSTS65001 for every user who has not consented to %s's own permissions",
		res.label(), strings.Join(down, ", "), client.label(), res.label()),
		fmt.Sprintf("grant admin consent to %s for the tenant, or add %s to its api.knownClientApplications and have the client ask for %s/.default", res.label(), client.AppID, res.resourceID()))
}

func checkRequiredAccess(r *Report, client, res *entraApp) {
	for _, req := range client.Required {
		if req.Resource != res.AppID {
			continue
		}
		var missing, names []string
		for _, x := range req.Access {
			if strings.EqualFold(x.Type, "Role") {
				if !slices.Contains(res.Roles, x.ID) {
					missing = append(missing, "app role "+x.ID)
				}
				continue
			}
			s := res.scopeByID(x.ID)
			switch {
			case s == nil:
				missing = append(missing, "scope "+x.ID)
			case !s.Enabled:
				missing = append(missing, "scope "+s.Value+" (disabled)")
			default:
				names = append(names, s.Value)
			}
		}
		if len(missing) > 0 {
			r.fail(StepRequiredAccess, fmt.Sprintf("%s asks for %s of %s, which the API does not expose: sign-in with /.default or that scope fails (AADSTS650053, AADSTS70011), and admin consent cannot grant it", client.label(), strings.Join(missing, ", "), res.label()),
				fmt.Sprintf("expose the scope on %s (Expose an API > Add a scope), or remove it from %s's API permissions and add the one the API exposes (%s)", res.label(), client.label(), describeScopes(res.enabledScopes())))
			return
		}
		r.ok(StepRequiredAccess, fmt.Sprintf("%s's API permissions name %s of %s, which it exposes", client.label(), strings.Join(names, ", "), res.label()))
		return
	}
	r.warn(StepRequiredAccess, fmt.Sprintf("%s's API permissions (requiredResourceAccess) do not list %s: /.default asks for nothing of it and admin consent does not cover it", client.label(), res.label()),
		fmt.Sprintf("API permissions > Add a permission > My APIs > %s > %s (az ad app permission add --id %s --api %s --api-permissions <scope id>=Scope)", res.Name, describeScopes(res.enabledScopes()), client.AppID, res.AppID))
}

func isLoopbackOrNative(u string) bool {
	p, err := url.Parse(u)
	if err != nil {
		return false
	}
	if p.Scheme != "http" && p.Scheme != "https" {
		return p.Scheme != ""
	}
	h := p.Hostname()
	return h == "localhost" || h == "127.0.0.1" || h == "::1"
}

func hasWebRedirect(a *entraApp) bool {
	return slices.ContainsFunc(a.Web, func(u string) bool { return !isLoopbackOrNative(u) })
}

func checkRedirects(r *Report, a *entraApp, connector bool) {
	var native []string
	for _, u := range a.Web {
		if isLoopbackOrNative(u) {
			native = append(native, u)
		}
	}
	switch {
	case len(native) > 0 && !a.confidential() && !a.FallbackPublic:
		r.fail(StepRedirectURIs, fmt.Sprintf("%s is registered under Web, and %s has no secret or certificate: a native client (an MCP client, mcpgate login) redeeming the code without a secret gets AADSTS7000218", strings.Join(native, ", "), a.label()),
			fmt.Sprintf("move it to Mobile and desktop applications (publicClient.redirectUris): az ad app update --id %s --public-client-redirect-uris %s (and remove it from web)", a.AppID, strings.Join(native, " ")))
		return
	case len(native) > 0 && !a.confidential():
		r.warn(StepRedirectURIs, fmt.Sprintf("%s is registered under Web: it works only because Allow public client flows is on, and Entra applies the web rules to it (no any-port loopback)", strings.Join(native, ", ")),
			fmt.Sprintf("move it to Mobile and desktop applications (publicClient.redirectUris): az ad app update --id %s --public-client-redirect-uris %s", a.AppID, strings.Join(native, " ")))
		return
	}
	if !a.confidential() && !a.FallbackPublic && hasWebRedirect(a) && !connector {
		var web []string
		for _, u := range a.Web {
			if !isLoopbackOrNative(u) {
				web = append(web, u)
			}
		}
		r.warn(StepRedirectURIs, fmt.Sprintf("%s is registered under Web and %s has no secret or certificate: a browser app (SPA) redeeming the code gets AADSTS9002326 (cross-origin redemption is for the Single-page application platform), and a server app needs a secret", strings.Join(web, ", "), a.label()),
			fmt.Sprintf("for a browser app, move it to Single-page application (spa.redirectUris: az ad app update --id %s --set spa.redirectUris=...); for a server app, add a client secret", a.AppID))
		return
	}
	if len(a.Web)+len(a.SPA)+len(a.Native) == 0 {
		if a.confidential() {
			return // a daemon or an API: no interactive sign-in
		}
		r.warn(StepRedirectURIs, a.label()+" has no redirect URI on any platform: interactive sign-in fails with AADSTS500113 (no reply address registered)",
			"Authentication > Add a platform: Mobile and desktop applications with http://localhost for an MCP client, Web for a server app")
		return
	}
	var parts []string
	for _, p := range []struct {
		name string
		uris []string
	}{{"web", a.Web}, {"mobile and desktop", a.Native}, {"spa", a.SPA}} {
		if len(p.uris) > 0 {
			parts = append(parts, p.name+" "+strings.Join(p.uris, ", "))
		}
	}
	r.ok(StepRedirectURIs, a.label()+": "+strings.Join(parts, "; "))
}

func checkImplicit(r *Report, a *entraApp) {
	var on []string
	if a.ImplicitAccess {
		on = append(on, "access tokens")
	}
	if a.ImplicitID {
		on = append(on, "ID tokens")
	}
	if len(on) == 0 {
		r.ok(StepImplicitGrant, "implicit grant is off for "+a.label())
		return
	}
	r.warn(StepImplicitGrant, fmt.Sprintf("%s has the implicit grant on for %s: they are returned in the URL fragment, where browser history and logs keep them; MCP clients use the code flow with PKCE and never need it", a.label(), strings.Join(on, " and ")),
		fmt.Sprintf("turn off Authentication > Implicit grant and hybrid flows (az ad app update --id %s --enable-access-token-issuance false --enable-id-token-issuance false)", a.AppID))
}

func checkCredentials(r *Report, a *entraApp, now time.Time, needed bool) {
	id := StepCredentials + "/" + a.role
	all := append(slices.Clip(a.Secrets), a.Certs...)
	kind := func(i int) string {
		if i < len(a.Secrets) {
			return "client secret"
		}
		return "certificate"
	}
	if len(all) == 0 {
		if needed {
			r.fail(id, a.label()+" has no client secret or certificate, and it needs one (a web app, a connector, or an On-Behalf-Of middle tier): token requests fail with AADSTS7000218",
				fmt.Sprintf("Certificates & secrets > New client secret (az ad app credential reset --id %s --append) and put it where the app reads it", a.AppID))
			return
		}
		r.ok(id, a.label()+" has no secret or certificate (a public client)")
		return
	}
	var expired, soon, valid []string
	for i, c := range all {
		switch {
		case !c.End.IsZero() && !now.Before(c.End):
			expired = append(expired, fmt.Sprintf("%s %q expired %s", kind(i), c.Name, c.End.Format("2006-01-02")))
		case !c.End.IsZero() && c.End.Sub(now) < credentialWarning:
			soon = append(soon, fmt.Sprintf("%s %q expires %s (in %d days)", kind(i), c.Name, c.End.Format("2006-01-02"), int(c.End.Sub(now).Hours()/24)))
		default:
			until := "no end date"
			if !c.End.IsZero() {
				until = "until " + c.End.Format("2006-01-02")
			}
			valid = append(valid, fmt.Sprintf("%s %q (%s)", kind(i), c.Name, until))
		}
	}
	renew := fmt.Sprintf("Certificates & secrets > New client secret (az ad app credential reset --id %s --append), put it where the app reads it (mcpgate: the connector's or upstream's clientSecret), then delete the old one", a.AppID)
	switch {
	case len(expired) > 0 && len(valid)+len(soon) == 0:
		r.fail(id, fmt.Sprintf("%s: %s: every token request with it fails with AADSTS7000222", a.label(), strings.Join(expired, "; ")), renew)
	case len(soon) > 0:
		r.warn(id, fmt.Sprintf("%s: %s: after that, token requests fail with AADSTS7000222", a.label(), strings.Join(soon, "; ")), "before then: "+renew)
	case len(expired) > 0:
		r.warn(id, fmt.Sprintf("%s: %s (%s still valid): a deployment still using it fails with AADSTS7000222", a.label(), strings.Join(expired, "; "), strings.Join(valid, ", ")), "make sure every deployment uses the valid one, then delete the expired one")
	default:
		r.ok(id, a.label()+": "+strings.Join(valid, ", "))
	}
}

func checkConnector(r *Report, a *entraApp) {
	enabled := a.enabledScopes()
	pre, listed := a.PreAuth[AzureAPIConnectionsAppID]
	var covered []string
	for _, s := range enabled {
		if slices.Contains(pre, s.ID) {
			covered = append(covered, s.Value)
		}
	}
	fix := fmt.Sprintf("on the connector's app registration: Expose an API > Add a client application: %s (Azure API Connections), with the scope %s", AzureAPIConnectionsAppID, firstScope(enabled))
	switch {
	case len(enabled) == 0:
		r.fail(StepCopilotConnector, a.label()+" is a custom connector's app but exposes no scope, so Azure API Connections cannot be authorized for one: single sign-on works for the maker and fails for every other user (the connection manager prompt)",
			"Expose an API > Add a scope (access_as_user), then Add a client application: "+AzureAPIConnectionsAppID+" (Azure API Connections) with that scope")
	case !listed:
		r.fail(StepCopilotConnector, fmt.Sprintf("%s is a custom connector's app, and Azure API Connections (%s) is not an authorized client application of it: single sign-on works for the maker and fails for every other user, who gets the connection manager prompt", a.label(), AzureAPIConnectionsAppID), fix)
	case len(covered) == 0:
		r.fail(StepCopilotConnector, fmt.Sprintf("Azure API Connections (%s) is an authorized client of %s, but not for any scope it exposes (%s): every user but the maker fails", AzureAPIConnectionsAppID, a.label(), describeScopes(enabled)), fix)
	default:
		r.ok(StepCopilotConnector, fmt.Sprintf("Azure API Connections (%s) is an authorized client of %s for %s", AzureAPIConnectionsAppID, a.label(), strings.Join(covered, ", ")))
	}
	if !a.isConnector() {
		r.fail(StepCopilotRedirect, a.label()+" does not have the custom connector's redirect URL under Web: creating a connection fails with AADSTS50011",
			fmt.Sprintf("Authentication > Web > Add URI: %s (or the per-connector URL the connector's Security tab shows)", PowerPlatformRedirectURI))
	}
}

func firstScope(s []entraScope) string {
	if len(s) == 0 {
		return "access_as_user"
	}
	return s[0].Value
}
