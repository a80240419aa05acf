package authserver

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/mcpgate/mcpgate/internal/clip"
	"github.com/mcpgate/mcpgate/internal/store"
)

// opStorage adapts the Server and its store to zitadel's op.Storage (plus the optional
// client-credentials, device and userinfo interfaces).
type opStorage struct{ s *Server }

var (
	_ op.Storage                        = (*opStorage)(nil)
	_ op.ClientCredentialsStorage       = (*opStorage)(nil)
	_ op.DeviceAuthorizationStorage     = (*opStorage)(nil)
	_ op.CanSetUserinfoFromRequest      = (*opStorage)(nil)
	_ op.CanGetPrivateClaimsFromRequest = (*opStorage)(nil)
)

func invalidRequest(format string, args ...any) *oidc.Error {
	return oidc.ErrInvalidRequest().WithDescription(format, args...)
}

// CreateAuthRequest enforces what op leaves open: PKCE with S256 for every client, the
// resource indicators, the redirect_uri matched strictly, and offline_access for clients
// allowed to refresh.
func (st *opStorage) CreateAuthRequest(ctx context.Context, req *oidc.AuthRequest, userID string) (op.AuthRequest, error) {
	s := st.s
	if req.CodeChallenge == "" {
		return nil, invalidRequest("code_challenge is required: every client must use PKCE with code_challenge_method=S256")
	}
	if req.CodeChallengeMethod != oidc.CodeChallengeMethodS256 {
		return nil, invalidRequest("code_challenge_method must be S256; plain (or no method) is not accepted")
	}
	if req.ResponseType != oidc.ResponseTypeCode {
		return nil, (&oidc.Error{ErrorType: "unsupported_response_type"}).WithDescription("only response_type=code is supported")
	}
	aud, oerr := s.resolveResources(paramsFrom(ctx).resources)
	if oerr != nil {
		return nil, oerr
	}
	if len(aud) == 0 {
		aud = s.defaultAudience()
	}
	client, err := s.clients.get(ctx, req.ClientID)
	if errors.Is(err, errUnknownClient) {
		return nil, invalidRequest("unknown client")
	}
	if err != nil {
		return nil, s.internalError(ctx, "looking up a client failed", err)
	}
	if !redirectURIAllowed(client, req.RedirectURI) {
		// op's own check is looser for native clients (see redirectURIAllowed). No
		// redirect: the URI is not known to be the client's.
		return nil, oidc.ErrInvalidRequestRedirectURI().WithDescription("the redirect_uri is not registered for this client (a loopback http redirect URI may differ only in its port)")
	}
	scopes := slices.Clone(req.Scopes)
	if slices.Contains(client.GrantTypes, string(oidc.GrantTypeRefreshToken)) && !slices.Contains(scopes, oidc.ScopeOfflineAccess) {
		scopes = append(scopes, oidc.ScopeOfflineAccess)
	}
	now := s.opts.Now()
	a := store.AuthRequest{
		ID: randomToken(18), ClientID: req.ClientID, RedirectURI: req.RedirectURI, State: req.State, Nonce: req.Nonce,
		Scopes: scopes, ResponseType: string(req.ResponseType), ResponseMode: string(req.ResponseMode),
		CodeChallenge: req.CodeChallenge, CodeChallengeMethod: string(req.CodeChallengeMethod), Resources: aud,
		Prompt: req.Prompt, MaxAgeSeconds: req.MaxAge, LoginHint: req.LoginHint, UserID: userID,
		CreatedAt: now, ExpiresAt: now.Add(s.opts.AuthRequestLifetime),
	}
	if err := s.store.CreateAuthRequest(ctx, a); err != nil {
		return nil, s.internalError(ctx, "saving the authorization request failed", err)
	}
	s.log.InfoContext(ctx, "authorization request received", "auth_request", a.ID, "client_id", clip.String(a.ClientID), "resource", aud, "scope", clip.String(strings.Join(scopes, " ")))
	return &authRequest{a: a}, nil
}

