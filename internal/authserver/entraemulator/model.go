package entraemulator

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mcpgate/mcpgate/internal/config"
)

// GraphAppID is the client id of Microsoft Graph, the default resource of bare scope names.
const GraphAppID = "00000003-0000-0000-c000-000000000000"

// GraphResource is Microsoft Graph's App ID URI.
const GraphResource = "https://graph.microsoft.com"

type tenant struct {
	id           string
	domains      []string
	displayName  string
	users        []*user
	groups       map[string]string // lower(id or name) → id
	adminConsent map[string]bool   // client id
	ca           []caRule
}

type caRule struct {
	name, id string
	users    []string
	apps     []string
}

type user struct {
	cfg      config.EntraUser
	oid      string
	upn      string
	tenant   *tenant
	groupIDs []string
	roles    map[string][]string // resource client id → role values
}

type secret struct {
	value   string
	expires time.Time
}

type app struct {
	cfg         config.EntraApp
	clientID    string
	name        string
	home        *tenant
	multi       bool
	uris        []string
	version     int
	scopes      map[string]config.EntraScope // by value
	roles       map[string]config.EntraAppRole
	secrets     []secret
	certs       []*x509.Certificate
	preAuth     map[string][]string // client id → scope values
	knownClient map[string]bool
	required    map[string]*config.EntraRequiredAccess // resource client id → access
	optional    map[string]bool
	groupsClaim bool
	spa         map[string]bool // Single-page application redirect URIs
}

// directory is the compiled, read-only view of config.Entra plus the mutable consent state.
type directory struct {
	tenants []*tenant
	byKey   map[string]*tenant // lower(id or domain)
	apps    []*app
	appByID map[string]*app
	// spaOrigins are the origins of every SPA redirect URI: the only origins the token
	// endpoint answers CORS for.
	spaOrigins map[string]bool

	mu       sync.Mutex
	consents map[string]map[string]bool // tid|oid|client → fully qualified scope
}

func newDirectory(c *config.Entra) (*directory, error) {
	d := &directory{byKey: map[string]*tenant{}, appByID: map[string]*app{}, consents: map[string]map[string]bool{}, spaOrigins: map[string]bool{}}
	for _, tc := range c.Tenants {
		t := &tenant{id: strings.ToLower(tc.ID), domains: tc.Domains, displayName: tc.DisplayName,
			groups: map[string]string{}, adminConsent: map[string]bool{}}
		if t.displayName == "" {
			t.displayName = t.id
		}
		for _, g := range tc.Groups {
			id := strings.ToLower(g.ID)
			t.groups[id] = id
			if g.DisplayName != "" {
				t.groups[strings.ToLower(g.DisplayName)] = id
			}
		}
		for _, r := range tc.ConditionalAccess {
			id := r.ID
			if id == "" {
				id = guidFrom("capolicy", t.id, r.Name)
			}
			t.ca = append(t.ca, caRule{name: r.Name, id: strings.ToLower(id), users: r.Users, apps: r.Apps})
		}
		d.tenants = append(d.tenants, t)
		d.byKey[t.id] = t
		for _, dom := range tc.Domains {
			d.byKey[strings.ToLower(dom)] = t
		}
	}
	d.addApp(graphApp(), nil)
	for _, ac := range c.Apps {
		home := d.byKey[strings.ToLower(ac.Tenant)]
		if home == nil {
			return nil, fmt.Errorf("app %s: home tenant %q is not configured", ac.Name, ac.Tenant)
		}
		if err := d.addApp(ac, home); err != nil {
			return nil, err
		}
	}
	// Second pass: references that need every app.
	for _, a := range d.apps {
		for i := range a.cfg.RequiredResourceAccess {
			r := &a.cfg.RequiredResourceAccess[i]
			res := d.findApp(r.Resource)
			if res == nil {
				return nil, fmt.Errorf("app %s: requiredResourceAccess resource %q is not an app", a.name, r.Resource)
			}
			a.required[res.clientID] = r
		}
	}
	for i, tc := range c.Tenants {
		t := d.tenants[i]
		for _, ref := range tc.AdminConsent {
			a := d.findApp(ref)
			if a == nil {
				return nil, fmt.Errorf("tenant %s: adminConsent app %q is not an app", t.id, ref)
			}
			t.adminConsent[a.clientID] = true
		}
		for _, uc := range tc.Users {
			u := &user{cfg: uc, oid: strings.ToLower(uc.ObjectID), upn: uc.UserPrincipalName, tenant: t, roles: map[string][]string{}}
			if u.cfg.MFACode == "" {
				u.cfg.MFACode = "123456"
			}
			for _, g := range uc.Groups {
				id, ok := t.groups[strings.ToLower(g)]
				if !ok {
					return nil, fmt.Errorf("user %s: group %q is not in tenant %s", u.upn, g, t.id)
				}
				u.groupIDs = append(u.groupIDs, id)
			}
			for _, r := range uc.AppRoles {
				a := d.findApp(r.App)
				if a == nil {
					return nil, fmt.Errorf("user %s: app %q is not an app", u.upn, r.App)
				}
				u.roles[a.clientID] = append(u.roles[a.clientID], r.Role)
			}
			for _, cons := range uc.Consents {
				a := d.findApp(cons.Client)
				if a == nil {
					return nil, fmt.Errorf("user %s: consent client %q is not an app", u.upn, cons.Client)
				}
				for _, s := range cons.Scopes {
					d.grantUserConsent(t.id, u.oid, a.clientID, s)
				}
			}
			t.users = append(t.users, u)
		}
	}
	return d, nil
}

