package authserver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/mcpgate/mcpgate/internal/authn"
	"github.com/mcpgate/mcpgate/internal/clip"
	"github.com/mcpgate/mcpgate/internal/store"
)

// handleToken validates resource indicators for every grant, answers token exchange
// itself, and hands everything else to op.
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodOptions { // CORS preflight: op's CORS handler answers it
		s.provider.ServeHTTP(w, r)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		writeOAuthError(w, http.StatusMethodNotAllowed, "invalid_request", "the token endpoint accepts POST only")
		return
	}
	r, oe := s.authenticateAssertion(r, PathToken)
	if oe != nil {
		status := http.StatusUnauthorized
		if oe.ErrorType == oidc.ServerError {
			status = http.StatusInternalServerError
		} else if oe.ErrorType == oidc.InvalidRequest {
			status = http.StatusBadRequest
		}
		writeOAuthError(w, status, string(oe.ErrorType), oe.Description)
		return
	}
	if isIDJAGRequest(r) { // handler_idjag_issue.go: resource names another server's MCP URL
		s.handleIDJAGIssue(w, r)
		return
	}
	if res := paramsFrom(r.Context()).resources; len(res) > 0 {
		if _, oerr := s.resolveResources(res); oerr != nil {
			s.log.InfoContext(r.Context(), "token request refused", "error", "invalid_target", "resource", clip.Strings(res))
			writeOAuthError(w, http.StatusBadRequest, "invalid_target", oerr.Description)
			return
		}
	}
	if oerr := s.checkTokenClient(r); oerr != nil {
		status := http.StatusUnauthorized
		if oerr.ErrorType == oidc.ServerError {
			status = http.StatusInternalServerError
		} else {
			w.Header().Set("WWW-Authenticate", `Basic realm="token"`)
		}
		writeOAuthError(w, status, string(oerr.ErrorType), oerr.Description)
		return
	}
	if r.PostFormValue("grant_type") == GrantTypeJWTBearer { // handler_idjag.go
		s.handleJWTBearer(w, r)
		return
	}
	if r.PostFormValue("grant_type") == string(oidc.GrantTypeTokenExchange) {
		s.handleTokenExchange(w, r)
		return
	}
	rec := &bufferedResponse{header: http.Header{}}
	s.provider.ServeHTTP(rec, r)
	s.flush(r.Context(), rec, w, paramsFrom(r.Context()).note)
}

// checkTokenClient answers an unknown client_id (form or HTTP Basic) with invalid_client
// whatever the grant, before op sees it: op would answer access_denied on the device grant
// and server_error on others. A store failure is a server_error that says nothing of it.
func (s *Server) checkTokenClient(r *http.Request) *oidc.Error {
	id, _, ok := r.BasicAuth()
	if ok {
		if u, err := url.QueryUnescape(id); err == nil { // RFC 6749 §2.3.1
			id = u
		}
	} else {
		id = r.PostFormValue("client_id")
	}
	if id == "" {
		return nil // op asks for client authentication
	}
	_, err := s.clients.get(r.Context(), id)
	if errors.Is(err, errUnknownClient) {
		s.log.InfoContext(r.Context(), "token request refused: unknown client", "client_id", clip.String(id),
			"grant_type", clip.String(r.PostFormValue("grant_type")), "ip", clientIP(r))
		return oidc.ErrInvalidClient().WithDescription("unknown client_id")
	}
	if err != nil {
		return s.internalError(r.Context(), "looking up a client failed", err)
	}
	return nil
}

// defaultErrorDescriptions explain op's bare errors.
var defaultErrorDescriptions = map[string]string{
	"invalid_grant":          "the code, refresh token or device code is invalid, expired, already used, or was issued to another client (or the code_verifier/redirect_uri does not match)",
	"invalid_client":         "client authentication failed: check client_id and client_secret (public clients send only client_id)",
	"unauthorized_client":    "this client is not allowed to use this grant type",
	"unsupported_grant_type": "this grant type is not supported; see grant_types_supported in the metadata",
	"invalid_scope":          "a requested scope is not allowed",
}

// bufferedResponse holds op's token response so that an error without a description can
// be given one.
type bufferedResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferedResponse) Header() http.Header { return b.header }
func (b *bufferedResponse) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	return b.body.Write(p)
}
func (b *bufferedResponse) WriteHeader(code int) {
	if b.status == 0 {
		b.status = code
	}
}