func (st *opStorage) AuthRequestByID(ctx context.Context, id string) (op.AuthRequest, error) {
	a, err := st.s.store.GetAuthRequest(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, invalidRequest("the authorization request is unknown or expired; start the sign-in again")
	}
	if err != nil {
		return nil, st.s.internalError(ctx, "loading the authorization request failed", err)
	}
	return &authRequest{a: a}, nil
}

var errCodeReplay = errors.New("authorization code already used")

// AuthRequestByCode consumes the code: it works exactly once. A replayed code revokes
// every refresh token issued from it (RFC 6749 §4.1.2, OAuth 2.1 §4.1.3).
func (st *opStorage) AuthRequestByCode(ctx context.Context, code string) (op.AuthRequest, error) {
	s := st.s
	h := hashToken(code)
	a, err := s.store.GetAuthRequestByCode(ctx, h)
	if errors.Is(err, store.ErrNotFound) {
		return nil, oidc.ErrInvalidGrant().WithDescription("the authorization code is unknown or expired; start the sign-in again")
	}
	if err != nil {
		return nil, s.internalError(ctx, "loading the authorization code failed", err)
	}
	a, err = s.store.UpdateAuthRequest(ctx, a.ID, func(a *store.AuthRequest) error {
		if a.CodeUsed {
			return errCodeReplay
		}
		a.CodeUsed = true
		return nil
	})
	if errors.Is(err, errCodeReplay) {
		// The sign-in's family ID is the authorization request's ID.
		n, at := s.revokeFamily(ctx, a.ID)
		s.log.WarnContext(ctx, "authorization code replayed; tokens issued with it revoked", "auth_request", a.ID, "client_id", clip.String(a.ClientID),
			"revoked_refresh_tokens", n, "revoked_access_tokens", at)
		return nil, oidc.ErrInvalidGrant().WithDescription("the authorization code was already used; tokens issued with it have been revoked. Start the sign-in again")
	}
	if errors.Is(err, store.ErrNotFound) {
		return nil, oidc.ErrInvalidGrant().WithDescription("the authorization code is unknown or expired; start the sign-in again")
	}
	if err != nil {
		return nil, s.internalError(ctx, "consuming the authorization code failed", err)
	}
	return &authRequest{a: a}, nil
}

func (st *opStorage) SaveAuthCode(ctx context.Context, id, code string) error {
	s := st.s
	_, err := s.store.UpdateAuthRequest(ctx, id, func(a *store.AuthRequest) error {
		if !a.Done {
			return errors.New("the user has not completed sign-in")
		}
		a.CodeHash = hashToken(code)
		// The code lives at most 2 minutes; the row stays that long for replay detection.
		a.ExpiresAt = s.opts.Now().Add(2 * time.Minute)
		return nil
	})
	if err != nil {
		return s.internalError(ctx, "saving the authorization code failed", err)
	}
	return nil
}

// DeleteAuthRequest keeps requests whose code was issued (until they expire) so that a
// replayed code is recognised; others are deleted.
func (st *opStorage) DeleteAuthRequest(ctx context.Context, id string) error {
	a, err := st.s.store.GetAuthRequest(ctx, id)
	if err != nil {
		return nil
	}
	if a.CodeHash != "" {
		return nil
	}
	if err := st.s.store.DeleteAuthRequest(ctx, id); err != nil && !errors.Is(err, store.ErrNotFound) {
		return st.s.internalError(ctx, "deleting the authorization request failed", err)
	}
	return nil
}

// narrowAudience applies the token request's resource parameters: each must be among the
// granted ones; the token's audience is then the requested subset.
func (s *Server) narrowAudience(ctx context.Context, granted []string) ([]string, error) {
	req := paramsFrom(ctx).resources
	if len(req) == 0 {
		return granted, nil
	}
	want, oerr := s.resolveResources(req)
	if oerr != nil {
		return nil, oerr
	}
	for _, w := range want {
		if !slices.Contains(granted, w) {
			return nil, errInvalidTarget("resource %s was not part of the authorization; authorize again with this resource", w)
		}
	}
	return want, nil
}

