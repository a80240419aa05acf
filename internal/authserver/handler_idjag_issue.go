package authserver

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/mcpgate/mcpgate/internal/clip"
	"github.com/mcpgate/mcpgate/internal/store"
)

// isIDJAGRequest reports whether a token request asks this server, as an enterprise IdP,
// for an ID-JAG (RFC 8693 with requested_token_type id-jag).
func isIDJAGRequest(r *http.Request) bool {
	return r.PostFormValue("grant_type") == string(oidc.GrantTypeTokenExchange) && r.PostFormValue("requested_token_type") == TokenTypeIDJAG
}

// handleIDJAGIssue is the IdP's side: an authenticated confidential client with the
// token-exchange grant exchanges the user's ID token (issued to that client) or refresh
// token for an ID-JAG for an (audience, resource) pair that authServer.idJag.grants allows
// it (draft-ietf-oauth-identity-assertion-authz-grant §4.3; the MCP profile's §7.6.1 pair
// check). The response is an RFC 8693 response with token_type N_A.
func (s *Server) handleIDJAGIssue(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	client, ok := s.authenticateTokenClient(w, r)
	if !ok {
		return
	}
	refuse := func(code, desc string) {
		s.log.InfoContext(ctx, "ID-JAG not issued", "error", code, "reason", desc, "client_id", client.ID,
			"audience", clip.String(r.PostFormValue("audience")), "resource", clip.Strings(r.Form["resource"]))
		writeOAuthError(w, http.StatusBadRequest, code, desc)
	}
	if s.opts.IDJAG == nil {
		refuse("unsupported_grant_type", "this server does not issue ID-JAGs (authServer.idJag is not configured)")
		return
	}
	if !slices.Contains(client.GrantTypes, string(oidc.GrantTypeTokenExchange)) {
		refuse("unauthorized_client", "this client may not use token exchange; add urn:ietf:params:oauth:grant-type:token-exchange to its grant types")
		return
	}
	audience := r.PostFormValue("audience")
	if audience == "" || len(r.Form["audience"]) > 1 {
		refuse("invalid_request", "name the resource authorization server's issuer in exactly one audience parameter")
		return
	}
	if len(r.Form["resource"]) > 1 {
		refuse("invalid_target", "an ID-JAG is for one resource; send at most one resource parameter")
		return
	}
	resource := r.PostFormValue("resource")
	grant := s.idjagGrantFor(client.ID, audience, resource)
	if grant == nil {
		if resource == "" {
			refuse("invalid_target", "this client may not obtain ID-JAGs for the audience "+clip.String(audience)+" without a resource (authServer.idJag.grants)")
		} else {
			refuse("invalid_target", "this client may not obtain ID-JAGs for the audience "+clip.String(audience)+" and resource "+clip.String(resource)+" (authServer.idJag.grants)")
		}
		return
	}

	var userID string
	var authTime time.Time
	switch r.PostFormValue("subject_token_type") {
	case TokenTypeIDToken:
		c, err := s.verifyOwnIDToken(ctx, r.PostFormValue("subject_token"), client.ID)
		if err != nil {
			refuse("invalid_grant", "subject_token: "+err.Error())
			return
		}
		userID = c.Subject
		if c.AuthTime != nil {
			authTime = c.AuthTime.Time()
		}
	case TokenTypeRefreshToken:
		t, err := s.store.GetRefreshToken(ctx, hashToken(r.PostFormValue("subject_token")))
		now := s.opts.Now()
		switch {
		case errors.Is(err, store.ErrNotFound):
			refuse("invalid_grant", "subject_token: the refresh token is unknown or expired")
			return
		case err != nil:
			oe := s.internalError(ctx, "looking up a refresh token failed", err)
			writeOAuthError(w, http.StatusInternalServerError, string(oe.ErrorType), oe.Description)
			return
		case t.Revoked || !t.UsedAt.IsZero() || !now.Before(t.ExpiresAt):
			refuse("invalid_grant", "subject_token: the refresh token was revoked, already rotated, or has expired")
			return
		case t.ClientID != client.ID:
			refuse("invalid_grant", "subject_token: the refresh token was issued to another client")
			return
		}
		userID, authTime = t.UserID, t.AuthTime
	default:
		refuse("invalid_request", "subject_token_type must be "+TokenTypeIDToken+" or "+TokenTypeRefreshToken)
		return
	}
	id, err := s.lookupIdentity(ctx, userID)
	if errors.Is(err, ErrUnknownUser) {
		refuse("invalid_grant", "subject_token: the user no longer exists")
		return
	}
	if err != nil {
		oe := s.internalError(ctx, "looking up the user failed", err)
		writeOAuthError(w, http.StatusInternalServerError, string(oe.ErrorType), oe.Description)
		return
	}

	scopes := grant.Scopes
	if sc := strings.Fields(r.PostFormValue("scope")); len(sc) > 0 {
		scopes = sc
		if len(grant.Scopes) > 0 {
			scopes = slices.DeleteFunc(slices.Clone(sc), func(x string) bool { return !slices.Contains(grant.Scopes, x) })
			if len(scopes) == 0 {
				refuse("invalid_scope", "none of the requested scopes may be granted to this client for this resource")
				return
			}
		}
	}

	tok, exp, err := s.signIDJAG(ctx, id, client.ID, audience, resource, scopes, authTime)
	if err != nil {
		oe := s.internalError(ctx, "signing an ID-JAG failed", err)
		writeOAuthError(w, http.StatusInternalServerError, string(oe.ErrorType), oe.Description)
		return
	}
	s.log.InfoContext(ctx, "ID-JAG issued", "client_id", client.ID, "sub", id.UserID, "audience", audience, "resource", resource, "scope", strings.Join(scopes, " "))
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token":      tok,
		"issued_token_type": TokenTypeIDJAG,
		"token_type":        "N_A",
		"expires_in":        int(exp.Sub(s.opts.Now()).Seconds()),
		"scope":             strings.Join(scopes, " "),
	})
}