// flush writes op's buffered response to w: an error without a description gets one (the
// noted reason, else a default), and a server_error that did not come from internalError
// (op turns any error into server_error with the error's text, which for a store error
// names the database) is replaced with a reference to the logged error.
func (s *Server) flush(ctx context.Context, b *bufferedResponse, w http.ResponseWriter, note *string) {
	body := b.body.Bytes()
	internal := ""
	if p := paramsFrom(ctx); p.internal != nil {
		internal = *p.internal
	}
	if b.status >= 400 && internal != "" {
		// A server fault made the request fail, whatever error op chose to report.
		b.header.Set("Content-Type", "application/json")
		b.status = http.StatusInternalServerError
		body, _ = json.Marshal(map[string]string{"error": string(oidc.ServerError), "error_description": internal})
	} else if b.status >= 400 {
		var e map[string]any
		if json.Unmarshal(body, &e) == nil {
			code, _ := e["error"].(string)
			d, _ := e["error_description"].(string)
			if safe, changed := s.sanitizeServerError(ctx, code, d); changed {
				e["error_description"] = safe
				delete(e, "parent")
				body, _ = json.Marshal(e)
			} else if d == "" {
				desc := defaultErrorDescriptions[code]
				if note != nil && *note != "" {
					desc = *note
				}
				if desc != "" {
					e["error_description"] = desc
					body, _ = json.Marshal(e)
				}
			}
		} else if b.status >= 500 || bytes.Contains(body, []byte(oidc.ServerError)) {
			// A plain-text error (op's http.Error) that may quote an internal error.
			if _, changed := s.sanitizeServerError(ctx, string(oidc.ServerError), string(body)); changed {
				b.header.Set("Content-Type", "text/plain; charset=utf-8")
				body = []byte("internal error; the server logged the details\n")
			}
		}
	}
	if loc := b.header.Get("Location"); b.status/100 == 3 && loc != "" {
		if u, err := url.Parse(loc); err == nil {
			q := u.Query()
			if internal != "" && q.Get("error") != "" {
				q.Set("error", string(oidc.ServerError))
				q.Set("error_description", internal)
				u.RawQuery = q.Encode()
				b.header.Set("Location", u.String())
			} else if safe, changed := s.sanitizeServerError(ctx, q.Get("error"), q.Get("error_description")); changed {
				q.Set("error_description", safe)
				u.RawQuery = q.Encode()
				b.header.Set("Location", u.String())
			}
		}
	}
	for k, v := range b.header {
		w.Header()[k] = v
	}
	w.Header().Del("Content-Length")
	if b.status == 0 {
		b.status = http.StatusOK
	}
	w.WriteHeader(b.status)
	w.Write(body)
}

// AccessClaims are the claims of mcpgate access tokens.
type AccessClaims struct {
	Issuer    string           `json:"iss"`
	Subject   string           `json:"sub"`
	Audience  jwt.Audience     `json:"aud"`
	Expiry    *jwt.NumericDate `json:"exp"`
	IssuedAt  *jwt.NumericDate `json:"iat"`
	NotBefore *jwt.NumericDate `json:"nbf,omitempty"`
	ID        string           `json:"jti"`
	ClientID  string           `json:"client_id"`
	Scope     string           `json:"scope,omitempty"`
	Email     string           `json:"email,omitempty"`
	Name      string           `json:"name,omitempty"`
	Username  string           `json:"preferred_username,omitempty"`
	Groups    []string         `json:"groups,omitempty"`
	Actor     map[string]any   `json:"act,omitempty"`
}