// applyAudience sets the audience of the access token about to be minted.
func (s *Server) applyAudience(ctx context.Context, req op.TokenRequest) error {
	switch r := req.(type) {
	case *authRequest:
		aud, err := s.narrowAudience(ctx, r.a.Resources)
		if err != nil {
			return err
		}
		r.aud = aud
	case *refreshRequest:
		aud, err := s.narrowAudience(ctx, r.t.Audience)
		if err != nil {
			return err
		}
		r.aud = aud
	}
	return nil
}

func (st *opStorage) CreateAccessToken(ctx context.Context, req op.TokenRequest) (string, time.Time, error) {
	s := st.s
	if err := s.applyAudience(ctx, req); err != nil {
		return "", time.Time{}, err
	}
	jti, exp := randomToken(16), s.opts.Now().Add(s.opts.AccessTokenLifetime)
	if err := s.recordAccessToken(ctx, req, "", jti, exp); err != nil {
		return "", time.Time{}, err
	}
	s.logIssued(ctx, req, false)
	return jti, exp, nil
}

// recordAccessToken stores the jti of an access token with the sign-in it belongs to (its
// refresh-token family; the authorization request's ID for a code grant), so that a code
// or refresh-token replay, a sign-out or a refresh-token revocation can revoke it.
// Client-credentials tokens belong to no sign-in and are not recorded.
func (s *Server) recordAccessToken(ctx context.Context, req op.TokenRequest, familyID, jti string, exp time.Time) error {
	t := store.IssuedAccessToken{JTI: jti, FamilyID: familyID, ExpiresAt: exp}
	switch r := req.(type) {
	case *authRequest:
		t.FamilyID, t.UserID, t.ClientID = r.a.ID, r.a.UserID, r.a.ClientID
	case *refreshRequest:
		t.FamilyID, t.UserID, t.ClientID = r.t.FamilyID, r.t.UserID, r.t.ClientID
	case *op.DeviceAuthorizationState:
		t.UserID, t.ClientID = r.Subject, r.ClientID
	default:
		return nil
	}
	if err := s.store.RecordAccessToken(ctx, t); err != nil {
		return s.internalError(ctx, "recording the issued access token failed", err)
	}
	return nil
}

// revokeFamily revokes a sign-in: its refresh tokens and the access tokens it issued (on
// every replica). Failures are logged; it returns how many of each it revoked.
func (s *Server) revokeFamily(ctx context.Context, familyID string) (refresh, access int) {
	refresh, err := s.store.RevokeFamily(ctx, familyID)
	if err != nil {
		s.log.ErrorContext(ctx, "revoking the refresh tokens of a sign-in failed", "family", familyID, "err", err)
	}
	access, err = s.revokeSignIn(ctx, familyID)
	if err != nil {
		s.log.ErrorContext(ctx, "revoking the access tokens of a sign-in failed", "family", familyID, "err", err)
	}
	return refresh, access
}

