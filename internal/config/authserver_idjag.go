package config

import (
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// Enterprise-managed authorization (MCP extension
// io.modelcontextprotocol/enterprise-managed-authorization, draft-ietf-oauth-identity-
// assertion-authz-grant): docs/enterprise-managed-authorization.md.

// User handling of an enterprise IdP.
const (
	EnterpriseUsersProvision = "provision"
	EnterpriseUsersExisting  = "existing"
)

// AuthServerEnterpriseIdP is an enterprise identity provider whose Identity Assertion JWT
// Authorization Grants (ID-JAG) this authorization server accepts at /token
// (grant_type urn:ietf:params:oauth:grant-type:jwt-bearer).
type AuthServerEnterpriseIdP struct {
	// Name identifies the IdP in logs, in the idjag_idp claim of the access tokens, and in
	// the subjects of provisioned users (<name>:<user claim>): lower-case letters, digits
	// and dashes.
	Name string `yaml:"name" json:"name"`
	// Issuer is the IdP's exact iss value. With no JWKS source given, OpenID Connect
	// discovery at {issuer}/.well-known/openid-configuration finds its keys.
	Issuer string `yaml:"issuer" json:"issuer"`
	// JWKSURL is the IdP's key set URL (instead of discovery).
	JWKSURL string `yaml:"jwksURL,omitempty" json:"jwksURL,omitempty"`
	// JWKSFile is a local JWKS file (re-read when an ID-JAG names an unknown kid).
	JWKSFile string `yaml:"jwksFile,omitempty" json:"jwksFile,omitempty"`
	// JWKS is an inline JWKS document (JSON).
	JWKS string `yaml:"jwks,omitempty" json:"jwks,omitempty"`
	// Algorithms allowed for ID-JAG signatures. Default RS256 and ES256. none and the HMAC
	// algorithms are always refused.
	Algorithms []string `yaml:"algorithms,omitempty" json:"algorithms,omitempty"`
	// ClockSkew tolerated on exp and iat. Default 60s.
	ClockSkew Duration `yaml:"clockSkew,omitempty" json:"clockSkew,omitempty"`
	// MaxLifetime bounds exp - iat of an ID-JAG. Default 10m; at most 1h.
	MaxLifetime Duration `yaml:"maxLifetime,omitempty" json:"maxLifetime,omitempty"`
	// UserClaim names the claim that identifies the user. Default sub.
	UserClaim string `yaml:"userClaim,omitempty" json:"userClaim,omitempty"`
	// Users is provision (default: the user is taken from the ID-JAG, subject
	// <name>:<user claim>, email, name and groups from the claims below) or existing (the
	// user claim must be the subject or username of a user this server already knows; the
	// token then carries that user's own email, name and groups).
	Users string `yaml:"users,omitempty" json:"users,omitempty" jsonschema:"enum=provision,enum=existing"`
	// Claims names the ID-JAG claims that make a provisioned user (defaults: email,
	// preferred_username, name, groups, roles). Subject is ignored: userClaim decides.
	Claims ConnectorClaims `yaml:"claims,omitempty" json:"claims,omitempty"`
	// GroupMapping maps the IdP's groups to mcpgate groups, as for connectors.
	GroupMapping map[string][]string `yaml:"groupMapping,omitempty" json:"groupMapping,omitempty"`
	// DropUnmappedGroups keeps only groups listed in groupMapping.
	DropUnmappedGroups bool `yaml:"dropUnmappedGroups,omitempty" json:"dropUnmappedGroups,omitempty"`
	// AllowPrivateAddresses allows http and loopback/private addresses for discovery and the
	// JWKS URL. For local development and tests only.
	AllowPrivateAddresses bool `yaml:"allowPrivateAddresses,omitempty" json:"allowPrivateAddresses,omitempty"`
}

// AuthServerIDJAG makes this authorization server an enterprise IdP: it issues ID-JAGs by
// RFC 8693 token exchange (requested_token_type urn:ietf:params:oauth:token-type:id-jag) of
// a user's ID token or refresh token, to the clients and for the (audience, resource) pairs
// listed in grants, and to no one else.
type AuthServerIDJAG struct {
	// Lifetime of an issued ID-JAG. Default 5m; at most 10m.
	Lifetime Duration `yaml:"lifetime,omitempty" json:"lifetime,omitempty"`
	// Claims lists the user claims added to every ID-JAG besides the required ones (iss,
	// sub, aud, client_id, jti, exp, iat, resource, scope): any of email, name,
	// preferred_username, groups. Default none (data minimization).
	Claims []string `yaml:"claims,omitempty" json:"claims,omitempty"`
	// Grants are the allowed (client, audience, resource) combinations.
	Grants []AuthServerIDJAGGrant `yaml:"grants" json:"grants"`
}

// AuthServerIDJAGGrant allows one client to obtain ID-JAGs for one resource authorization server.
type AuthServerIDJAGGrant struct {
	// Client is the client_id (a confidential client of this server with the token-exchange grant).
	Client string `yaml:"client" json:"client"`
	// Audience is the resource authorization server's issuer URL.
	Audience string `yaml:"audience" json:"audience"`
	// Resources are the MCP server URLs (RFC 9728 resource identifiers) of that server the
	// client may ask for. Empty: only requests without a resource.
	Resources []string `yaml:"resources,omitempty" json:"resources,omitempty"`
	// Scopes bound the scopes an ID-JAG may carry (the granted scopes are the requested
	// ones that are listed here; all of them when the request names none). Empty: the
	// requested scopes, unchecked.
	Scopes []string `yaml:"scopes,omitempty" json:"scopes,omitempty"`
}

// IDJAGUserClaims are the claims AuthServerIDJAG.Claims may list.
var IDJAGUserClaims = []string{"email", "name", "preferred_username", "groups"}

func init() { extensionValidators = append(extensionValidators, validateIDJAG) }

func validateIDJAG(c *Config, p *Problems) {
	a := c.AuthServer
	if a == nil {
		return
	}
	checkURL := func(path, v string, private bool) {
		u, err := url.Parse(v)
		switch {
		case err != nil || !u.IsAbs() || u.Host == "":
			p.Add(path, "%q is not an absolute URL", v)
		case u.Scheme != "https" && !private:
			p.Add(path, "%q must be https (set allowPrivateAddresses: true only for local development)", v)
		}
	}
	names, issuers := map[string]bool{}, map[string]bool{}
	for i, e := range a.EnterpriseIdPs {
		path := "authServer.enterpriseIdPs[" + strconv.Itoa(i) + "]"
		switch {
		case e.Name == "":
			p.Add(path+".name", "is required: it names the IdP in logs, tokens and provisioned subjects")
		case !connectorIDPattern.MatchString(e.Name):
			p.Add(path+".name", "%q must be lower-case letters, digits and dashes (at most 40)", e.Name)
		case e.Name == "local" || e.Name == "config":
			p.Add(path+".name", "%q is reserved for local users; choose another name", e.Name)
		case names[e.Name]:
			p.Add(path+".name", "%q is defined twice", e.Name)
		}
		names[e.Name] = true
		if e.Issuer == "" {
			p.Add(path+".issuer", "is required: the IdP's exact iss value")
		} else {
			checkURL(path+".issuer", e.Issuer, e.AllowPrivateAddresses)
			if issuers[e.Issuer] {
				p.Add(path+".issuer", "%q is trusted twice", e.Issuer)
			}
			issuers[e.Issuer] = true
		}
		n := 0
		for _, s := range []string{e.JWKSURL, e.JWKSFile, e.JWKS} {
			if s != "" {
				n++
			}
		}
		if n > 1 {
			p.Add(path, "give at most one of jwksURL, jwksFile and jwks (none: OpenID Connect discovery at the issuer)")
		}
		if e.JWKSURL != "" {
			checkURL(path+".jwksURL", e.JWKSURL, e.AllowPrivateAddresses)
		}
		for j, alg := range e.Algorithms {
			if !slices.Contains([]string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}, alg) {
				p.Add(path+".algorithms["+strconv.Itoa(j)+"]", "%q is not allowed: use asymmetric algorithms (RS256, ES256, PS256, EdDSA ...); none and HMAC are never accepted", alg)
			}
		}
		if e.MaxLifetime.D() < 0 || e.MaxLifetime.D() > 3600e9 {
			p.Add(path+".maxLifetime", "must be at most 1h (ID-JAGs are short-lived; default 10m)")
		}
		switch e.Users {
		case "", EnterpriseUsersProvision, EnterpriseUsersExisting:
		default:
			p.Add(path+".users", "%q is not one of provision, existing", e.Users)
		}
		if e.AllowPrivateAddresses {
			p.Warn(path+".allowPrivateAddresses", "is on: http and private addresses are allowed for this IdP's keys; use only for local development")
		}
	}
	if j := a.IDJAG; j != nil {
		if j.Lifetime.D() < 0 || j.Lifetime.D() > 600e9 {
			p.Add("authServer.idJag.lifetime", "must be at most 10m (default 5m)")
		}
		for i, cl := range j.Claims {
			if !slices.Contains(IDJAGUserClaims, cl) {
				p.Add("authServer.idJag.claims["+strconv.Itoa(i)+"]", "%q is not one of %s", cl, strings.Join(IDJAGUserClaims, ", "))
			}
		}
		if len(j.Grants) == 0 {
			p.Warn("authServer.idJag.grants", "is empty: no client can obtain an ID-JAG")
		}
		clients := map[string]AuthServerClient{}
		for _, cl := range a.Clients {
			clients[cl.ID] = cl
		}
		for i, g := range j.Grants {
			path := "authServer.idJag.grants[" + strconv.Itoa(i) + "]"
			if g.Client == "" {
				p.Add(path+".client", "is required")
			} else if cl, ok := clients[g.Client]; ok && (cl.Secret == "" || !slices.Contains(cl.GrantTypes, "urn:ietf:params:oauth:grant-type:token-exchange")) {
				p.Add(path+".client", "%q must be a confidential client (secret) with the urn:ietf:params:oauth:grant-type:token-exchange grant type", g.Client)
			}
			if g.Audience == "" {
				p.Add(path+".audience", "is required: the issuer URL of the resource authorization server")
			} else {
				checkURL(path+".audience", g.Audience, true)
			}
			for k, r := range g.Resources {
				checkURL(path+".resources["+strconv.Itoa(k)+"]", r, true)
			}
		}
	}
}