func graphApp() config.EntraApp {
	return config.EntraApp{
		Name: "Microsoft Graph", ClientID: GraphAppID, SignInAudience: "AzureADMultipleOrgs",
		IdentifierURIs: []string{GraphResource}, AccessTokenAcceptedVersion: 1,
		Scopes: []config.EntraScope{
			{Value: "User.Read"}, {Value: "User.ReadBasic.All"}, {Value: "Mail.Read"}, {Value: "Files.Read"},
			{Value: "Calendars.Read"}, {Value: "GroupMember.Read.All", AdminConsentRequired: true},
			{Value: "Directory.Read.All", AdminConsentRequired: true}, {Value: "User.Read.All", AdminConsentRequired: true},
			{Value: "Application.Read.All", AdminConsentRequired: true},
		},
		AppRoles: []config.EntraAppRole{
			{Value: "User.Read.All", AllowedMemberTypes: []string{"Application"}},
			{Value: "Directory.Read.All", AllowedMemberTypes: []string{"Application"}},
			{Value: "GroupMember.Read.All", AllowedMemberTypes: []string{"Application"}},
			{Value: "Application.Read.All", AllowedMemberTypes: []string{"Application"}},
		},
	}
}

func (d *directory) addApp(ac config.EntraApp, home *tenant) error {
	a := &app{cfg: ac, clientID: strings.ToLower(ac.ClientID), name: ac.Name, home: home,
		multi: ac.SignInAudience == "AzureADMultipleOrgs", uris: ac.IdentifierURIs, version: ac.AccessTokenAcceptedVersion,
		scopes: map[string]config.EntraScope{}, roles: map[string]config.EntraAppRole{}, preAuth: map[string][]string{},
		knownClient: map[string]bool{}, required: map[string]*config.EntraRequiredAccess{}, optional: map[string]bool{}, spa: map[string]bool{}}
	for _, u := range ac.SPARedirectURIs {
		a.spa[u] = true
		if o := originOf(u); o != "" {
			d.spaOrigins[o] = true
		}
	}
	if a.version == 0 {
		a.version = 1
	}
	for _, s := range ac.Scopes {
		a.scopes[s.Value] = s
	}
	for _, r := range ac.AppRoles {
		a.roles[r.Value] = r
	}
	for _, s := range ac.Secrets {
		sec := secret{value: s.Value}
		if s.Expires != "" {
			t, err := config.ParseEntraExpiry(s.Expires)
			if err != nil {
				return fmt.Errorf("app %s: %w", a.name, err)
			}
			sec.expires = t
		}
		a.secrets = append(a.secrets, sec)
	}
	for i, c := range ac.Certificates {
		data := []byte(c.PEM)
		if c.File != "" {
			var err error
			if data, err = os.ReadFile(c.File); err != nil {
				return fmt.Errorf("app %s: certificate %d: %w", a.name, i, err)
			}
		}
		blk, _ := pem.Decode(data)
		if blk == nil || blk.Type != "CERTIFICATE" {
			return fmt.Errorf("app %s: certificate %d is not a PEM CERTIFICATE", a.name, i)
		}
		cert, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return fmt.Errorf("app %s: certificate %d: %w", a.name, i, err)
		}
		a.certs = append(a.certs, cert)
	}
	for _, p := range ac.PreAuthorizedApplications {
		a.preAuth[strings.ToLower(p.AppID)] = p.Scopes
	}
	for _, k := range ac.KnownClientApplications {
		a.knownClient[strings.ToLower(k)] = true
	}
	for _, o := range ac.OptionalClaims {
		a.optional[o] = true
	}
	a.groupsClaim = ac.GroupMembershipClaims == "SecurityGroup" || ac.GroupMembershipClaims == "All" || a.optional["groups"]
	d.apps = append(d.apps, a)
	d.appByID[a.clientID] = a
	return nil
}