func (st *opStorage) CreateAccessAndRefreshTokens(ctx context.Context, req op.TokenRequest, current string) (string, string, time.Time, error) {
	s := st.s
	if err := s.applyAudience(ctx, req); err != nil {
		return "", "", time.Time{}, err
	}
	now := s.opts.Now()
	t := store.RefreshToken{UserID: req.GetSubject(), Scopes: req.GetScopes(), CreatedAt: now, ExpiresAt: now.Add(s.opts.RefreshTokenLifetime)}
	switch r := req.(type) {
	case *authRequest:
		t.FamilyID, t.ClientID, t.Audience, t.AMR, t.AuthTime = r.a.ID, r.a.ClientID, r.a.Resources, r.a.AMR, r.a.AuthTime
	case *refreshRequest:
		t.FamilyID, t.ClientID, t.Audience, t.AMR, t.AuthTime = r.t.FamilyID, r.t.ClientID, r.t.Audience, r.t.AMR, r.t.AuthTime
		// The family keeps its original expiry: rotation does not extend a sign-in forever.
		t.ExpiresAt = r.t.ExpiresAt
	case *op.DeviceAuthorizationState:
		aud := slices.DeleteFunc(slices.Clone(r.Audience), func(a string) bool { return a == r.ClientID })
		t.FamilyID, t.ClientID, t.Audience, t.AMR, t.AuthTime = randomToken(18), r.ClientID, aud, r.AMR, r.AuthTime
	default:
		return "", "", time.Time{}, oidc.ErrUnsupportedGrantType().WithDescription("refresh tokens are not issued for this grant")
	}
	value := randomToken(32)
	t.ID = hashToken(value)
	if err := s.store.CreateRefreshToken(ctx, t); err != nil {
		return "", "", time.Time{}, s.internalError(ctx, "saving the refresh token failed", err)
	}
	jti, exp := randomToken(16), now.Add(s.opts.AccessTokenLifetime)
	if err := s.recordAccessToken(ctx, req, t.FamilyID, jti, exp); err != nil {
		return "", "", time.Time{}, err
	}
	s.logIssued(ctx, req, true)
	return jti, value, exp, nil
}

func (s *Server) logIssued(ctx context.Context, req op.TokenRequest, refresh bool) {
	if !s.log.Enabled(ctx, -4) { // debug
		return
	}
	s.log.DebugContext(ctx, "tokens issued", "sub", req.GetSubject(), "aud", req.GetAudience(), "refresh_token", refresh)
}

// TokenRequestByRefreshToken rotates: the presented token is marked used exactly once. A
// second presentation is a replay: the whole family is revoked.
func (st *opStorage) TokenRequestByRefreshToken(ctx context.Context, value string) (op.RefreshTokenRequest, error) {
	s := st.s
	t, err := s.store.UseRefreshToken(ctx, hashToken(value), s.opts.Now())
	if errors.Is(err, store.ErrRefreshReused) {
		n, at := s.revokeFamily(ctx, t.FamilyID)
		s.log.WarnContext(ctx, "refresh token replayed; family revoked", "family", t.FamilyID, "client_id", clip.String(t.ClientID), "sub", t.UserID,
			"revoked", n, "revoked_access_tokens", at, "already_revoked", t.Revoked)
		const desc = "the refresh token was already used or revoked; every token of this sign-in has been revoked. Sign in again"
		noteError(ctx, desc)
		return nil, oidc.ErrInvalidGrant().WithDescription(desc)
	}
	if errors.Is(err, store.ErrNotFound) {
		const desc = "the refresh token is unknown or expired; sign in again"
		noteError(ctx, desc)
		return nil, oidc.ErrInvalidGrant().WithDescription(desc)
	}
	if err != nil {
		return nil, s.internalError(ctx, "using the refresh token failed", err)
	}
	if err := s.revalidate(ctx, t); err != nil { // federation: the sign-in at the IdP still holds
		return nil, err
	}
	if _, err := s.lookupIdentity(ctx, t.UserID); errors.Is(err, ErrUnknownUser) {
		// Deleted or disabled, or (federation) the upstream sign-in was refused.
		s.log.InfoContext(ctx, "refresh refused: the user is no longer known", "sub", t.UserID, "client_id", clip.String(t.ClientID))
		const desc = "the user of this refresh token is no longer known (removed, disabled, or their identity provider sign-in ended); sign in again"
		noteError(ctx, desc)
		return nil, oidc.ErrInvalidGrant().WithDescription(desc)
	}
	return &refreshRequest{t: t}, nil
}