// idjagGrantFor finds the configured grant for client, audience and resource (trailing
// slashes and case of scheme and host do not matter).
func (s *Server) idjagGrantFor(client, audience, resource string) *IDJAGGrant {
	same := func(a, b string) bool {
		ca, err1 := CanonicalResource(a)
		cb, err2 := CanonicalResource(b)
		return err1 == nil && err2 == nil && ca == cb
	}
	for i := range s.opts.IDJAG.Grants {
		g := &s.opts.IDJAG.Grants[i]
		if g.Client != client || !same(g.Audience, audience) {
			continue
		}
		if resource == "" && len(g.Resources) == 0 {
			return g
		}
		if resource != "" && slices.ContainsFunc(g.Resources, func(r string) bool { return same(r, resource) }) {
			return g
		}
	}
	return nil
}

// idTokenClaims are the claims of an ID token of this server that the exchange reads.
type idTokenClaims struct {
	Issuer   string           `json:"iss"`
	Subject  string           `json:"sub"`
	Audience jwt.Audience     `json:"aud"`
	Expiry   *jwt.NumericDate `json:"exp"`
	AuthTime *jwt.NumericDate `json:"auth_time"`
}

// verifyOwnIDToken checks an ID token this server issued to client: signature with the
// published keys, issuer, audience (the client) and expiry.
func (s *Server) verifyOwnIDToken(ctx context.Context, token, client string) (*idTokenClaims, error) {
	tok, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.ES256, jose.RS256})
	if err != nil || len(tok.Headers) != 1 {
		return nil, errors.New("not a signed JWT")
	}
	keys, err := s.keys.public(ctx)
	if err != nil {
		return nil, errors.New("the signing keys could not be loaded")
	}
	var c idTokenClaims
	var all map[string]any
	verified := false
	for _, k := range keys {
		if k.ID() == tok.Headers[0].KeyID && string(k.Algorithm()) == tok.Headers[0].Algorithm {
			verified = tok.Claims(k.Key(), &c, &all) == nil
		}
	}
	_, hasJTI := all["jti"]
	_, hasScope := all["scope"]
	switch {
	case !verified:
		return nil, errors.New("the ID token's signature does not verify with this server's keys")
	case hasJTI || hasScope:
		// Access tokens are signed with the same keys; they carry jti and scope, ID tokens do not.
		return nil, errors.New("this is an access token, not an ID token")
	case c.Issuer != s.issuer:
		return nil, errors.New("the ID token was not issued by this server")
	case !slices.Contains([]string(c.Audience), client):
		return nil, errors.New("the ID token was issued to another client")
	case c.Expiry == nil || !s.opts.Now().Before(c.Expiry.Time()):
		return nil, errors.New("the ID token has expired; sign in again")
	case c.Subject == "":
		return nil, errors.New("the ID token has no subject")
	}
	return &c, nil
}

// signIDJAG signs an ID-JAG (typ oauth-id-jag+jwt) with the current signing key.
func (s *Server) signIDJAG(ctx context.Context, id Identity, client, audience, resource string, scopes []string, authTime time.Time) (string, time.Time, error) {
	k, err := s.keys.signing(ctx)
	if err != nil {
		return "", time.Time{}, err
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: k.SignatureAlgorithm(), Key: k.priv},
		(&jose.SignerOptions{}).WithType(IDJAGJWTType).WithHeader("kid", k.ID()))
	if err != nil {
		return "", time.Time{}, err
	}
	now := s.opts.Now()
	lifetime := s.opts.IDJAG.Lifetime
	if lifetime == 0 {
		lifetime = 5 * time.Minute
	}
	exp := now.Add(lifetime)
	c := map[string]any{
		"iss": s.issuer, "sub": id.UserID, "aud": audience, "client_id": client, "jti": randomToken(16),
		"iat": now.Unix(), "exp": exp.Unix(),
	}
	if resource != "" {
		c["resource"] = resource
	}
	if len(scopes) > 0 {
		c["scope"] = strings.Join(scopes, " ")
	}
	if !authTime.IsZero() {
		c["auth_time"] = authTime.Unix()
	}
	for _, name := range s.opts.IDJAG.Claims {
		switch name {
		case "email":
			if id.Email != "" {
				c["email"] = id.Email
			}
		case "name":
			if id.Name != "" {
				c["name"] = id.Name
			}
		case "preferred_username":
			if id.Username != "" {
				c["preferred_username"] = id.Username
			}
		case "groups":
			if len(id.Groups) > 0 {
				c["groups"] = id.Groups
			}
		}
	}
	tok, err := jwt.Signed(signer).Claims(c).Serialize()
	return tok, exp, err
}

// peekClaim reads a string claim of a JWT without verifying it (for log lines about a
// refused assertion only).
func peekClaim(token, name string) (string, bool) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return "", false
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return "", false
	}
	var c map[string]any
	if json.Unmarshal(b, &c) != nil {
		return "", false
	}
	v, ok := c[name].(string)
	return v, ok
}
