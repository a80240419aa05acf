package authserver

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/mcpgate/mcpgate/internal/authn"
	"github.com/mcpgate/mcpgate/internal/clip"
	"github.com/mcpgate/mcpgate/internal/config"
	"github.com/mcpgate/mcpgate/internal/store"
)

// Enterprise-managed authorization: the MCP extension
// io.modelcontextprotocol/enterprise-managed-authorization, an application of the Identity
// Assertion JWT Authorization Grant (draft-ietf-oauth-identity-assertion-authz-grant, ID-JAG).
// An enterprise IdP issues the ID-JAG by RFC 8693 token exchange (handler_idjag_issue.go,
// when this server is that IdP); a resource authorization server exchanges it for an access
// token with the RFC 7523 jwt-bearer grant (handler_idjag.go). See
// docs/enterprise-managed-authorization.md.
const (
	// GrantTypeJWTBearer is the RFC 7523 grant the ID-JAG is presented with.
	GrantTypeJWTBearer = "urn:ietf:params:oauth:grant-type:jwt-bearer"
	// TokenTypeIDJAG is the RFC 8693 token type of an ID-JAG.
	TokenTypeIDJAG = "urn:ietf:params:oauth:token-type:id-jag"
	// TokenTypeIDToken and TokenTypeRefreshToken are the subject token types an IdP accepts.
	TokenTypeIDToken      = "urn:ietf:params:oauth:token-type:id_token"
	TokenTypeRefreshToken = "urn:ietf:params:oauth:token-type:refresh_token"
	// GrantProfileIDJAG is advertised in authorization_grant_profiles_supported.
	GrantProfileIDJAG = "urn:ietf:params:oauth:grant-profile:id-jag"
	// IDJAGJWTType is the typ header of an ID-JAG.
	IDJAGJWTType = "oauth-id-jag+jwt"
	// ClaimIDJAGIssuer and ClaimIDJAGIdP mark access tokens minted from an ID-JAG: the
	// enterprise IdP's issuer and its configured name (policy and audit see them in the
	// principal's claims).
	ClaimIDJAGIssuer = "idjag_iss"
	ClaimIDJAGIdP    = authn.ClaimIDJAGIdP
)

// EnterpriseIdP is an enterprise identity provider whose ID-JAGs the server accepts.
type EnterpriseIdP struct {
	// Name identifies the IdP (logs, the idjag_idp claim, provisioned subjects <name>:<user>).
	Name string
	// Issuer is the IdP's exact iss.
	Issuer string
	// JWKSURL, JWKSFile or JWKS (inline JSON) give the keys; none: OpenID Connect discovery.
	JWKSURL, JWKSFile, JWKS string
	// Algorithms allowed (default RS256, ES256; none and HMAC are refused whatever is listed).
	Algorithms []string
	// ClockSkew on exp and iat (default 60s); MaxLifetime bounds exp - iat (default 10m).
	ClockSkew, MaxLifetime time.Duration
	// UserClaim identifies the user (default sub).
	UserClaim string
	// Users is provision (default) or existing (see config.AuthServerEnterpriseIdP).
	Users string
	// Claims and GroupMapping/DropUnmappedGroups make a provisioned user, as for connectors.
	Claims             config.ConnectorClaims
	GroupMapping       map[string][]string
	DropUnmappedGroups bool
}

// IDJAGIssuance makes the server an enterprise IdP that issues ID-JAGs.
type IDJAGIssuance struct {
	// Lifetime of an ID-JAG (default 5m).
	Lifetime time.Duration
	// Claims are the user claims added to each ID-JAG (email, name, preferred_username, groups).
	Claims []string
	// Grants are the allowed (client, audience, resources, scopes) combinations.
	Grants []IDJAGGrant
}

// IDJAGGrant allows Client to obtain ID-JAGs for Audience (a resource AS issuer) and
// Resources (MCP server URLs); Scopes bound the scopes (empty: unchecked).
type IDJAGGrant struct {
	Client, Audience  string
	Resources, Scopes []string
}

// idjagOptionsFromConfig maps authServer.enterpriseIdPs and authServer.idJag.
func idjagOptionsFromConfig(a *config.AuthServer, o *Options) {
	for _, e := range a.EnterpriseIdPs {
		o.EnterpriseIdPs = append(o.EnterpriseIdPs, EnterpriseIdP{Name: e.Name, Issuer: e.Issuer, JWKSURL: e.JWKSURL, JWKSFile: e.JWKSFile,
			JWKS: e.JWKS, Algorithms: e.Algorithms, ClockSkew: e.ClockSkew.D(), MaxLifetime: e.MaxLifetime.D(), UserClaim: e.UserClaim,
			Users: e.Users, Claims: e.Claims, GroupMapping: e.GroupMapping, DropUnmappedGroups: e.DropUnmappedGroups})
	}
	if j := a.IDJAG; j != nil {
		o.IDJAG = &IDJAGIssuance{Lifetime: j.Lifetime.D(), Claims: j.Claims}
		for _, g := range j.Grants {
			o.IDJAG.Grants = append(o.IDJAG.Grants, IDJAGGrant{Client: g.Client, Audience: g.Audience, Resources: g.Resources, Scopes: g.Scopes})
		}
	}
}

