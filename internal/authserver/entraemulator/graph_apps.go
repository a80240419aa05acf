package entraemulator

import (
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/mcpgate/mcpgate/internal/authn"
	"github.com/mcpgate/mcpgate/internal/clip"
	"github.com/mcpgate/mcpgate/internal/config"
)

// The emulator's app registrations in the form Microsoft Graph returns them
// (GET https://graph.microsoft.com/v1.0/applications/{id}, az ad app show), so that
// `mcpgate doctor entra` reads the emulator's registrations exactly as it reads a real
// tenant's. Only what sign-in depends on is exported; secret values never are (Graph does
// not return them either).

// GraphApplication is one app registration (Graph's application resource).
type GraphApplication struct {
	ID                     string                `json:"id"`
	AppID                  string                `json:"appId"`
	DisplayName            string                `json:"displayName"`
	SignInAudience         string                `json:"signInAudience"`
	IdentifierURIs         []string              `json:"identifierUris"`
	IsFallbackPublicClient *bool                 `json:"isFallbackPublicClient"`
	GroupMembershipClaims  *string               `json:"groupMembershipClaims"`
	API                    GraphAPI              `json:"api"`
	AppRoles               []GraphAppRole        `json:"appRoles"`
	RequiredResourceAccess []GraphRequiredAccess `json:"requiredResourceAccess"`
	Web                    GraphWeb              `json:"web"`
	SPA                    GraphRedirects        `json:"spa"`
	PublicClient           GraphRedirects        `json:"publicClient"`
	PasswordCredentials    []GraphPassword       `json:"passwordCredentials"`
	KeyCredentials         []GraphKey            `json:"keyCredentials"`
}

// GraphAPI is the application's api property (Expose an API).
type GraphAPI struct {
	// RequestedAccessTokenVersion is null (v1), 1 or 2: the legacy manifest's
	// accessTokenAcceptedVersion.
	RequestedAccessTokenVersion *int                 `json:"requestedAccessTokenVersion"`
	KnownClientApplications     []string             `json:"knownClientApplications"`
	OAuth2PermissionScopes      []GraphScope         `json:"oauth2PermissionScopes"`
	PreAuthorizedApplications   []GraphPreAuthorized `json:"preAuthorizedApplications"`
}

// GraphScope is a delegated permission the app exposes (permissionScope).
type GraphScope struct {
	ID                      string `json:"id"`
	Value                   string `json:"value"`
	Type                    string `json:"type"` // "Admin" or "User": who can consent
	IsEnabled               bool   `json:"isEnabled"`
	AdminConsentDisplayName string `json:"adminConsentDisplayName"`
	AdminConsentDescription string `json:"adminConsentDescription"`
}

// GraphPreAuthorized is an authorized client application.
type GraphPreAuthorized struct {
	AppID                  string   `json:"appId"`
	DelegatedPermissionIDs []string `json:"delegatedPermissionIds"`
}

// GraphAppRole is an app role.
type GraphAppRole struct {
	ID                 string   `json:"id"`
	Value              string   `json:"value"`
	AllowedMemberTypes []string `json:"allowedMemberTypes"`
	IsEnabled          bool     `json:"isEnabled"`
	Description        string   `json:"description"`
	DisplayName        string   `json:"displayName"`
}

// GraphRequiredAccess is one API in API permissions.
type GraphRequiredAccess struct {
	ResourceAppID  string                `json:"resourceAppId"`
	ResourceAccess []GraphResourceAccess `json:"resourceAccess"`
}

// GraphResourceAccess is one permission: Type "Scope" (delegated) or "Role" (application).
type GraphResourceAccess struct {
	ID   string `json:"id"`
	Type string `json:"type"`
}

// GraphWeb is the web platform.
type GraphWeb struct {
	RedirectURIs          []string           `json:"redirectUris"`
	ImplicitGrantSettings GraphImplicitGrant `json:"implicitGrantSettings"`
}

// GraphImplicitGrant is Authentication > Implicit grant and hybrid flows.
type GraphImplicitGrant struct {
	EnableAccessTokenIssuance bool `json:"enableAccessTokenIssuance"`
	EnableIDTokenIssuance     bool `json:"enableIdTokenIssuance"`
}

// GraphRedirects is the spa or publicClient platform.
type GraphRedirects struct {
	RedirectURIs []string `json:"redirectUris"`
}

// GraphPassword is a client secret's metadata (never its value).
type GraphPassword struct {
	KeyID       string  `json:"keyId"`
	DisplayName string  `json:"displayName"`
	EndDateTime *string `json:"endDateTime"`
}

// GraphKey is an uploaded certificate's metadata.
type GraphKey struct {
	KeyID               string `json:"keyId"`
	DisplayName         string `json:"displayName"`
	Type                string `json:"type"`
	Usage               string `json:"usage"`
	CustomKeyIdentifier string `json:"customKeyIdentifier"`
	StartDateTime       string `json:"startDateTime"`
	EndDateTime         string `json:"endDateTime"`
}