// tenant resolves a URL tenant segment. ok is false for an unknown tenant; t is nil for
// common/organizations.
func (d *directory) tenant(seg string) (t *tenant, ok bool) {
	switch s := strings.ToLower(seg); s {
	case "common", "organizations":
		return nil, true
	default:
		t = d.byKey[s]
		return t, t != nil
	}
}

// findApp finds an app by client id, App ID URI or display name.
func (d *directory) findApp(ref string) *app {
	if a := d.appByID[strings.ToLower(ref)]; a != nil {
		return a
	}
	r := strings.TrimRight(strings.ToLower(ref), "/")
	for _, a := range d.apps {
		for _, u := range a.uris {
			if strings.TrimRight(strings.ToLower(u), "/") == r {
				return a
			}
		}
	}
	for _, a := range d.apps {
		if a.name == ref {
			return a
		}
	}
	return nil
}

// inTenant reports whether the app has a service principal in t.
func (a *app) inTenant(t *tenant) bool {
	return a.home == nil || a.multi || a.home == t
}

// audience is the v1 audience (first App ID URI, else the client id).
func (a *app) v1Audience() string {
	if len(a.uris) > 0 {
		return a.uris[0]
	}
	return a.clientID
}

// resourceID is how fully qualified scopes name the app.
func (a *app) resourceID() string {
	if len(a.uris) > 0 {
		return strings.TrimRight(a.uris[0], "/")
	}
	return a.clientID
}

// isIdentifier reports whether s names this app (client id or an App ID URI).
func (a *app) isIdentifier(s string) bool {
	s = strings.TrimRight(s, "/")
	if strings.EqualFold(s, a.clientID) {
		return true
	}
	for _, u := range a.uris {
		if strings.EqualFold(strings.TrimRight(u, "/"), s) {
			return true
		}
	}
	return false
}

// redirectURIs are the redirect URIs of every platform (web or mobile and desktop, then SPA).
func (a *app) redirectURIs() []string {
	return append(slices.Clip(a.cfg.RedirectURIs), a.cfg.SPARedirectURIs...)
}

func (a *app) confidential() bool { return len(a.secrets) > 0 || len(a.certs) > 0 }