// idjagState is what the server needs for ID-JAGs: one verifier per trusted IdP.
type idjagState struct {
	registry *authn.Registry
	idps     map[string]*trustedIdP // by issuer
}

type trustedIdP struct {
	EnterpriseIdP
	verifier *authn.JWTVerifier
}

// initIDJAG builds the verifiers of the trusted enterprise IdPs. Remote keys load in the
// background (an unreachable IdP does not stop the server; its ID-JAGs are refused with a
// server_error until its keys load). ctx bounds the key refresh loops.
func (s *Server) initIDJAG(ctx context.Context) error {
	if len(s.opts.EnterpriseIdPs) == 0 {
		return nil
	}
	var issuers []authn.Issuer
	st := &idjagState{idps: map[string]*trustedIdP{}}
	for i := range s.opts.EnterpriseIdPs {
		e := &s.opts.EnterpriseIdPs[i]
		if e.Name == "" || e.Issuer == "" {
			return fmt.Errorf("enterprise IdP %d: name and issuer are required", i)
		}
		if len(e.Algorithms) == 0 {
			e.Algorithms = []string{"RS256", "ES256"}
		}
		for _, a := range e.Algorithms {
			if strings.EqualFold(a, "none") || strings.HasPrefix(strings.ToUpper(a), "HS") {
				return fmt.Errorf("enterprise IdP %s: algorithm %s is never accepted for ID-JAGs", e.Name, a)
			}
		}
		if e.ClockSkew == 0 {
			e.ClockSkew = time.Minute
		}
		if e.MaxLifetime == 0 {
			e.MaxLifetime = 10 * time.Minute
		}
		if e.UserClaim == "" {
			e.UserClaim = "sub"
		}
		if e.Users == "" {
			e.Users = config.EnterpriseUsersProvision
		}
		if st.idps[e.Issuer] != nil {
			return fmt.Errorf("enterprise IdP %s: issuer %s is trusted twice", e.Name, e.Issuer)
		}
		st.idps[e.Issuer] = &trustedIdP{EnterpriseIdP: *e}
		issuers = append(issuers, authn.Issuer{Name: "idjag:" + e.Name, Issuer: e.Issuer, JWKSURL: e.JWKSURL, JWKSFile: e.JWKSFile,
			JWKS: e.JWKS, Algorithms: e.Algorithms, ClockSkew: e.ClockSkew})
	}
	// The token cache is off: every ID-JAG is checked in full (and used once).
	reg, err := authn.NewRegistry(ctx, issuers, authn.Options{Logger: s.log, CacheSize: -1, Now: s.opts.Now})
	if err != nil {
		return fmt.Errorf("loading the keys of the enterprise IdPs: %w", err)
	}
	// aud must be our issuer; a trailing slash is the same issuer.
	auds := []string{s.issuer, s.issuer + "/"}
	for _, idp := range st.idps {
		if idp.verifier, err = reg.Verifier([]string{"idjag:" + idp.Name}, auds); err != nil {
			reg.Close()
			return err
		}
	}
	st.registry = reg
	s.idjag = st
	s.log.Info("enterprise-managed authorization on", "idps", len(st.idps))
	return nil
}

// idjagRefusal is why an ID-JAG was refused: check names the failed check (logged and
// part of the invalid_grant description).
type idjagRefusal struct {
	check, description string
}

func refuse(check, format string, args ...any) *idjagRefusal {
	return &idjagRefusal{check: check, description: fmt.Sprintf(format, args...)}
}

func (r *idjagRefusal) Error() string { return "ID-JAG " + r.check + " check failed: " + r.description }

// idjagGrant is a verified ID-JAG and what it grants.
type idjagGrant struct {
	idp      *trustedIdP
	claims   map[string]any
	subject  string
	jti      string
	expiry   time.Time
	resource string
	scopes   []string
	identity Identity
}

