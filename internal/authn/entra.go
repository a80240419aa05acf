package authn

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/MicahParks/jwkset"

	"github.com/mcpgate/mcpgate/internal/guid"
)

// EntraV1IssuerPrefix is the host part of Entra v1 access-token issuers
// (https://sts.windows.net/{tid}/).
const EntraV1IssuerPrefix = "https://sts.windows.net/"

// DefaultEntraAuthority is the Entra login host.
const DefaultEntraAuthority = "https://login.microsoftonline.com"

// EntraIssuers returns the iss values of Entra v1 and v2 access tokens for a tenant (a
// GUID, or organizations/common, which gives the {tenantid} templates).
func EntraIssuers(authority, tenant string) (v1, v2 string) {
	if authority == "" {
		authority = DefaultEntraAuthority
	}
	t := tenant
	if isMultiTenant(tenant) {
		t = tenantPlaceholder
	}
	return EntraV1IssuerPrefix + t + "/", trimSlash(authority) + "/" + t + "/v2.0"
}

// EntraKeysURLs returns the JWKS URLs for a tenant: {authority}/{tenant}/discovery/keys (v1)
// and {authority}/{tenant}/discovery/v2.0/keys (v2).
func EntraKeysURLs(authority, tenant string) (v1, v2 string) {
	if authority == "" {
		authority = DefaultEntraAuthority
	}
	base := trimSlash(authority) + "/" + tenant
	return base + "/discovery/keys", base + "/discovery/v2.0/keys"
}

func isMultiTenant(t string) bool {
	return strings.EqualFold(t, "organizations") || strings.EqualFold(t, "common")
}

// buildEntra expands an Entra preset: both token versions' issuer forms (a disallowed
// version is recognised, then rejected with version_not_allowed), key sets for the allowed
// versions, and the clientId/appIdUri audiences (both forms are accepted for both versions,
// as Entra can emit either).
func (r *Registry) buildEntra(rt *issuer, is Issuer, hc *http.Client,
	explicitKeys func() (*KeySet, bool, error),
	mk func(string, func(context.Context) ([]byte, error), jwkset.Storage, string) (*KeySet, error)) error {
	e := is.Entra
	if e.Tenant == "" {
		return fmt.Errorf("entra.tenant is required")
	}
	multi := isMultiTenant(e.Tenant)
	tenant := strings.ToLower(e.Tenant) // Entra writes GUIDs in lower case in iss and tid
	if !multi && !guid.Valid(e.Tenant) {
		return fmt.Errorf("entra.tenant %q is not a tenant GUID nor organizations/common", e.Tenant)
	}
	if multi && len(e.AllowedTenants) == 0 {
		return fmt.Errorf("entra.allowedTenants is required for a multi-tenant (%s) issuer", e.Tenant)
	}
	authority := trimSlash(e.Authority)
	if authority == "" {
		authority = DefaultEntraAuthority
	}
	versions := e.Versions
	if len(versions) == 0 {
		versions = []int{1, 2}
	}
	rules := &entraRules{
		tenant: tenant, multiTenant: multi, allowedTenants: map[string]bool{},
		versions: versions, v1Prefix: EntraV1IssuerPrefix, v2Prefix: authority + "/",
	}
	for _, t := range e.AllowedTenants {
		if !guid.Valid(t) {
			return fmt.Errorf("entra.allowedTenants: %q is not a tenant GUID", t)
		}
		rules.allowedTenants[strings.ToLower(t)] = true
	}
	for _, a := range []string{e.ClientID, e.AppIDURI} {
		if a != "" && !slices.Contains(rt.audiences, a) {
			rt.audiences = append(rt.audiences, a)
		}
	}
	switch {
	case e.AppIDURI != "":
		rules.scopeHint = trimSlash(e.AppIDURI) + "/.default"
	case e.ClientID != "":
		rules.scopeHint = e.ClientID + "/.default"
	}
	rt.entra = rules

	v1iss, v2iss := EntraIssuers(authority, tenant)
	v1keys, v2keys := EntraKeysURLs(authority, tenant)
	explicit, hasExplicit, err := explicitKeys()
	if err != nil {
		return err
	}
	for _, f := range []struct {
		version  int
		iss, url string
	}{{1, v1iss, v1keys}, {2, v2iss, v2keys}} {
		form := &issuerForm{iss: f.iss, version: f.version}
		if i := strings.Index(f.iss, tenantPlaceholder); i >= 0 {
			form.tmpl, form.prefix, form.suffix = true, f.iss[:i], f.iss[i+len(tenantPlaceholder):]
		}
		if slices.Contains(versions, f.version) {
			if hasExplicit {
				form.keys = explicit
			} else if form.keys, err = mk("url:"+f.url, urlLoader(hc, f.url), nil, ""); err != nil {
				return err
			}
		}
		rt.forms = append(rt.forms, form)
	}
	return nil
}