// VerifyAccessToken checks an access token issued by this server: signature (published
// keys), issuer, expiry, audience (when audience is not empty) and revocation (against the
// in-memory revocation list, see revocation.go: a revocation on another replica takes
// effect here within Options.RevocationPollInterval, at once with Redis). A non-rejection
// error means this server's signing keys could not be read from its store and none were
// ever loaded.
func (s *Server) VerifyAccessToken(ctx context.Context, token, audience string) (*AccessClaims, map[string]any, error) {
	tok, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.ES256, jose.RS256})
	if err != nil {
		return nil, nil, authn.Reject("malformed", "the access token is not a signed JWT")
	}
	if len(tok.Headers) != 1 {
		return nil, nil, authn.Reject("malformed", "the access token must have exactly one signature")
	}
	kid := tok.Headers[0].KeyID
	keys, err := s.keys.public(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: the authorization server could not read its own signing keys from its store: %w", authn.ErrStoreUnavailable, err)
	}
	var key any
	for _, k := range keys {
		if k.ID() == kid && string(k.Algorithm()) == tok.Headers[0].Algorithm {
			key = k.Key()
		}
	}
	if key == nil {
		return nil, nil, authn.Reject("unknown_kid", "the access token was signed with an unknown key; get a new token")
	}
	var c AccessClaims
	var all map[string]any
	if err := tok.Claims(key, &c, &all); err != nil {
		return nil, nil, authn.Reject("bad_signature", "the access token signature is invalid")
	}
	// ID tokens are signed with the same keys; they are not access tokens.
	if _, ok := all["at_hash"]; ok || all["nonce"] != nil || c.ID == "" {
		return nil, nil, authn.Reject("not_access_token", "this is not an access token (an ID token?); send the access_token from the token response")
	}
	if c.Issuer != s.issuer {
		return nil, nil, authn.Reject("wrong_issuer", "the access token was issued by %q, not by %s", c.Issuer, s.issuer)
	}
	now := s.opts.Now()
	if c.Expiry == nil || !now.Before(c.Expiry.Time().Add(30*time.Second)) {
		return nil, nil, authn.Reject("expired", "the access token has expired; refresh it or sign in again")
	}
	if c.NotBefore != nil && now.Add(30*time.Second).Before(c.NotBefore.Time()) {
		return nil, nil, authn.Reject("not_yet_valid", "the access token is not valid yet; check the clock")
	}
	if audience != "" {
		want, _ := CanonicalResource(audience)
		if !slices.Contains([]string(c.Audience), want) && !slices.Contains([]string(c.Audience), audience) {
			return nil, nil, authn.Reject("wrong_audience", "the access token is for %v, not for %s; request a token with resource=%s", []string(c.Audience), want, want)
		}
	}
	// The in-memory revocation list (revocation.go): no store read per request, and a
	// store outage leaves the list as of the last poll instead of failing the check.
	if s.revocations.revoked(ctx, c.ID) {
		return nil, nil, authn.Reject("revoked", "the access token was revoked; sign in again")
	}
	return &c, all, nil
}

// Verifier returns an authn.Verifier for tokens of this server whose audience includes
// resource: what the gateway uses in-process, with no extra configuration.
func (s *Server) Verifier(resource string) authn.Verifier {
	return authn.VerifierFunc(func(ctx context.Context, token string) (*authn.Principal, error) {
		c, all, err := s.VerifyAccessToken(ctx, token, resource)
		if err != nil {
			return nil, err
		}
		p := &authn.Principal{Subject: c.Subject, Email: c.Email, Name: c.Name, Groups: c.Groups, Scopes: strings.Fields(c.Scope),
			ClientID: c.ClientID, Issuer: c.Issuer, Audience: []string(c.Audience), Claims: all, TokenHash: authn.HashToken(token)}
		if c.Expiry != nil {
			p.ExpiresAt = c.Expiry.Time()
		}
		if c.IssuedAt != nil {
			p.IssuedAt = c.IssuedAt.Time()
		}
		return p, nil
	})
}

// mint signs an access token with the current key.
func (s *Server) mint(ctx context.Context, c AccessClaims, extra map[string]any) (string, error) {
	k, err := s.keys.signing(ctx)
	if err != nil {
		return "", err
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: k.SignatureAlgorithm(), Key: k.priv}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", k.ID()))
	if err != nil {
		return "", err
	}
	b := jwt.Signed(signer).Claims(c)
	if extra != nil {
		b = b.Claims(extra)
	}
	return b.Serialize()
}