// checkIDJAG verifies an ID-JAG presented by client, in the order of the draft's
// processing rules: typ; iss trusted; alg, signature, aud, exp and iat (authn's verifier
// with the IdP's keys); sub, jti, iat present; lifetime bounded; client_id; resource; scope
// (granted = requested ∩ asserted); the user; finally jti not used before (recorded until
// exp, in the store). A technical failure (keys unavailable, store down) is an error that
// is not an *idjagRefusal.
func (s *Server) checkIDJAG(ctx context.Context, client string, assertion string, requestedScope string, requestedResources []string) (*idjagGrant, error) {
	parts := strings.Split(assertion, ".")
	if len(parts) != 3 {
		return nil, refuse("format", "the assertion is not a signed JWT (compact JWS)")
	}
	var hdr struct {
		Typ string `json:"typ"`
	}
	if b, err := base64.RawURLEncoding.DecodeString(parts[0]); err != nil || json.Unmarshal(b, &hdr) != nil {
		return nil, refuse("format", "the assertion's JOSE header is not valid base64url JSON")
	}
	if t := strings.ToLower(hdr.Typ); t != IDJAGJWTType && t != "application/"+IDJAGJWTType {
		if hdr.Typ == "" {
			return nil, refuse("typ", "the assertion has no typ header; an ID-JAG has typ %s", IDJAGJWTType)
		}
		return nil, refuse("typ", "the assertion's typ is %q, not %s", clip.String(hdr.Typ), IDJAGJWTType)
	}
	var unverified struct {
		Iss string `json:"iss"`
	}
	if b, err := base64.RawURLEncoding.DecodeString(parts[1]); err != nil || json.Unmarshal(b, &unverified) != nil {
		return nil, refuse("format", "the assertion's claims are not valid base64url JSON")
	}
	if s.idjag == nil {
		return nil, refuse("iss", "this server trusts no enterprise IdP (authServer.enterpriseIdPs is empty)")
	}
	idp := s.idjag.idps[unverified.Iss]
	if idp == nil {
		return nil, refuse("iss", "the issuer %q is not a trusted enterprise IdP", clip.String(unverified.Iss))
	}
	p, err := idp.verifier.Verify(ctx, assertion)
	if err != nil {
		var ae *authn.Error
		if !errors.As(err, &ae) {
			return nil, fmt.Errorf("verifying an ID-JAG of %s: %w", idp.Name, err)
		}
		check := map[string]string{
			authn.ReasonMalformed: "format", authn.ReasonAlgNotAllowed: "alg", authn.ReasonBadSignature: "signature",
			authn.ReasonUnknownKID: "signature", authn.ReasonExpired: "exp", authn.ReasonNotYetValid: "iat",
			authn.ReasonWrongIssuer: "iss", authn.ReasonWrongAudience: "aud", authn.ReasonMissingClaim: "claims",
		}[ae.Reason]
		if check == "" {
			check = ae.Reason
		}
		desc := ae.Description
		switch check {
		case "aud":
			desc = "the ID-JAG's aud is not this authorization server's issuer " + s.issuer
		case "alg":
			desc = "the signature algorithm is not allowed for " + idp.Name + " (allowed: " + strings.Join(idp.Algorithms, ", ") + "; never none or HMAC)"
		case "signature":
			desc = "the signature does not verify with " + idp.Name + "'s keys"
		case "exp":
			desc = "the ID-JAG has expired"
		case "iat":
			desc = "the ID-JAG's iat (or nbf) is in the future beyond the allowed clock skew"
		}
		return nil, refuse(check, "%s", desc)
	}
	c := p.Claims
	g := &idjagGrant{idp: idp, claims: c}
	str := func(name string) string { v, _ := c[name].(string); return v }
	if g.subject = str("sub"); g.subject == "" {
		return nil, refuse("sub", "the ID-JAG has no sub claim")
	}
	if g.jti = str("jti"); g.jti == "" {
		return nil, refuse("jti", "the ID-JAG has no jti claim; this profile requires one for replay detection")
	}
	if p.IssuedAt.IsZero() {
		return nil, refuse("iat", "the ID-JAG has no iat claim")
	}
	g.expiry = p.ExpiresAt
	if g.expiry.Sub(p.IssuedAt) > idp.MaxLifetime {
		return nil, refuse("lifetime", "the ID-JAG is valid for %s (exp - iat); at most %s is accepted", g.expiry.Sub(p.IssuedAt).Round(time.Second), idp.MaxLifetime)
	}
	if cid := str("client_id"); cid != client {
		if cid == "" {
			return nil, refuse("client_id", "the ID-JAG has no client_id claim")
		}
		return nil, refuse("client_id", "the ID-JAG was issued for client %q, not for the authenticated client %q", clip.String(cid), clip.String(client))
	}

	res := str("resource")
	if res == "" {
		return nil, refuse("resource", "the ID-JAG has no resource claim naming the MCP server")
	}
	aud, oerr := s.resolveResources([]string{res})
	if oerr != nil {
		return nil, refuse("resource", "the ID-JAG's resource %q is not an MCP server of this authorization server", clip.String(res))
	}
	g.resource = aud[0]
	if len(requestedResources) > 0 {
		want, _ := s.resolveResources(requestedResources) // validated by handleToken
		if len(want) != 1 || want[0] != g.resource {
			return nil, refuse("resource", "the resource parameter differs from the ID-JAG's resource claim")
		}
	}

	asserted := strings.Fields(str("scope"))
	granted := asserted
	if requested := strings.Fields(requestedScope); len(requested) > 0 {
		granted = nil
		for _, sc := range requested {
			if slices.Contains(asserted, sc) && !slices.Contains(granted, sc) {
				granted = append(granted, sc)
			}
		}
		if len(granted) == 0 {
			return nil, refuse("scope", "none of the requested scopes is in the ID-JAG's scope claim")
		}
	}
	if len(s.opts.Scopes) > 0 {
		known := s.supportedScopes()
		granted = slices.DeleteFunc(slices.Clone(granted), func(sc string) bool { return !slices.Contains(known, sc) })
	}
	g.scopes = granted

	id, err := s.idjagUser(ctx, idp, c)
	if err != nil {
		return nil, err
	}
	g.identity = id

	// Last: a replayed jti, scoped by issuer, kept until exp plus the clock skew (after which
	// the ID-JAG itself is refused as expired).
	if err := s.useAssertion(ctx, "idjag\x00"+idp.Issuer+"\x00"+g.jti, g.expiry.Add(idp.ClockSkew)); err != nil {
		return nil, err
	}
	return g, nil
}

