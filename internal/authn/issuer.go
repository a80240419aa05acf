package authn

import (
	"slices"
	"strings"
	"time"
)

// defaultAlgorithms are the asymmetric JWS algorithms accepted when an issuer lists none.
var defaultAlgorithms = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

// issuer is the runtime form of a Issuer: the iss values it accepts (exact, or Entra
// {tenantid} templates), their key sets, and the rules for its tokens.
type issuer struct {
	name      string
	forms     []*issuerForm
	audiences []string // accepted in addition to the verifier's
	algs      []string
	skew      time.Duration
	claims    claimNames
	required  []string
	entra     *entraRules
}

// issuerForm is one accepted iss value.
type issuerForm struct {
	iss     string // exact value, or a template containing {tenantid}
	prefix  string // template: the part before {tenantid}
	suffix  string // template: the part after
	tmpl    bool
	version int // Entra token version (1 or 2); 0 for other issuers
	keys    *KeySet
}

// entraRules are the Entra-specific checks of an issuer.
type entraRules struct {
	tenant         string          // GUID, or organizations/common
	multiTenant    bool            //
	allowedTenants map[string]bool // lower-case GUIDs
	versions       []int
	v1Prefix       string // https://sts.windows.net/
	v2Prefix       string // {authority}/
	scopeHint      string // e.g. api://x/.default, for descriptions
}

const tenantPlaceholder = "{tenantid}"

// match reports whether iss is this form (for a template: with some tenant in place of
// {tenantid}) and returns the tenant for a template.
func (f *issuerForm) match(iss string) (tid string, ok bool) {
	if !f.tmpl {
		return "", iss == f.iss
	}
	if len(iss) <= len(f.prefix)+len(f.suffix) || !strings.HasPrefix(iss, f.prefix) || !strings.HasSuffix(iss, f.suffix) {
		return "", false
	}
	return iss[len(f.prefix) : len(iss)-len(f.suffix)], true
}

// displayIssuers lists the accepted iss values of the issuers, for descriptions.
func displayIssuers(iss []*issuer) string {
	var out []string
	for _, is := range iss {
		for _, f := range is.forms {
			if !slices.Contains(out, f.iss) {
				out = append(out, f.iss)
			}
		}
	}
	return cleanList(out)
}

// claimNames are the claims that hold the principal's fields.
type claimNames struct {
	subject, name, groups, roles string
	email, scopes, clientID      []string // tried in order
}

func newClaimNames(m *ClaimMapping) claimNames {
	c := claimNames{
		subject: "sub", name: "name", groups: "groups", roles: "roles",
		email:    []string{"email", "preferred_username", "upn"},
		scopes:   []string{"scope", "scp"},
		clientID: []string{"client_id", "azp", "appid"},
	}
	if m == nil {
		return c
	}
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	set(&c.subject, m.Subject)
	set(&c.name, m.Name)
	set(&c.groups, m.Groups)
	set(&c.roles, m.Roles)
	if m.Email != "" {
		c.email = []string{m.Email}
	}
	if m.Scopes != "" {
		c.scopes = []string{m.Scopes}
	}
	if m.ClientID != "" {
		c.clientID = []string{m.ClientID}
	}
	return c
}