// ScopeID is the id of the delegated permission value exposed by the app clientID, as the
// Graph form names it (stable: derived from the two).
func ScopeID(clientID, value string) string {
	return guidFrom("scope", strings.ToLower(clientID), value)
}

// ExportApplications returns the app registrations of c (not Microsoft Graph's own) in the
// Microsoft Graph form, in the order of c.Apps. c is not modified.
func ExportApplications(c *config.Entra) ([]GraphApplication, error) {
	cfg := *c
	cfg.Apps = append([]config.EntraApp(nil), c.Apps...)
	cfg.SetDefaults()
	dir, err := newDirectory(&cfg)
	if err != nil {
		return nil, fmt.Errorf("entra: %w", err)
	}
	out := make([]GraphApplication, 0, len(c.Apps))
	for i := range c.Apps {
		a := dir.appByID[strings.ToLower(cfg.Apps[i].ClientID)]
		out = append(out, dir.graphApplication(a))
	}
	return out, nil
}

// GraphApplications returns the emulator's app registrations in the Microsoft Graph form
// (see ExportApplications).
func (em *Emulator) GraphApplications() []GraphApplication {
	apps, err := ExportApplications(em.opts.Config)
	if err != nil { // New compiled the same configuration
		panic(err)
	}
	return apps
}

func (d *directory) graphApplication(a *app) GraphApplication {
	g := GraphApplication{
		ID: guidFrom("application", a.clientID), AppID: a.clientID, DisplayName: a.name,
		SignInAudience: a.cfg.SignInAudience, IdentifierURIs: nonNil(a.uris),
		AppRoles: []GraphAppRole{}, RequiredResourceAccess: []GraphRequiredAccess{},
		PasswordCredentials: []GraphPassword{}, KeyCredentials: []GraphKey{},
		SPA:          GraphRedirects{RedirectURIs: nonNil(a.cfg.SPARedirectURIs)},
		PublicClient: GraphRedirects{RedirectURIs: []string{}},
		Web: GraphWeb{RedirectURIs: []string{}, ImplicitGrantSettings: GraphImplicitGrant{
			EnableAccessTokenIssuance: slices.Contains(a.cfg.ImplicitGrant, "accessToken"),
			EnableIDTokenIssuance:     slices.Contains(a.cfg.ImplicitGrant, "idToken")}},
		API: GraphAPI{KnownClientApplications: []string{}, OAuth2PermissionScopes: []GraphScope{},
			PreAuthorizedApplications: []GraphPreAuthorized{}},
	}
	if a.cfg.PublicClient {
		t := true
		g.IsFallbackPublicClient = &t
	}
	if a.cfg.PublicClient && !a.confidential() {
		g.PublicClient.RedirectURIs = nonNil(a.cfg.RedirectURIs)
	} else {
		g.Web.RedirectURIs = nonNil(a.cfg.RedirectURIs)
	}
	if gm := a.cfg.GroupMembershipClaims; gm != "" {
		g.GroupMembershipClaims = &gm
	}
	if a.version == 2 { // v1 is Graph's default, null
		v := 2
		g.API.RequestedAccessTokenVersion = &v
	}
	for _, s := range a.cfg.Scopes {
		typ := "User"
		if s.AdminConsentRequired {
			typ = "Admin"
		}
		g.API.OAuth2PermissionScopes = append(g.API.OAuth2PermissionScopes, GraphScope{
			ID: ScopeID(a.clientID, s.Value), Value: s.Value, Type: typ, IsEnabled: true,
			AdminConsentDisplayName: s.Value, AdminConsentDescription: s.Description})
	}
	for _, p := range a.cfg.PreAuthorizedApplications {
		pa := GraphPreAuthorized{AppID: strings.ToLower(p.AppID), DelegatedPermissionIDs: []string{}}
		for _, v := range p.Scopes {
			pa.DelegatedPermissionIDs = append(pa.DelegatedPermissionIDs, ScopeID(a.clientID, v))
		}
		g.API.PreAuthorizedApplications = append(g.API.PreAuthorizedApplications, pa)
	}
	for _, k := range a.cfg.KnownClientApplications {
		g.API.KnownClientApplications = append(g.API.KnownClientApplications, strings.ToLower(k))
	}
	for _, r := range a.cfg.AppRoles {
		types := r.AllowedMemberTypes
		if len(types) == 0 {
			types = []string{"User", "Application"}
		}
		g.AppRoles = append(g.AppRoles, GraphAppRole{ID: guidFrom("approle", a.clientID, r.Value), Value: r.Value,
			AllowedMemberTypes: types, IsEnabled: true, Description: r.Description, DisplayName: r.Value})
	}
	for _, r := range a.cfg.RequiredResourceAccess {
		res := d.findApp(r.Resource)
		if res == nil {
			continue // newDirectory refuses it
		}
		ra := GraphRequiredAccess{ResourceAppID: res.clientID, ResourceAccess: []GraphResourceAccess{}}
		for _, v := range r.Scopes {
			ra.ResourceAccess = append(ra.ResourceAccess, GraphResourceAccess{ID: ScopeID(res.clientID, v), Type: "Scope"})
		}
		for _, v := range r.Roles {
			ra.ResourceAccess = append(ra.ResourceAccess, GraphResourceAccess{ID: guidFrom("approle", res.clientID, v), Type: "Role"})
		}
		g.RequiredResourceAccess = append(g.RequiredResourceAccess, ra)
	}
	for i, s := range a.secrets {
		p := GraphPassword{KeyID: guidFrom("secret", a.clientID, fmt.Sprint(i)), DisplayName: fmt.Sprintf("secret %d", i+1)}
		if !s.expires.IsZero() {
			e := s.expires.UTC().Format(time.RFC3339)
			p.EndDateTime = &e
		}
		g.PasswordCredentials = append(g.PasswordCredentials, p)
	}
	for _, c := range a.certs {
		sum := sha1.Sum(c.Raw)
		g.KeyCredentials = append(g.KeyCredentials, GraphKey{
			KeyID: guidFrom("cert", a.clientID, fmt.Sprintf("%x", sum)), DisplayName: "CN=" + c.Subject.CommonName,
			Type: "AsymmetricX509Cert", Usage: "Verify", CustomKeyIdentifier: base64.StdEncoding.EncodeToString(sum[:]),
			StartDateTime: c.NotBefore.UTC().Format(time.RFC3339), EndDateTime: c.NotAfter.UTC().Format(time.RFC3339)})
	}
	return g
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return slices.Clone(s)
}