// TerminateSession ends the user's sign-ins at the client (RP-initiated logout): their
// refresh tokens and the access tokens they issued are revoked, on every replica.
func (st *opStorage) TerminateSession(ctx context.Context, userID, clientID string) error {
	n, err := st.s.store.RevokeUserClient(ctx, userID, clientID)
	if err != nil {
		return st.s.internalError(ctx, "revoking the session's refresh tokens failed", err)
	}
	at, err := st.s.revokeUserClient(ctx, userID, clientID)
	if err != nil {
		return st.s.internalError(ctx, "revoking the session's access tokens failed", err)
	}
	st.s.log.InfoContext(ctx, "session ended", "sub", userID, "client_id", clip.String(clientID), "revoked_refresh_tokens", n, "revoked_access_tokens", at)
	return nil
}

func (st *opStorage) RevokeToken(ctx context.Context, tokenOrID, userID, clientID string) *oidc.Error {
	s := st.s
	// A refresh token (op passes the token itself, with or without the user ID).
	if t, err := s.store.GetRefreshToken(ctx, hashToken(tokenOrID)); err == nil {
		if t.ClientID != clientID {
			return oidc.ErrInvalidClient().WithDescription("the token was issued to another client")
		}
		// RFC 7009 §2.1: revoking a refresh token should also revoke the access tokens
		// of the same grant.
		n, err := s.store.RevokeFamily(ctx, t.FamilyID)
		if err != nil {
			return s.internalError(ctx, "revoking the refresh token failed", err)
		}
		at, err := s.revokeSignIn(ctx, t.FamilyID)
		if err != nil {
			return s.internalError(ctx, "revoking the access tokens of the refresh token's sign-in failed", err)
		}
		s.log.InfoContext(ctx, "refresh token revoked", "family", t.FamilyID, "client_id", clip.String(clientID), "revoked", n, "revoked_access_tokens", at)
		return nil
	}
	if userID == "" {
		return nil // RFC 7009 §2.2: unknown tokens are not an error
	}
	// An access token: tokenOrID is its jti.
	exp := s.opts.Now().Add(s.opts.AccessTokenLifetime)
	if err := s.store.RevokeAccessToken(ctx, tokenOrID, exp); err != nil {
		return s.internalError(ctx, "revoking the access token failed", err)
	}
	s.revocations.announce(ctx, store.Revocation{JTI: tokenOrID, ExpiresAt: exp})
	s.log.InfoContext(ctx, "access token revoked", "jti", tokenOrID, "client_id", clip.String(clientID))
	return nil
}

func (st *opStorage) GetRefreshTokenInfo(ctx context.Context, clientID, token string) (string, string, error) {
	t, err := st.s.store.GetRefreshToken(ctx, hashToken(token))
	if err != nil {
		return "", "", op.ErrInvalidRefreshToken
	}
	return t.UserID, token, nil
}

func (st *opStorage) SigningKey(ctx context.Context) (op.SigningKey, error) {
	k, err := st.s.keys.signing(ctx)
	if err != nil {
		return nil, st.s.internalError(ctx, "loading the signing key failed", err)
	}
	return k, nil
}

func (st *opStorage) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return []jose.SignatureAlgorithm{st.s.keys.alg}, nil
}

func (st *opStorage) KeySet(ctx context.Context) ([]op.Key, error) {
	keys, err := st.s.keys.public(ctx)
	if err != nil {
		return nil, st.s.internalError(ctx, "loading the public keys failed", err)
	}
	return keys, nil
}

func (st *opStorage) GetClientByClientID(ctx context.Context, id string) (op.Client, error) {
	c, err := st.s.clients.get(ctx, id)
	if errors.Is(err, errUnknownClient) {
		st.s.log.InfoContext(ctx, "request refused: unknown client", "client_id", clip.String(id))
		noteError(ctx, "unknown client_id")
		return nil, oidc.ErrInvalidClient().WithDescription("unknown client_id")
	}
	if err != nil {
		return nil, st.s.internalError(ctx, "looking up a client failed", err)
	}
	return &opClient{c: c, serverScopes: st.s.opts.Scopes}, nil
}

func (st *opStorage) AuthorizeClientIDSecret(ctx context.Context, id, secret string) error {
	_, err := st.s.clients.authenticate(ctx, id, secret)
	return err
}

