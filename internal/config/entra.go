package config

import (
	"bytes"
	"fmt"
	"net/url"
	"os"
	"reflect"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Entra configures the Entra ID compatible profile: an emulator of the Microsoft identity
// platform (login.microsoftonline.com) with tenants, app registrations and users, so that
// an Entra setup can be built and tested offline. The names follow the Azure portal and the
// application manifest.
type Entra struct {
	// PathPrefix is where `mcpgate serve` mounts the emulator (the authority is then
	// {publicURL}{pathPrefix}/{tenant}). Default /entra. `mcpgate entra-emulator` serves it
	// at the root.
	PathPrefix string `yaml:"pathPrefix,omitempty" json:"pathPrefix,omitempty"`
	// Tenants are the directories (Entra ID > Overview).
	Tenants []EntraTenant `yaml:"tenants" json:"tenants"`
	// Apps are the app registrations (Entra ID > App registrations). Each has a home tenant;
	// multi-tenant apps (signInAudience AzureADMultipleOrgs) work in every tenant.
	Apps []EntraApp `yaml:"apps" json:"apps"`
	// AccessTokenLifetime is the lifetime of access tokens. Default 75m (Entra picks 60–90
	// minutes at random).
	AccessTokenLifetime Duration `yaml:"accessTokenLifetime,omitempty" json:"accessTokenLifetime,omitempty"`
	// IDTokenLifetime is the lifetime of id_tokens. Default 1h.
	IDTokenLifetime Duration `yaml:"idTokenLifetime,omitempty" json:"idTokenLifetime,omitempty"`
	// RefreshTokenLifetime is the lifetime of refresh tokens. Default 24h.
	RefreshTokenLifetime Duration `yaml:"refreshTokenLifetime,omitempty" json:"refreshTokenLifetime,omitempty"`
	// DeviceCodeLifetime is how long a device code can be redeemed. Default 15m.
	DeviceCodeLifetime Duration `yaml:"deviceCodeLifetime,omitempty" json:"deviceCodeLifetime,omitempty"`
	// GroupOverageThreshold is the number of groups above which the groups claim is replaced
	// by the overage indicator (_claim_names/_claim_sources). Default 200, as for JWTs in Entra.
	GroupOverageThreshold int `yaml:"groupOverageThreshold,omitempty" json:"groupOverageThreshold,omitempty"`
	// AutoLogin signs this user (userPrincipalName) in without showing the login form. For
	// automated tests only; never use it on a shared host.
	AutoLogin string `yaml:"autoLogin,omitempty" json:"autoLogin,omitempty"`
	// SigningKeyFile is a PEM RSA private key (PKCS#1 or PKCS#8) that signs tokens. Default: a
	// fresh 2048-bit key per start, so tokens do not survive a restart.
	SigningKeyFile string `yaml:"signingKeyFile,omitempty" json:"signingKeyFile,omitempty"`
}

// EntraTenant is one directory.
type EntraTenant struct {
	// ID is the tenant id (GUID), the tid claim.
	ID string `yaml:"id" json:"id"`
	// Domains are the tenant's domain names (contoso.onmicrosoft.com, contoso.com); any of them
	// can stand in for the GUID in URLs.
	Domains []string `yaml:"domains,omitempty" json:"domains,omitempty"`
	// DisplayName is the organisation name.
	DisplayName string `yaml:"displayName,omitempty" json:"displayName,omitempty"`
	// Users in this tenant.
	Users []EntraUser `yaml:"users,omitempty" json:"users,omitempty"`
	// Groups in this tenant (security groups).
	Groups []EntraGroup `yaml:"groups,omitempty" json:"groups,omitempty"`
	// AdminConsent lists the apps (client id or name) for which an administrator pressed
	// "Grant admin consent for <tenant>": every permission in the app's
	// requiredResourceAccess is then granted for every user of this tenant, and application
	// permissions (roles) are granted to the app itself.
	AdminConsent []string `yaml:"adminConsent,omitempty" json:"adminConsent,omitempty"`
	// ConditionalAccess are Conditional Access policies evaluated when a user token is issued.
	ConditionalAccess []EntraConditionalAccess `yaml:"conditionalAccess,omitempty" json:"conditionalAccess,omitempty"`
	// IDJAGGrants let apps of this tenant exchange a user's id_token for an ID-JAG
	// (enterprise-managed authorization, entra_idjag.go); nothing else may.
	IDJAGGrants []EntraIDJAGGrant `yaml:"idJagGrants,omitempty" json:"idJagGrants,omitempty"`
}

// EntraUser is a user account.
type EntraUser struct {
	// ObjectID is the user's object id (GUID), the oid claim.
	ObjectID string `yaml:"objectId" json:"objectId"`
	// UserPrincipalName is the sign-in name (alice@contoso.onmicrosoft.com).
	UserPrincipalName string `yaml:"userPrincipalName" json:"userPrincipalName"`
	// DisplayName is the name claim.
	DisplayName string `yaml:"displayName,omitempty" json:"displayName,omitempty"`
	// Mail is the email claim (optional claim in Entra; emitted when set).
	Mail string `yaml:"mail,omitempty" json:"mail,omitempty"`
	// Password for the login form and the (deprecated) password grant.
	Password string `yaml:"password" json:"password"`
	// MFACode is the one-time code the login form asks for when a Conditional Access policy
	// requires MFA. Default 123456.
	MFACode string `yaml:"mfaCode,omitempty" json:"mfaCode,omitempty"`
	// Groups the user is a member of (group ids or display names of this tenant).
	Groups []string `yaml:"groups,omitempty" json:"groups,omitempty"`
	// AppRoles assigned to the user (Enterprise applications > Users and groups).
	AppRoles []EntraAppRoleAssignment `yaml:"appRoles,omitempty" json:"appRoles,omitempty"`
	// Consents are delegated permissions this user consented to for a client app.
	Consents []EntraUserConsent `yaml:"consents,omitempty" json:"consents,omitempty"`
}

// EntraAppRoleAssignment assigns one app role of one app.
type EntraAppRoleAssignment struct {
	// App is the resource app (client id or name).
	App string `yaml:"app" json:"app"`
	// Role is the app role value.
	Role string `yaml:"role" json:"role"`
}

// EntraUserConsent is a user's consent for a client app.
type EntraUserConsent struct {
	// Client is the client app (client id or name).
	Client string `yaml:"client" json:"client"`
	// Scopes are fully qualified delegated permissions (api://…/Files.Read, or
	// https://graph.microsoft.com/User.Read).
	Scopes []string `yaml:"scopes" json:"scopes"`
}

// EntraGroup is a security group.
type EntraGroup struct {
	// ID is the group's object id (GUID), as it appears in the groups claim.
	ID string `yaml:"id" json:"id"`
	// DisplayName is the group name.
	DisplayName string `yaml:"displayName,omitempty" json:"displayName,omitempty"`
}

// EntraConditionalAccess is a Conditional Access policy: when a listed user gets a token for
// a listed resource app without having done MFA, the token endpoint answers
// interaction_required with a claims challenge (AADSTS50076).
type EntraConditionalAccess struct {
	// Name of the policy.
	Name string `yaml:"name" json:"name"`
	// ID is the policy id (GUID) carried in the claims challenge. Default: derived from the name.
	ID string `yaml:"id,omitempty" json:"id,omitempty"`
	// Users the policy applies to (userPrincipalName or object id); "*" is everyone.
	Users []string `yaml:"users" json:"users"`
	// Apps are the target resources (client id, App ID URI or name); "*" is every app.
	Apps []string `yaml:"apps" json:"apps"`
	// Require is the grant control. Only "mfa" is supported.
	Require string `yaml:"require,omitempty" json:"require,omitempty" jsonschema:"enum=mfa"`
}

// EntraApp is an app registration.
type EntraApp struct {
	// Name is the display name.
	Name string `yaml:"name" json:"name"`
	// ClientID is the Application (client) ID (GUID), the appid/azp claim and the v2 audience.
	ClientID string `yaml:"clientId" json:"clientId"`
	// Tenant is the home tenant (GUID or domain). Default: the first tenant.
	Tenant string `yaml:"tenant,omitempty" json:"tenant,omitempty"`
	// SignInAudience is AzureADMyOrg (default, single tenant) or AzureADMultipleOrgs.
	SignInAudience string `yaml:"signInAudience,omitempty" json:"signInAudience,omitempty" jsonschema:"enum=AzureADMyOrg,enum=AzureADMultipleOrgs"`
	// IdentifierURIs are the App ID URIs (Expose an API > Application ID URI), e.g.
	// api://<clientId>; the first is the v1 audience.
	IdentifierURIs []string `yaml:"identifierUris,omitempty" json:"identifierUris,omitempty"`
	// AccessTokenAcceptedVersion is the manifest's api.requestedAccessTokenVersion: 1 (default,
	// like null) or 2. It decides the format of access tokens issued FOR this app.
	AccessTokenAcceptedVersion int `yaml:"accessTokenAcceptedVersion,omitempty" json:"accessTokenAcceptedVersion,omitempty" jsonschema:"enum=1,enum=2"`
	// RedirectURIs allowed for the authorization code flow (Authentication > Redirect URIs).
	// In the Microsoft Graph form they are publicClient.redirectUris ("Mobile and desktop
	// applications") when publicClient is true and the app has no secret or certificate, and
	// web.redirectUris otherwise.
	RedirectURIs []string `yaml:"redirectUris,omitempty" json:"redirectUris,omitempty"`
	// SPARedirectURIs are the Single-page application platform's redirect URIs
	// (Authentication > Add a platform > Single-page application; manifest spa.redirectUris):
	// the authorization code flow with PKCE from a browser. Codes and refresh tokens issued
	// to them must be redeemed cross-origin (with an Origin header, which browsers send), the
	// token endpoint answers CORS for their origins only, and their refresh tokens live 24
	// hours without sliding, as in Entra.
	SPARedirectURIs []string `yaml:"spaRedirectUris,omitempty" json:"spaRedirectUris,omitempty"`
	// ImplicitGrant lists the implicit grant flags turned on (Authentication > Implicit grant
	// and hybrid flows): idToken, accessToken. The emulator does not serve the implicit flow;
	// the flags are only exported in the Microsoft Graph form, for mcpgate doctor entra.
	ImplicitGrant []string `yaml:"implicitGrant,omitempty" json:"implicitGrant,omitempty" jsonschema:"enum=idToken,enum=accessToken"`
	// PublicClient is "Allow public client flows": device code and the code flow without a
	// client credential.
	PublicClient bool `yaml:"publicClient,omitempty" json:"publicClient,omitempty"`
	// Secrets are client secrets (Certificates & secrets > Client secrets).
	Secrets []EntraSecret `yaml:"secrets,omitempty" json:"secrets,omitempty"`
	// Certificates are uploaded certificates for client_assertion.
	Certificates []EntraCertificate `yaml:"certificates,omitempty" json:"certificates,omitempty"`
	// Scopes are delegated permissions this app exposes (Expose an API > Add a scope).
	Scopes []EntraScope `yaml:"scopes,omitempty" json:"scopes,omitempty"`
	// AppRoles this app defines (App roles).
	AppRoles []EntraAppRole `yaml:"appRoles,omitempty" json:"appRoles,omitempty"`
	// PreAuthorizedApplications may get the named scopes without consent (Expose an API >
	// Authorized client applications).
	PreAuthorizedApplications []EntraPreAuthorized `yaml:"preAuthorizedApplications,omitempty" json:"preAuthorizedApplications,omitempty"`
	// KnownClientApplications (client ids): consenting to one of them for this app also
	// consents to this app's own requiredResourceAccess (combined consent for OBO).
	KnownClientApplications []string `yaml:"knownClientApplications,omitempty" json:"knownClientApplications,omitempty"`
	// RequiredResourceAccess are the statically configured permissions (API permissions):
	// what /.default asks for and what admin consent grants.
	RequiredResourceAccess []EntraRequiredAccess `yaml:"requiredResourceAccess,omitempty" json:"requiredResourceAccess,omitempty"`
	// OptionalClaims added to tokens issued for this app: idtyp, email, groups.
	OptionalClaims []string `yaml:"optionalClaims,omitempty" json:"optionalClaims,omitempty"`
	// GroupMembershipClaims is None (default), SecurityGroup or All: whether tokens for this
	// app carry the groups claim.
	GroupMembershipClaims string `yaml:"groupMembershipClaims,omitempty" json:"groupMembershipClaims,omitempty" jsonschema:"enum=None,enum=SecurityGroup,enum=All"`
}

// EntraSecret is a client secret.
type EntraSecret struct {
	// Value of the secret. Use ${VAR} to keep it out of the file.
	Value string `yaml:"value" json:"value"`
	// Expires is the expiry date (2006-01-02 or RFC 3339). Empty: never.
	Expires string `yaml:"expires,omitempty" json:"expires,omitempty"`
}

// EntraCertificate is an uploaded certificate (public part only).
type EntraCertificate struct {
	// PEM is the certificate in PEM form.
	PEM string `yaml:"pem,omitempty" json:"pem,omitempty"`
	// File holds the PEM certificate.
	File string `yaml:"file,omitempty" json:"file,omitempty"`
}

// EntraScope is an exposed delegated permission.
type EntraScope struct {
	// Value is the scope name (Files.Read, access_as_user).
	Value string `yaml:"value" json:"value"`
	// AdminConsentRequired is "Who can consent: Admins only".
	AdminConsentRequired bool `yaml:"adminConsentRequired,omitempty" json:"adminConsentRequired,omitempty"`
	// Description is shown on the consent screen.
	Description string `yaml:"description,omitempty" json:"description,omitempty"`
}

// EntraAppRole is an app role.
type EntraAppRole struct {
	// Value is the role value in the roles claim.
	Value string `yaml:"value" json:"value"`
	// AllowedMemberTypes are User and/or Application. Default both.
	AllowedMemberTypes []string `yaml:"allowedMemberTypes,omitempty" json:"allowedMemberTypes,omitempty"`
	// Description of the role.
	Description string `yaml:"description,omitempty" json:"description,omitempty"`
}

// EntraPreAuthorized pre-authorizes a client app for some scopes.
type EntraPreAuthorized struct {
	// AppID is the client app's client id.
	AppID string `yaml:"appId" json:"appId"`
	// Scopes are scope values of this app.
	Scopes []string `yaml:"scopes" json:"scopes"`
}

// EntraRequiredAccess is one API in API permissions.
type EntraRequiredAccess struct {
	// Resource is the API (client id, App ID URI or name; "Microsoft Graph" or
	// https://graph.microsoft.com for Graph).
	Resource string `yaml:"resource" json:"resource"`
	// Scopes are delegated permissions (scope values).
	Scopes []string `yaml:"scopes,omitempty" json:"scopes,omitempty"`
	// Roles are application permissions (app role values).
	Roles []string `yaml:"roles,omitempty" json:"roles,omitempty"`
}

// SetDefaults fills in the Entra defaults. It is idempotent.
func (e *Entra) SetDefaults() {
	if e.PathPrefix == "" {
		e.PathPrefix = "/entra"
	}
	if e.AccessTokenLifetime == 0 {
		e.AccessTokenLifetime = Duration(75 * time.Minute)
	}
	if e.IDTokenLifetime == 0 {
		e.IDTokenLifetime = Duration(time.Hour)
	}
	if e.RefreshTokenLifetime == 0 {
		e.RefreshTokenLifetime = Duration(24 * time.Hour)
	}
	if e.DeviceCodeLifetime == 0 {
		e.DeviceCodeLifetime = Duration(15 * time.Minute)
	}
	if e.GroupOverageThreshold == 0 {
		e.GroupOverageThreshold = 200
	}
	for i := range e.Apps {
		a := &e.Apps[i]
		if a.SignInAudience == "" {
			a.SignInAudience = "AzureADMyOrg"
		}
		if a.AccessTokenAcceptedVersion == 0 {
			a.AccessTokenAcceptedVersion = 1
		}
		if a.Tenant == "" && len(e.Tenants) > 0 {
			a.Tenant = e.Tenants[0].ID
		}
	}
}

// ParseEntraExpiry parses a secret's expires value.
func ParseEntraExpiry(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	t, err := time.Parse("2006-01-02", s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not a date: write it like 2027-01-31 or 2027-01-31T00:00:00Z", s)
	}
	return t, nil
}

// Validate reports every problem in the Entra section under path.
func (e *Entra) Validate(path string, p *Problems) {
	if len(e.Tenants) == 0 {
		p.Add(path+".tenants", "add at least one tenant (id: a GUID, domains: [contoso.onmicrosoft.com])")
	}
	tenantKeys := map[string]bool{}
	for i, t := range e.Tenants {
		tp := fmt.Sprintf("%s.tenants[%d]", path, i)
		if !IsGUID(t.ID) {
			p.Add(tp+".id", "%q is not a GUID such as 72f988bf-86f1-41af-91ab-2d7cd011db47", t.ID)
		}
		for _, k := range append([]string{t.ID}, t.Domains...) {
			k = strings.ToLower(k)
			if tenantKeys[k] {
				p.Add(tp, "tenant id or domain %q is used twice", k)
			}
			tenantKeys[k] = true
		}
		for j, d := range t.Domains {
			if d == "" || strings.ContainsAny(d, "/: ") || !strings.Contains(d, ".") || d == "common" || d == "organizations" || d == "consumers" {
				p.Add(fmt.Sprintf("%s.domains[%d]", tp, j), "%q is not a domain name such as contoso.onmicrosoft.com", d)
			}
		}
		groups := map[string]bool{}
		for j, g := range t.Groups {
			if !IsGUID(g.ID) {
				p.Add(fmt.Sprintf("%s.groups[%d].id", tp, j), "%q is not a GUID", g.ID)
			}
			groups[strings.ToLower(g.ID)] = true
			if g.DisplayName != "" {
				groups[strings.ToLower(g.DisplayName)] = true
			}
		}
		upns := map[string]bool{}
		for j, u := range t.Users {
			up := fmt.Sprintf("%s.users[%d]", tp, j)
			if !IsGUID(u.ObjectID) {
				p.Add(up+".objectId", "%q is not a GUID", u.ObjectID)
			}
			if !strings.Contains(u.UserPrincipalName, "@") {
				p.Add(up+".userPrincipalName", "%q is not a user principal name such as alice@contoso.onmicrosoft.com", u.UserPrincipalName)
			}
			if upns[strings.ToLower(u.UserPrincipalName)] {
				p.Add(up+".userPrincipalName", "%q is used twice", u.UserPrincipalName)
			}
			upns[strings.ToLower(u.UserPrincipalName)] = true
			if u.Password == "" {
				p.Add(up+".password", "set a password so that the user can sign in")
			}
			for k, g := range u.Groups {
				if !groups[strings.ToLower(g)] {
					p.Add(fmt.Sprintf("%s.groups[%d]", up, k), "group %q is not in this tenant's groups", g)
				}
			}
			for k, r := range u.AppRoles {
				if e.findApp(r.App) == nil {
					p.Add(fmt.Sprintf("%s.appRoles[%d].app", up, k), "no app %q in entra.apps", r.App)
				}
			}
			for k, c := range u.Consents {
				if e.findApp(c.Client) == nil {
					p.Add(fmt.Sprintf("%s.consents[%d].client", up, k), "no app %q in entra.apps", c.Client)
				}
			}
		}
		for j, a := range t.AdminConsent {
			if e.findApp(a) == nil {
				p.Add(fmt.Sprintf("%s.adminConsent[%d]", tp, j), "no app %q in entra.apps", a)
			}
		}
		for j, r := range t.ConditionalAccess {
			rp := fmt.Sprintf("%s.conditionalAccess[%d]", tp, j)
			if r.Name == "" {
				p.Add(rp+".name", "name the policy")
			}
			if r.Require != "" && r.Require != "mfa" {
				p.Add(rp+".require", "%q is not supported: use mfa", r.Require)
			}
			if len(r.Users) == 0 || len(r.Apps) == 0 {
				p.Add(rp, "list users and apps (\"*\" for all)")
			}
			if r.ID != "" && !IsGUID(r.ID) {
				p.Add(rp+".id", "%q is not a GUID", r.ID)
			}
		}
	}
	ids := map[string]bool{}
	uris := map[string]bool{}
	for i, a := range e.Apps {
		ap := fmt.Sprintf("%s.apps[%d]", path, i)
		if !IsGUID(a.ClientID) {
			p.Add(ap+".clientId", "%q is not a GUID (the Application (client) ID)", a.ClientID)
		}
		if ids[strings.ToLower(a.ClientID)] {
			p.Add(ap+".clientId", "%q is used by two apps", a.ClientID)
		}
		ids[strings.ToLower(a.ClientID)] = true
		if a.Name == "" {
			p.Add(ap+".name", "give the app a display name")
		}
		if a.Tenant != "" && !tenantKeys[strings.ToLower(a.Tenant)] {
			p.Add(ap+".tenant", "%q is not one of entra.tenants (id or domain)", a.Tenant)
		}
		switch a.SignInAudience {
		case "", "AzureADMyOrg", "AzureADMultipleOrgs":
		default:
			p.Add(ap+".signInAudience", "%q is not supported: use AzureADMyOrg or AzureADMultipleOrgs", a.SignInAudience)
		}
		if v := a.AccessTokenAcceptedVersion; v != 0 && v != 1 && v != 2 {
			p.Add(ap+".accessTokenAcceptedVersion", "must be 1 or 2, not %d", v)
		}
		for j, u := range a.IdentifierURIs {
			if !strings.Contains(u, "://") {
				p.Add(fmt.Sprintf("%s.identifierUris[%d]", ap, j), "%q is not a URI such as api://%s", u, a.ClientID)
			}
			if uris[strings.ToLower(u)] {
				p.Add(fmt.Sprintf("%s.identifierUris[%d]", ap, j), "%q is used by two apps", u)
			}
			uris[strings.ToLower(u)] = true
		}
		for j, u := range a.SPARedirectURIs {
			pu, err := url.Parse(u)
			if err != nil || (pu.Scheme != "https" && pu.Scheme != "http") || pu.Host == "" || pu.Fragment != "" {
				p.Add(fmt.Sprintf("%s.spaRedirectUris[%d]", ap, j), "%q is not an absolute http(s) URL without a fragment", u)
			} else if slices.Contains(a.RedirectURIs, u) {
				p.Add(fmt.Sprintf("%s.spaRedirectUris[%d]", ap, j), "%q is also a web redirect URI: a redirect URI belongs to one platform", u)
			}
		}
		for j, s := range a.Secrets {
			if s.Value == "" {
				p.Add(fmt.Sprintf("%s.secrets[%d].value", ap, j), "empty secret")
			}
			if s.Expires != "" {
				if _, err := ParseEntraExpiry(s.Expires); err != nil {
					p.Add(fmt.Sprintf("%s.secrets[%d].expires", ap, j), "%v", err)
				}
			}
		}
		for j, c := range a.Certificates {
			if (c.PEM == "") == (c.File == "") {
				p.Add(fmt.Sprintf("%s.certificates[%d]", ap, j), "give exactly one of pem or file")
			}
		}
		for j, r := range a.RequiredResourceAccess {
			if e.findApp(r.Resource) == nil && !isGraph(r.Resource) {
				p.Add(fmt.Sprintf("%s.requiredResourceAccess[%d].resource", ap, j), "no app %q in entra.apps (nor Microsoft Graph)", r.Resource)
			}
		}
		for j, g := range a.ImplicitGrant {
			if g != "idToken" && g != "accessToken" {
				p.Add(fmt.Sprintf("%s.implicitGrant[%d]", ap, j), "%q is not supported: use idToken or accessToken", g)
			}
		}
		for j, o := range a.OptionalClaims {
			switch o {
			case "idtyp", "email", "groups":
			default:
				p.Add(fmt.Sprintf("%s.optionalClaims[%d]", ap, j), "%q is not supported: use idtyp, email or groups", o)
			}
		}
		switch a.GroupMembershipClaims {
		case "", "None", "SecurityGroup", "All":
		default:
			p.Add(ap+".groupMembershipClaims", "%q is not one of None, SecurityGroup, All", a.GroupMembershipClaims)
		}
	}
	if e.AutoLogin != "" {
		found := false
		for _, t := range e.Tenants {
			for _, u := range t.Users {
				if strings.EqualFold(u.UserPrincipalName, e.AutoLogin) {
					found = true
				}
			}
		}
		if !found {
			p.Add(path+".autoLogin", "no user %q in any tenant", e.AutoLogin)
		}
		p.Warn(path+".autoLogin", "signs %s in without a password: for tests only", e.AutoLogin)
	}
}

func isGraph(s string) bool {
	switch strings.ToLower(strings.TrimRight(s, "/")) {
	case "microsoft graph", "https://graph.microsoft.com", "00000003-0000-0000-c000-000000000000":
		return true
	}
	return false
}

func (e *Entra) findApp(ref string) *EntraApp {
	for i := range e.Apps {
		a := &e.Apps[i]
		if strings.EqualFold(a.ClientID, ref) || a.Name == ref {
			return a
		}
		for _, u := range a.IdentifierURIs {
			if strings.EqualFold(u, ref) {
				return a
			}
		}
	}
	return nil
}

func init() {
	extensionValidators = append(extensionValidators, func(c *Config, p *Problems) {
		if c.Entra == nil {
			return
		}
		c.Entra.SetDefaults()
		c.Entra.Validate("entra", p)
	})
}

// LoadEntra reads a standalone Entra emulator file (the entra section at the top level),
// strictly (unknown keys are errors), with ${VAR} expansion, defaults and validation.
func LoadEntra(path string) (*Entra, []string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("reading entra config: %w", err)
	}
	return ParseEntra(path, data, os.LookupEnv)
}

// ParseEntra decodes a standalone Entra emulator document. name is used in messages.
func ParseEntra(name string, data []byte, lookup func(string) (string, bool)) (*Entra, []string, error) {
	var root yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&root); err != nil {
		return nil, nil, fmt.Errorf("%s: %v", name, err)
	}
	var problems []string
	if lookup != nil {
		expandNode(&root, lookup, &problems, name)
	}
	checkKeys(&root, reflect.TypeOf(Entra{}), "", name, &problems)
	if len(problems) > 0 {
		return nil, nil, &Errors{File: name, Problems: problems}
	}
	var e Entra
	if err := root.Decode(&e); err != nil {
		return nil, nil, fmt.Errorf("%s: %s", name, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	e.SetDefaults()
	var p Problems
	e.Validate("entra", &p)
	// Paths are relative to the file's top level, which is the entra section.
	for i := range p.list {
		p.list[i] = strings.TrimPrefix(p.list[i], "entra.")
	}
	for i := range p.warnings {
		p.warnings[i] = strings.TrimPrefix(p.warnings[i], "entra.")
	}
	if len(p.list) > 0 {
		return nil, p.warnings, &Errors{File: name, Problems: p.list}
	}
	return &e, p.warnings, nil
}