// versionFromClaim maps Entra's ver claim to 1 or 2 (0 when absent or unknown).
func versionFromClaim(v any) int {
	s, _ := v.(string)
	switch s {
	case "1.0":
		return 1
	case "2.0":
		return 2
	}
	return 0
}

// entraIssuerFor returns the iss of the given version for tenant tid.
func (e *entraRules) issuerFor(version int, tid string) string {
	if version == 1 {
		return e.v1Prefix + tid + "/"
	}
	return e.v2Prefix + tid + "/v2.0"
}

// AuthorizationServer returns the issuer URL to publish for is in Protected Resource
// Metadata (RFC 9728 authorization_servers): is.Issuer, or for an Entra preset the v2
// authority {authority}/{tenant}/v2.0 (with organizations/common kept as given), whose
// /.well-known/openid-configuration MCP clients can read.
//
// A plain issuer in Entra's v1 form (https://sts.windows.net/{tid}/) is not an authorization
// server: nothing is served there that an MCP client can sign in with. It is published as the
// v2 authority of the same tenant, on the host its jwksUrl names when that is an Entra keys
// URL ({authority}/{tid}/discovery/keys, as for the emulator), else login.microsoftonline.com.
func AuthorizationServer(is Issuer) string {
	if is.Entra == nil {
		if tid, ok := EntraV1Tenant(is.Issuer); ok {
			authority := DefaultEntraAuthority
			for _, suffix := range []string{"/" + tid + "/discovery/keys", "/" + tid + "/discovery/v2.0/keys"} {
				if a, found := strings.CutSuffix(strings.ToLower(is.JWKSURL), suffix); found && a != "" {
					authority = is.JWKSURL[:len(a)]
				}
			}
			return trimSlash(authority) + "/" + tid + "/v2.0"
		}
		return is.Issuer
	}
	authority := trimSlash(is.Entra.Authority)
	if authority == "" {
		authority = DefaultEntraAuthority
	}
	return authority + "/" + strings.ToLower(is.Entra.Tenant) + "/v2.0"
}

// EntraV1Tenant returns the tenant of an Entra v1 issuer (https://sts.windows.net/{tid}/).
func EntraV1Tenant(iss string) (string, bool) {
	rest, ok := strings.CutPrefix(iss, EntraV1IssuerPrefix)
	if !ok {
		return "", false
	}
	tid := strings.TrimSuffix(rest, "/")
	if !guid.Valid(tid) {
		return "", false
	}
	return strings.ToLower(tid), true
}

// EntraV2Tenant returns the tenant of an Entra v2 issuer on the public cloud
// (https://login.microsoftonline.com/{tid}/v2.0).
func EntraV2Tenant(iss string) (string, bool) {
	rest, ok := strings.CutPrefix(iss, DefaultEntraAuthority+"/")
	if !ok {
		return "", false
	}
	tid, ok := strings.CutSuffix(strings.TrimSuffix(rest, "/"), "/v2.0")
	if !ok || !guid.Valid(tid) {
		return "", false
	}
	return strings.ToLower(tid), true
}

// EntraScopePrefix returns the prefix that qualifies the route's bare scope names for an
// Entra issuer, so that a client asking Entra for them names mcpgate's API (a bare name
// resolves to Microsoft Graph, AADSTS650053): the preset's appIdUri, else its clientId, else
// the first audience of the route that is an App ID URI or a GUID. ok is false for issuers
// that are not Entra.
func EntraScopePrefix(is Issuer, audiences []string) (prefix string, ok bool) {
	if e := is.Entra; e != nil {
		switch {
		case e.AppIDURI != "":
			return trimSlash(e.AppIDURI), true
		case e.ClientID != "":
			return e.ClientID, true
		}
	} else {
		_, v1 := EntraV1Tenant(is.Issuer)
		_, v2 := EntraV2Tenant(is.Issuer)
		if !v1 && !v2 {
			return "", false
		}
	}
	for _, a := range append(slices.Clone(audiences), is.Audiences...) {
		if strings.HasPrefix(a, "api://") || guid.Valid(a) {
			return trimSlash(a), true
		}
	}
	return "", true
}

// QualifyEntraScope returns prefix/s for a bare scope name; scopes that already name a
// resource (contain "/"), the OpenID Connect scopes and an empty prefix leave s unchanged.
func QualifyEntraScope(prefix, s string) string {
	switch s {
	case "openid", "profile", "email", "offline_access":
		return s
	}
	if prefix == "" || strings.Contains(s, "/") {
		return s
	}
	return prefix + "/" + s
}
