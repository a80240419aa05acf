package authserver

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/mcpgate/mcpgate/internal/clip"
	"github.com/mcpgate/mcpgate/internal/store"
)

// handleJWTBearer is the resource authorization server's side of enterprise-managed
// authorization: an authenticated confidential client with the jwt-bearer grant presents an
// ID-JAG (RFC 7523 §2.1, draft-ietf-oauth-identity-assertion-authz-grant §4.4) and gets an
// access token whose audience is the ID-JAG's resource. No refresh token: the client asks
// its IdP for a new ID-JAG, so the enterprise's policy is consulted again.
//
// Every refusal of the assertion is invalid_grant with a description naming the failed
// check, and one log line ("ID-JAG refused", check=...); the assertion is never logged.
func (s *Server) handleJWTBearer(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	client, ok := s.authenticateTokenClient(w, r)
	if !ok {
		return
	}
	if !slices.Contains(client.GrantTypes, GrantTypeJWTBearer) {
		writeOAuthError(w, http.StatusBadRequest, "unauthorized_client", "this client may not use the jwt-bearer grant; add "+GrantTypeJWTBearer+" to its grant types")
		return
	}
	assertion := r.PostFormValue("assertion")
	if assertion == "" {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "send the ID-JAG as the assertion parameter")
		return
	}
	g, err := s.checkIDJAG(ctx, client.ID, assertion, r.PostFormValue("scope"), r.Form["resource"])
	if err != nil {
		var ref *idjagRefusal
		if errors.As(err, &ref) {
			iss, _ := peekClaim(assertion, "iss")
			s.log.WarnContext(ctx, "ID-JAG refused", "check", ref.check, "reason", ref.description, "client_id", client.ID,
				"iss", clip.String(iss), "ip", clientIP(r))
			writeOAuthError(w, http.StatusBadRequest, "invalid_grant", "ID-JAG "+ref.check+" check failed: "+ref.description)
			return
		}
		oe := s.internalError(ctx, "checking an ID-JAG failed", err)
		writeOAuthError(w, http.StatusInternalServerError, string(oe.ErrorType), oe.Description)
		return
	}
	now := s.opts.Now()
	exp := now.Add(s.opts.AccessTokenLifetime)
	id := g.identity
	c := AccessClaims{
		Issuer: s.issuer, Subject: id.UserID, Audience: jwt.Audience{g.resource},
		Expiry: jwt.NewNumericDate(exp), IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now),
		ID: randomToken(16), ClientID: client.ID, Scope: strings.Join(g.scopes, " "),
		Email: id.Email, Name: id.Name, Username: id.Username, Groups: id.Groups,
	}
	tok, err := s.mint(ctx, c, map[string]any{ClaimIDJAGIssuer: g.idp.Issuer, ClaimIDJAGIdP: g.idp.Name})
	if err != nil {
		oe := s.internalError(ctx, "signing an access token for an ID-JAG failed", err)
		writeOAuthError(w, http.StatusInternalServerError, string(oe.ErrorType), oe.Description)
		return
	}
	s.log.InfoContext(ctx, "ID-JAG exchanged", "idp", g.idp.Name, "client_id", client.ID, "sub", id.UserID,
		"aud", g.resource, "scope", c.Scope, "jti_hash", hashToken(g.jti)[:16])
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": tok,
		"token_type":   "Bearer",
		"expires_in":   int(exp.Sub(now).Seconds()),
		"scope":        c.Scope,
	})
}

// authenticateTokenClient authenticates a confidential client at the token endpoint
// (client_secret_basic or client_secret_post) and answers invalid_client (401) itself
// when that fails.
func (s *Server) authenticateTokenClient(w http.ResponseWriter, r *http.Request) (store.Client, bool) {
	ctx := r.Context()
	id, secret, ok := r.BasicAuth()
	if !ok {
		id, secret = r.PostFormValue("client_id"), r.PostFormValue("client_secret")
	}
	if id == "" {
		w.Header().Set("WWW-Authenticate", `Basic realm="token"`)
		writeOAuthError(w, http.StatusUnauthorized, "invalid_client", "client authentication is required: send client_id and client_secret (HTTP Basic or form)")
		return store.Client{}, false
	}
	client, err := s.clients.authenticate(ctx, id, secret)
	if err != nil {
		var oe *oidc.Error
		if errors.As(err, &oe) && oe.ErrorType == oidc.ServerError {
			writeOAuthError(w, http.StatusInternalServerError, string(oe.ErrorType), oe.Description)
			return client, false
		}
		desc := "client authentication failed"
		if oe != nil {
			desc = oe.Description
		}
		s.log.InfoContext(ctx, "client authentication failed", "client_id", clip.String(id), "grant_type", clip.String(r.PostFormValue("grant_type")), "ip", clientIP(r))
		w.Header().Set("WWW-Authenticate", `Basic realm="token"`)
		writeOAuthError(w, http.StatusUnauthorized, "invalid_client", desc)
		return client, false
	}
	return client, true
}

// useAssertion records an assertion id in the store until expiresAt; a second use is a
// replay refusal. The id is hashed: the store never holds the issuer's jti verbatim.
func (s *Server) useAssertion(ctx context.Context, id string, expiresAt time.Time) error {
	al, ok := s.store.(store.AssertionLog)
	if !ok {
		return errors.New("the store cannot record used assertions (store.AssertionLog)")
	}
	err := al.UseAssertion(ctx, hashToken(id), expiresAt, s.opts.Now())
	if errors.Is(err, store.ErrAlreadyExists) {
		return refuse("jti", "this ID-JAG (its jti) was already used; ask the IdP for a new one")
	}
	return err
}

// idjagMetadata adds enterprise-managed authorization to the AS metadata: the jwt-bearer
// grant and the ID-JAG grant profile (draft-ietf-oauth-identity-assertion-authz-grant §7.2)
// when enterprise IdPs are trusted; the id-jag token type when the server issues ID-JAGs.
func (s *Server) idjagMetadata(m map[string]any) {
	if s.idjag != nil {
		if gts, ok := m["grant_types_supported"].([]string); ok {
			m["grant_types_supported"] = append(slices.Clone(gts), GrantTypeJWTBearer)
		}
		m["authorization_grant_profiles_supported"] = []string{GrantProfileIDJAG}
	}
	if s.opts.IDJAG != nil {
		m["token_exchange_requested_token_types_supported"] = []string{string(oidc.AccessTokenType), TokenTypeIDJAG}
	}
}