// handleTokenExchange implements RFC 8693 for access tokens of this server: a confidential
// client with the token-exchange grant trades a user's access token for one whose audience
// is another resource of this gateway (aud = resource), with "act" naming the client.
func (s *Server) handleTokenExchange(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id, secret, ok := r.BasicAuth()
	if !ok {
		id, secret = r.PostFormValue("client_id"), r.PostFormValue("client_secret")
	}
	client, err := s.clients.authenticate(ctx, id, secret)
	if err != nil {
		var oe *oidc.Error
		if errors.As(err, &oe) && oe.ErrorType == oidc.ServerError {
			writeOAuthError(w, http.StatusInternalServerError, string(oe.ErrorType), oe.Description)
			return
		}
		desc := "client authentication failed"
		if oe != nil {
			desc = oe.Description
		}
		writeOAuthError(w, http.StatusUnauthorized, "invalid_client", desc)
		return
	}
	if !slices.Contains(client.GrantTypes, string(oidc.GrantTypeTokenExchange)) {
		writeOAuthError(w, http.StatusBadRequest, "unauthorized_client", "this client may not use token exchange; add urn:ietf:params:oauth:grant-type:token-exchange to its grant types")
		return
	}
	if t := r.PostFormValue("subject_token_type"); t != string(oidc.AccessTokenType) {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "subject_token_type must be urn:ietf:params:oauth:token-type:access_token")
		return
	}
	if t := r.PostFormValue("requested_token_type"); t != "" && t != string(oidc.AccessTokenType) && t != string(oidc.JWTTokenType) {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "requested_token_type must be an access token")
		return
	}
	subject, _, err := s.VerifyAccessToken(ctx, r.PostFormValue("subject_token"), "")
	if err != nil {
		var ae *authn.Error
		if errors.As(err, &ae) {
			writeOAuthError(w, http.StatusBadRequest, "invalid_grant", "subject_token: "+ae.Description)
			return
		}
		oe := s.internalError(ctx, "checking the subject token failed", err)
		writeOAuthError(w, http.StatusInternalServerError, string(oe.ErrorType), oe.Description)
		return
	}
	targets := append(slices.Clone(r.Form["resource"]), r.Form["audience"]...)
	aud, oerr := s.resolveResources(targets)
	if oerr != nil {
		writeOAuthError(w, http.StatusBadRequest, "invalid_target", oerr.Description)
		return
	}
	if len(aud) == 0 {
		writeOAuthError(w, http.StatusBadRequest, "invalid_target", "name the resource the new token is for with resource=<MCP server URL>")
		return
	}
	have := strings.Fields(subject.Scope)
	scopes := have
	if sc := r.PostFormValue("scope"); sc != "" {
		scopes = strings.Fields(sc)
		for _, x := range scopes {
			if !slices.Contains(have, x) {
				writeOAuthError(w, http.StatusBadRequest, "invalid_scope", "scope "+clip.String(x)+" is not in the subject token; a token exchange can only keep or narrow scopes")
				return
			}
		}
	}
	now := s.opts.Now()
	c := *subject
	c.Audience = aud
	c.IssuedAt, c.NotBefore = jwt.NewNumericDate(now), jwt.NewNumericDate(now)
	exp := now.Add(s.opts.AccessTokenLifetime)
	if subject.Expiry != nil && subject.Expiry.Time().Before(exp) {
		exp = subject.Expiry.Time() // never outlive the subject token
	}
	c.Expiry = jwt.NewNumericDate(exp)
	c.ID = randomToken(16)
	c.Scope = strings.Join(scopes, " ")
	c.Actor = map[string]any{"sub": client.ID}
	c.ClientID = client.ID
	// The new token belongs to the subject token's sign-in: ending that sign-in (replay,
	// sign-out, refresh-token revocation) revokes it too.
	parent, err := s.store.GetIssuedAccessToken(ctx, subject.ID)
	if err == nil {
		parent.JTI, parent.ExpiresAt = c.ID, exp
		err = s.store.RecordAccessToken(ctx, parent)
	} else if errors.Is(err, store.ErrNotFound) {
		err = nil // a client-credentials subject token belongs to no sign-in
	}
	if err != nil {
		oe := s.internalError(ctx, "recording the exchanged token failed", err)
		writeOAuthError(w, http.StatusInternalServerError, string(oe.ErrorType), oe.Description)
		return
	}
	tok, err := s.mint(ctx, c, nil)
	if err != nil {
		oe := s.internalError(ctx, "signing exchanged token failed", err)
		writeOAuthError(w, http.StatusInternalServerError, string(oe.ErrorType), oe.Description)
		return
	}
	s.log.InfoContext(ctx, "token exchanged", "client_id", client.ID, "sub", c.Subject, "aud", aud)
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token":      tok,
		"issued_token_type": oidc.AccessTokenType,
		"token_type":        "Bearer",
		"expires_in":        int(time.Until(exp).Seconds()),
		"scope":             c.Scope,
	})
}

// grantTypeNames shorten the grant types the token endpoint serves, for metrics: anything
// else is "other", so that the label stays bounded.
var grantTypeNames = map[string]string{
	"authorization_code": "authorization_code", "refresh_token": "refresh_token",
	"client_credentials": "client_credentials", "urn:ietf:params:oauth:grant-type:device_code": "device_code",
	"urn:ietf:params:oauth:grant-type:token-exchange": "token_exchange", "urn:ietf:params:oauth:grant-type:jwt-bearer": "jwt_bearer",
}

// observeToken tells the observer each token response's grant type and status.
func (s *Server) observeToken(h http.Handler) http.Handler {
	if s.opts.Observer == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(sw, r)
		gt := grantTypeNames[r.PostFormValue("grant_type")]
		if gt == "" {
			gt = "other"
		}
		s.opts.Observer.TokenResponse(gt, sw.status)
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *statusRecorder) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusRecorder) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}