func (st *opStorage) SetUserinfoFromScopes(context.Context, *oidc.UserInfo, string, string, []string) error {
	return nil
}

func (st *opStorage) SetUserinfoFromRequest(ctx context.Context, ui *oidc.UserInfo, req op.IDTokenRequest, scopes []string) error {
	return st.s.fillUserinfo(ctx, ui, req.GetSubject(), scopes)
}

func (st *opStorage) SetUserinfoFromToken(ctx context.Context, ui *oidc.UserInfo, tokenID, subject, origin string) error {
	if tokenID == "" {
		// Every access token of this server has a jti; an ID token has none.
		return oidc.ErrInvalidRequest().WithDescription("not an access token")
	}
	if st.s.revocations.revoked(ctx, tokenID) {
		return errors.New("the access token was revoked")
	}
	return st.s.fillUserinfo(ctx, ui, subject, []string{oidc.ScopeProfile, oidc.ScopeEmail})
}

func (s *Server) fillUserinfo(ctx context.Context, ui *oidc.UserInfo, subject string, scopes []string) error {
	ui.Subject = subject
	id, err := s.lookupIdentity(ctx, subject)
	if errors.Is(err, ErrUnknownUser) {
		return nil // a client-credentials subject has no profile
	}
	if err != nil {
		return s.internalError(ctx, "looking up the user for userinfo failed", err)
	}
	if slices.Contains(scopes, oidc.ScopeProfile) {
		ui.Name = id.Name
		ui.PreferredUsername = id.Username
	}
	if slices.Contains(scopes, oidc.ScopeEmail) {
		ui.Email = id.Email
		ui.EmailVerified = oidc.Bool(id.Email != "")
	}
	ui.AppendClaims("groups", id.Groups)
	return nil
}

func (st *opStorage) SetIntrospectionFromToken(ctx context.Context, resp *oidc.IntrospectionResponse, tokenID, subject, clientID string) error {
	if st.s.revocations.revoked(ctx, tokenID) {
		return errors.New("the access token was revoked")
	}
	resp.Subject = subject
	resp.ClientID = clientID
	if id, err := st.s.lookupIdentity(ctx, subject); err == nil {
		resp.Email, resp.Name, resp.PreferredUsername = id.Email, id.Name, id.Username
	}
	return nil
}

func (st *opStorage) GetPrivateClaimsFromScopes(ctx context.Context, userID, clientID string, scopes []string) (map[string]any, error) {
	return st.s.accessClaims(ctx, userID, clientID, scopes, true), nil
}

func (st *opStorage) GetPrivateClaimsFromRequest(ctx context.Context, req op.TokenRequest, _ []string) (map[string]any, error) {
	switch r := req.(type) {
	case *authRequest:
		r.accessTokenDone = true
	case *refreshRequest:
		r.accessTokenDone = true
	}
	_, isClient := req.(*clientCredentialsRequest)
	return st.s.accessClaims(ctx, req.GetSubject(), "", req.GetScopes(), !isClient), nil
}

// accessClaims are the claims beyond the registered ones: scope, and for users email,
// name and groups.
func (s *Server) accessClaims(ctx context.Context, subject, clientID string, scopes []string, user bool) map[string]any {
	claims := map[string]any{"scope": strings.Join(scopes, " ")}
	if !user {
		return claims
	}
	if id, err := s.lookupIdentity(ctx, subject); err == nil {
		if id.Email != "" {
			claims["email"] = id.Email
		}
		if id.Name != "" {
			claims["name"] = id.Name
		}
		if id.Username != "" {
			claims["preferred_username"] = id.Username
		}
		groups := id.Groups
		if groups == nil {
			groups = []string{}
		}
		claims["groups"] = groups
	}
	return claims
}

func (st *opStorage) GetKeyByIDAndClientID(context.Context, string, string) (*jose.JSONWebKey, error) {
	return nil, errors.New("JWT profile client authentication is not supported")
}