// idjagUser maps the ID-JAG's user onto an mcpgate identity.
func (s *Server) idjagUser(ctx context.Context, idp *trustedIdP, c map[string]any) (Identity, error) {
	key := claimText(c, idp.UserClaim)
	if key == "" {
		return Identity{}, refuse("user", "the ID-JAG has no %q claim, which identifies the user", idp.UserClaim)
	}
	if idp.Users == config.EnterpriseUsersExisting {
		id, err := s.lookupIdentity(ctx, key)
		if errors.Is(err, ErrUnknownUser) {
			id, err = s.userByName(ctx, key)
		}
		if errors.Is(err, ErrUnknownUser) {
			return Identity{}, refuse("user", "the user is not known to this server (enterpriseIdPs users: existing)")
		}
		if err != nil {
			return Identity{}, fmt.Errorf("looking up the ID-JAG's user: %w", err)
		}
		return id, nil
	}
	m := idp.Claims
	id := Identity{UserID: idp.Name + ":" + key}
	id.Username = firstClaim(c, m.Username, "preferred_username", "email")
	id.Email = firstClaim(c, m.Email, "email")
	id.Name = firstClaim(c, m.Name, "name")
	groups := append(authn.ClaimStrings(c[orDefaultClaim(m.Groups, "groups")], true), authn.ClaimStrings(c[orDefaultClaim(m.Roles, "roles")], true)...)
	id.Groups = mapGroups(groups, idp.GroupMapping, idp.DropUnmappedGroups)
	return id, nil
}

// userByName finds a local user (config or store) by username.
func (s *Server) userByName(ctx context.Context, name string) (Identity, error) {
	for _, u := range s.opts.Users {
		if strings.EqualFold(u.Username, name) {
			return configIdentity(u), nil
		}
	}
	u, err := s.store.GetUserByUsername(ctx, name)
	if errors.Is(err, store.ErrNotFound) || (err == nil && u.Disabled) {
		return Identity{}, ErrUnknownUser
	}
	if err != nil {
		return Identity{}, err
	}
	return storeIdentity(u), nil
}

func claimText(c map[string]any, name string) string {
	switch v := c[name].(type) {
	case string:
		return v
	case float64:
		return fmt.Sprint(v)
	}
	return ""
}

func firstClaim(c map[string]any, configured string, defaults ...string) string {
	if configured != "" {
		return claimText(c, configured)
	}
	for _, d := range defaults {
		if v := claimText(c, d); v != "" {
			return v
		}
	}
	return ""
}

func orDefaultClaim(v, d string) string {
	if v != "" {
		return v
	}
	return d
}

// mapGroups applies a group mapping the way connectors do (federation's groupMapping):
// mapped names replace a group (matched exactly, then case-insensitively); unmapped ones are
// kept unless dropUnmapped.
func mapGroups(in []string, mapping map[string][]string, dropUnmapped bool) []string {
	var out []string
	add := func(g string) {
		if g != "" && !slices.Contains(out, g) {
			out = append(out, g)
		}
	}
	for _, g := range in {
		to, ok := mapping[g]
		if !ok {
			for k, v := range mapping {
				if strings.EqualFold(k, g) {
					to, ok = v, true
					break
				}
			}
		}
		if ok {
			for _, t := range to {
				add(t)
			}
		} else if !dropUnmapped {
			add(g)
		}
	}
	return out
}
