package entraemulator

import (
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/mcpgate/mcpgate/internal/config"
)

// Enterprise-managed authorization (ID-JAG, draft-ietf-oauth-identity-assertion-authz-grant):
// the emulator acts as the enterprise IdP. A confidential app exchanges a user's id_token
// (issued to that app by this tenant) for an Identity Assertion JWT Authorization Grant for a
// resource authorization server, if the tenant's idJagGrants allow that app, audience and
// resource. Errors are AADSTS-style.
const (
	grantTokenExchange    = "urn:ietf:params:oauth:grant-type:token-exchange"
	tokenTypeIDJAG        = "urn:ietf:params:oauth:token-type:id-jag"
	tokenTypeIDToken      = "urn:ietf:params:oauth:token-type:id_token"
	idjagLifetime         = 5 * time.Minute
	idjagJWTType          = "oauth-id-jag+jwt"
	aadstsNoIDJAGMapping  = 500011 // the resource principal was not found (what Entra answers for an unknown resource)
	aadstsBadSubjectToken = 50013
)

func (em *Emulator) grantIDJAG(r *http.Request, t *tenant) (map[string]any, *aadError) {
	f := r.PostForm
	if f.Get("requested_token_type") != tokenTypeIDJAG {
		return nil, newErr(400, "unsupported_grant_type", 70003,
			"The app requested an unsupported grant type 'urn:ietf:params:oauth:grant-type:token-exchange' with requested_token_type '%s'; only %s is supported.", f.Get("requested_token_type"), tokenTypeIDJAG)
	}
	client, _, e := em.authClient(r, t, true)
	if e != nil {
		return nil, e
	}
	if t == nil {
		return nil, invalidRequest(90002, "ID-JAGs are issued by one tenant: use the tenant id in the token endpoint, not organizations or common.")
	}
	if f.Get("subject_token_type") != tokenTypeIDToken {
		return nil, invalidRequest(900144, "The request body must contain the following parameter: 'subject_token_type' with the value %s.", tokenTypeIDToken)
	}
	audience, resource := f.Get("audience"), f.Get("resource")
	if audience == "" {
		return nil, invalidRequest(900144, "The request body must contain the following parameter: 'audience'.")
	}
	grant := em.idjagGrant(t, client, audience, resource)
	if grant == nil {
		return nil, newErr(400, "invalid_target", aadstsNoIDJAGMapping,
			"The resource principal named %s was not found in the tenant named %s, or application '%s'(%s) may not request ID-JAGs for it%s. An administrator adds it to the tenant's idJagGrants.",
			audience, tenantDisplay(t), client.name, client.clientID, map[bool]string{true: "", false: " and resource " + resource}[resource == ""])
	}
	claims, e := em.verifyOwnToken(r, f.Get("subject_token"))
	if e != nil {
		return nil, e
	}
	if _, ok := claims["scp"]; ok || claims["idtyp"] == "app" {
		return nil, invalidGrant(aadstsBadSubjectToken, "Assertion failed signature validation. [Reason - The subject_token is an access token, not an id_token.]")
	}
	if aud, _ := claims.GetAudience(); len(aud) != 1 || !strings.EqualFold(aud[0], client.clientID) {
		return nil, invalidGrant(aadstsBadSubjectToken, "Assertion failed signature validation. [Reason - The id_token was issued to '%s', not to the client app '%s'.]", strings.Join(aud, " "), client.clientID)
	}
	if tid, _ := claims["tid"].(string); !strings.EqualFold(tid, t.id) {
		return nil, invalidGrant(aadstsBadSubjectToken, "Assertion failed signature validation. [Reason - The id_token was issued for tenant '%s', not the tenant of this request.]", tid)
	}
	oid, _ := claims["oid"].(string)
	u := t.userByOID(oid)
	if u == nil {
		return nil, invalidGrant(50034, "The user account {EmailHidden} does not exist in the %s directory.", tenantDisplay(t))
	}
	scopes := grant.Scopes
	if req := strings.Fields(f.Get("scope")); len(req) > 0 {
		scopes = req
		if len(grant.Scopes) > 0 {
			scopes = slices.DeleteFunc(slices.Clone(req), func(s string) bool { return !slices.Contains(grant.Scopes, s) })
			if len(scopes) == 0 {
				return nil, invalidScope(70011, "The provided value for the input parameter 'scope' is not valid. None of the scopes %s may be granted to '%s' for %s.", f.Get("scope"), client.clientID, audience)
			}
		}
	}
	now := em.now().Truncate(time.Second)
	c := jwt.MapClaims{
		"iss": em.base(r) + "/" + t.id + "/v2.0", "sub": u.oid, "aud": audience, "client_id": client.clientID,
		"jti": randToken(16), "iat": now.Unix(), "exp": now.Add(idjagLifetime).Unix(),
		"tid": t.id, "oid": u.oid, "preferred_username": u.upn, "name": u.cfg.DisplayName,
	}
	if resource != "" {
		c["resource"] = resource
	}
	if len(scopes) > 0 {
		c["scope"] = strings.Join(scopes, " ")
	}
	if u.cfg.Mail != "" {
		c["email"] = u.cfg.Mail
	}
	if len(u.groupIDs) > 0 && len(u.groupIDs) <= em.cfg.GroupOverageThreshold {
		c["groups"] = u.groupIDs
	}
	em.log.InfoContext(r.Context(), "entra: ID-JAG issued", "tenant", t.id, "client_id", client.clientID, "oid", u.oid, "audience", audience, "resource", resource)
	return map[string]any{
		"access_token":      em.sign(c, map[string]any{"kid": em.sig.kid, "typ": idjagJWTType}),
		"issued_token_type": tokenTypeIDJAG,
		"token_type":        "N_A",
		"expires_in":        int(idjagLifetime.Seconds()),
		"scope":             strings.Join(scopes, " "),
	}, nil
}

// idjagGrant finds the tenant's grant for client, audience and resource (trailing slashes
// do not matter).
func (em *Emulator) idjagGrant(t *tenant, client *app, audience, resource string) *config.EntraIDJAGGrant {
	same := func(a, b string) bool { return strings.EqualFold(strings.TrimRight(a, "/"), strings.TrimRight(b, "/")) }
	for _, tc := range em.cfg.Tenants {
		if !strings.EqualFold(tc.ID, t.id) {
			continue
		}
		for i := range tc.IDJAGGrants {
			g := &tc.IDJAGGrants[i]
			if em.dir.findApp(g.Client) != client || !same(g.Audience, audience) {
				continue
			}
			if (resource == "" && len(g.Resources) == 0) || (resource != "" && slices.ContainsFunc(g.Resources, func(x string) bool { return same(x, resource) })) {
				return g
			}
		}
	}
	return nil
}