// The Graph calls behind az ad app show: GET /v1.0/applications/{id} (object id; the
// emulator also takes the appId there), GET /v1.0/applications(appId='{appId}') and
// GET /v1.0/applications[?$filter=appId eq '{appId}']. Like Graph, they take a Graph token
// of the registrations' home tenant with Application.Read.All, Application.ReadWrite.All or
// Directory.Read.All (delegated or application).

var appIDKeyRE = regexp.MustCompile(`^applications\(appId='([^']+)'\)$`)
var appIDFilterRE = regexp.MustCompile(`^appId eq '([^']+)'$`)

func (em *Emulator) graphApps(w http.ResponseWriter, r *http.Request) (*tenant, []GraphApplication, bool) {
	c, ok := em.graphCaller(w, r)
	if !ok {
		return nil, nil, false
	}
	tid, _ := c["tid"].(string)
	t := em.dir.byKey[strings.ToLower(tid)]
	if t == nil {
		em.graphError(w, r, http.StatusUnauthorized, "InvalidAuthenticationToken", "Access token validation failure. The tenant of the token is unknown.")
		return nil, nil, false
	}
	allowed := []string{"Application.Read.All", "Application.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"}
	if !slices.ContainsFunc(append(authn.ClaimStrings(c["scp"], true), authn.ClaimStrings(c["roles"], true)...), func(s string) bool { return slices.Contains(allowed, s) }) {
		em.graphError(w, r, http.StatusForbidden, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
		return nil, nil, false
	}
	var out []GraphApplication
	for _, g := range em.GraphApplications() {
		if a := em.dir.appByID[g.AppID]; a != nil && a.home == t {
			out = append(out, g)
		}
	}
	return t, out, true
}

func (em *Emulator) handleGraphApplication(w http.ResponseWriter, r *http.Request) {
	ref := r.PathValue("id")
	if r.PathValue("key") != "" {
		m := appIDKeyRE.FindStringSubmatch(r.PathValue("key"))
		if m == nil {
			em.graphError(w, r, http.StatusBadRequest, "BadRequest", "Resource not found for the segment '"+clip.String(r.PathValue("key"))+"'.")
			return
		}
		ref = m[1]
	}
	_, apps, ok := em.graphApps(w, r)
	if !ok {
		return
	}
	for _, g := range apps {
		if strings.EqualFold(g.ID, ref) || strings.EqualFold(g.AppID, ref) {
			writeJSON(w, http.StatusOK, struct {
				Context string `json:"@odata.context"`
				GraphApplication
			}{"https://graph.microsoft.com/v1.0/$metadata#applications/$entity", g})
			return
		}
	}
	em.graphError(w, r, http.StatusNotFound, "Request_ResourceNotFound",
		"Resource '"+clip.String(ref)+"' does not exist or one of its queried reference-property objects are not present.")
}

func (em *Emulator) handleGraphApplicationList(w http.ResponseWriter, r *http.Request) {
	_, apps, ok := em.graphApps(w, r)
	if !ok {
		return
	}
	if f := r.URL.Query().Get("$filter"); f != "" {
		m := appIDFilterRE.FindStringSubmatch(strings.TrimSpace(f))
		if m == nil {
			em.graphError(w, r, http.StatusBadRequest, "Request_UnsupportedQuery", "Unsupported query: only $filter=appId eq '{appId}' is served by the emulator.")
			return
		}
		apps = slices.DeleteFunc(apps, func(g GraphApplication) bool { return !strings.EqualFold(g.AppID, m[1]) })
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#applications",
		"value":          nonNilApps(apps),
	})
}

func nonNilApps(a []GraphApplication) []GraphApplication {
	if a == nil {
		return []GraphApplication{}
	}
	return a
}