// spObjectID is the app's service principal object id in a tenant (oid/sub of app tokens).
func (a *app) spObjectID(t *tenant) string { return guidFrom("sp", t.id, a.clientID) }

func (t *tenant) userByUPN(upn string) *user {
	for _, u := range t.users {
		if strings.EqualFold(u.upn, upn) {
			return u
		}
	}
	return nil
}

func (t *tenant) userByOID(oid string) *user {
	for _, u := range t.users {
		if strings.EqualFold(u.oid, oid) {
			return u
		}
	}
	return nil
}

// userByUPN searches every tenant (for common/organizations sign-in).
func (d *directory) userByUPN(upn string) *user {
	for _, t := range d.tenants {
		if u := t.userByUPN(upn); u != nil {
			return u
		}
	}
	return nil
}

func consentKey(tid, oid, client string) string { return tid + "|" + oid + "|" + client }

func (d *directory) grantUserConsent(tid, oid, client, scope string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	k := consentKey(tid, oid, client)
	if d.consents[k] == nil {
		d.consents[k] = map[string]bool{}
	}
	d.consents[k][strings.ToLower(scope)] = true
}

// consented reports whether client may get the delegated scope of res for user u: the
// client is the resource itself, is pre-authorized, has admin consent in the tenant for a
// configured permission, or the user consented (directly or through a known client
// application's combined consent).
func (d *directory) consented(u *user, client, res *app, scope string) bool {
	if client == res {
		return true
	}
	if slices.Contains(res.preAuth[client.clientID], scope) {
		return true
	}
	if u.tenant.adminConsent[client.clientID] {
		if r := client.required[res.clientID]; r != nil && slices.Contains(r.Scopes, scope) {
			return true
		}
	}
	full := strings.ToLower(res.resourceID() + "/" + scope)
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.consents[consentKey(u.tenant.id, u.oid, client.clientID)][full]
}

// needsAdmin reports whether a scope can only be consented by an administrator.
func (res *app) needsAdmin(scope string) bool { return res.scopes[scope].AdminConsentRequired }

// appRoles are the application permissions of res granted to client in t (admin consent).
func (d *directory) appRoles(t *tenant, client, res *app) []string {
	if !t.adminConsent[client.clientID] {
		return nil
	}
	r := client.required[res.clientID]
	if r == nil {
		return nil
	}
	var out []string
	for _, role := range r.Roles {
		if ar, ok := res.roles[role]; ok && allows(ar, "Application") {
			out = append(out, role)
		}
	}
	return out
}

// userRoles are the app roles of res assigned to u.
func (u *user) userRoles(res *app) []string {
	var out []string
	for _, role := range u.roles[res.clientID] {
		if ar, ok := res.roles[role]; ok && allows(ar, "User") {
			out = append(out, role)
		}
	}
	return out
}

func allows(r config.EntraAppRole, kind string) bool {
	return len(r.AllowedMemberTypes) == 0 || slices.Contains(r.AllowedMemberTypes, kind)
}

// caRequired returns the Conditional Access policies that require MFA for u calling res.
func (t *tenant) caRequired(u *user, res *app) []caRule {
	var out []caRule
	for _, r := range t.ca {
		uMatch := slices.ContainsFunc(r.users, func(s string) bool {
			return s == "*" || strings.EqualFold(s, u.upn) || strings.EqualFold(s, u.oid)
		})
		aMatch := slices.ContainsFunc(r.apps, func(s string) bool {
			return s == "*" || res.isIdentifier(s) || s == res.name
		})
		if uMatch && aMatch {
			out = append(out, r)
		}
	}
	return out
}

// guidFrom derives a stable GUID-shaped id from parts.
func guidFrom(parts ...string) string {
	h := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	b := h[:16]
	b[6] = (b[6] & 0x0f) | 0x40
	b[8] = (b[8] & 0x3f) | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