func (st *opStorage) ValidateJWTProfileScopes(context.Context, string, []string) ([]string, error) {
	return nil, errors.New("the JWT profile grant is not supported")
}

func (st *opStorage) Health(ctx context.Context) error { return st.s.store.Ping(ctx) }

// ClientCredentials authenticates a confidential client for the client_credentials grant.
func (st *opStorage) ClientCredentials(ctx context.Context, id, secret string) (op.Client, error) {
	c, err := st.s.clients.authenticate(ctx, id, secret)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(c.GrantTypes, string(oidc.GrantTypeClientCredentials)) {
		const desc = "this client may not use the client_credentials grant; add it to the client's grant types"
		noteError(ctx, desc)
		return nil, oidc.ErrUnauthorizedClient().WithDescription(desc)
	}
	return &opClient{c: c, serverScopes: st.s.opts.Scopes}, nil
}

func (st *opStorage) ClientCredentialsTokenRequest(ctx context.Context, id string, scopes []string) (op.TokenRequest, error) {
	aud, oerr := st.s.resolveResources(paramsFrom(ctx).resources)
	if oerr != nil {
		return nil, oerr
	}
	if len(aud) == 0 {
		aud = st.s.defaultAudience()
	}
	return &clientCredentialsRequest{clientID: id, scopes: scopes, aud: aud}, nil
}

func (st *opStorage) StoreDeviceAuthorization(ctx context.Context, clientID, deviceCode, userCode string, expires time.Time, scopes []string) error {
	aud, oerr := st.s.resolveResources(paramsFrom(ctx).resources)
	if oerr != nil {
		return oerr
	}
	if len(aud) == 0 {
		aud = st.s.defaultAudience()
	}
	err := st.s.store.CreateDeviceAuth(ctx, store.DeviceAuth{DeviceCodeHash: hashToken(deviceCode), UserCode: userCode, ClientID: clientID,
		Scopes: scopes, Audience: aud, State: store.DevicePending, CreatedAt: st.s.opts.Now(), ExpiresAt: expires})
	if errors.Is(err, store.ErrAlreadyExists) {
		return op.ErrDuplicateUserCode
	}
	if err != nil {
		return st.s.internalError(ctx, "saving the device authorization failed", err)
	}
	return nil
}

func (st *opStorage) GetDeviceAuthorizatonState(ctx context.Context, clientID, deviceCode string) (*op.DeviceAuthorizationState, error) {
	h := hashToken(deviceCode)
	d, err := st.s.store.GetDeviceAuth(ctx, h)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, st.s.internalError(ctx, "loading the device authorization failed", err)
	}
	if err != nil || d.ClientID != clientID {
		return nil, oidc.ErrInvalidGrant().WithDescription("the device_code is unknown; start the device sign-in again")
	}
	if d.State == store.DeviceConsumed {
		return nil, oidc.ErrInvalidGrant().WithDescription("the device_code was already exchanged for tokens")
	}
	if d.State == store.DeviceApproved && st.s.opts.Now().Before(d.ExpiresAt) {
		// Single use: the poll that sees the approval consumes it.
		if _, err := st.s.store.UpdateDeviceAuth(ctx, h, func(d *store.DeviceAuth) error {
			if d.State != store.DeviceApproved {
				return errors.New("device code already consumed")
			}
			d.State = store.DeviceConsumed
			return nil
		}); err != nil {
			return nil, oidc.ErrInvalidGrant().WithDescription("the device_code was already exchanged for tokens")
		}
	}
	state := &op.DeviceAuthorizationState{ClientID: d.ClientID, Audience: d.Audience, Scopes: d.Scopes, Expires: d.ExpiresAt,
		Done: d.State == store.DeviceApproved, Denied: d.State == store.DeviceDenied, Subject: d.UserID, AuthTime: d.AuthTime}
	if state.Done {
		state.AMR = []string{"pwd"}
	}
	return state, nil
}
