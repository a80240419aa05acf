package authserver

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/mcpgate/mcpgate/internal/clip"
	"github.com/mcpgate/mcpgate/internal/jsonlimit"
	"github.com/mcpgate/mcpgate/internal/store"
)

// registrationRequest is the RFC 7591 client metadata we understand.
type registrationRequest struct {
	RedirectURIs            []string        `json:"redirect_uris"`
	ClientName              string          `json:"client_name,omitempty"`
	GrantTypes              []string        `json:"grant_types,omitempty"`
	ResponseTypes           []string        `json:"response_types,omitempty"`
	TokenEndpointAuthMethod string          `json:"token_endpoint_auth_method,omitempty"`
	Scope                   string          `json:"scope,omitempty"`
	ClientURI               string          `json:"client_uri,omitempty"`
	LogoURI                 string          `json:"logo_uri,omitempty"`
	SoftwareID              string          `json:"software_id,omitempty"`
	SoftwareVersion         string          `json:"software_version,omitempty"`
	ApplicationType         string          `json:"application_type,omitempty"`
	JWKS                    json.RawMessage `json:"jwks,omitempty"`
	JWKSURI                 string          `json:"jwks_uri,omitempty"`
	// PostLogoutRedirectURIs: OpenID Connect RP-Initiated Logout 1.0 §3.1.
	PostLogoutRedirectURIs []string `json:"post_logout_redirect_uris,omitempty"`
}

type registrationResponse struct {
	ClientID                string          `json:"client_id"`
	ClientSecret            string          `json:"client_secret,omitempty"`
	ClientIDIssuedAt        int64           `json:"client_id_issued_at"`
	ClientSecretExpiresAt   *int64          `json:"client_secret_expires_at,omitempty"`
	RedirectURIs            []string        `json:"redirect_uris"`
	ClientName              string          `json:"client_name,omitempty"`
	GrantTypes              []string        `json:"grant_types"`
	ResponseTypes           []string        `json:"response_types"`
	TokenEndpointAuthMethod string          `json:"token_endpoint_auth_method"`
	Scope                   string          `json:"scope,omitempty"`
	ApplicationType         string          `json:"application_type"`
	JWKS                    json.RawMessage `json:"jwks,omitempty"`
	JWKSURI                 string          `json:"jwks_uri,omitempty"`
	PostLogoutRedirectURIs  []string        `json:"post_logout_redirect_uris,omitempty"`
}

// handleRegister is dynamic client registration (RFC 7591).
func (s *Server) handleRegister(w http.ResponseWriter, r *http.Request) {
	// Browser-based MCP clients register cross-origin; no credentials are involved.
	w.Header().Set("Access-Control-Allow-Origin", "*")
	if r.Method == http.MethodOptions {
		w.Header().Set("Access-Control-Allow-Methods", "POST")
		w.Header().Set("Access-Control-Allow-Headers", "Content-Type, Authorization")
		w.Header().Set("Access-Control-Max-Age", "600")
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if s.opts.Registration == RegistrationOff {
		writeOAuthError(w, http.StatusForbidden, "access_denied", "dynamic client registration is turned off on this server; ask the administrator for a client_id")
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		writeOAuthError(w, http.StatusMethodNotAllowed, "invalid_request", "use POST with a JSON body (RFC 7591)")
		return
	}
	ip := clientIP(r)
	if !s.registrationAllowed(r.Context(), ip) {
		w.Header().Set("Retry-After", "3600")
		writeOAuthError(w, http.StatusTooManyRequests, "invalid_request", "too many client registrations from this address; reuse the client_id you registered, or try again in an hour")
		return
	}
	var req registrationRequest
	body, err := jsonlimit.Read(r.Body, maxRegistrationBytes, registrationJSONLimits)
	if _, tooLarge := errors.AsType[*http.MaxBytesError](err); tooLarge || errors.Is(err, jsonlimit.ErrTooLarge) {
		s.log.InfoContext(r.Context(), "client registration refused", "reason", "body too large", "ip", ip)
		writeOAuthError(w, http.StatusRequestEntityTooLarge, "invalid_client_metadata", "the registration is larger than "+strconv.Itoa(maxRegistrationBytes>>10)+" KiB")
		return
	}
	if err == nil {
		err = json.Unmarshal(body, &req)
	}
	if err != nil {
		s.log.InfoContext(r.Context(), "client registration refused", "reason", clip.String(err.Error()), "ip", ip)
		writeOAuthError(w, http.StatusBadRequest, "invalid_client_metadata", "the body must be a JSON object of client metadata (RFC 7591 §2): "+clip.String(err.Error()))
		return
	}
	var allowed []string
	if s.opts.Registration == RegistrationAllowedHosts {
		allowed = s.opts.RegistrationAllowedHosts
		if allowed == nil {
			allowed = []string{}
		}
	}
	if len(req.GrantTypes) == 0 {
		req.GrantTypes = []string{string(oidc.GrantTypeCode), string(oidc.GrantTypeRefreshToken)}
	}
	for _, g := range req.GrantTypes {
		switch oidc.GrantType(g) {
		case oidc.GrantTypeCode, oidc.GrantTypeRefreshToken, oidc.GrantTypeDeviceCode, oidc.GrantTypeClientCredentials, oidc.GrantTypeTokenExchange:
		default:
			writeOAuthError(w, http.StatusBadRequest, "invalid_client_metadata", "grant type "+clip.String(g)+" is not supported; use authorization_code, refresh_token, urn:ietf:params:oauth:grant-type:device_code, client_credentials or token exchange")
			return
		}
	}
	if slices.Contains(req.GrantTypes, string(oidc.GrantTypeCode)) && len(req.RedirectURIs) == 0 {
		writeOAuthError(w, http.StatusBadRequest, "invalid_redirect_uri", "redirect_uris is required for the authorization_code grant")
		return
	}
	appType, err := resolveApplicationType(req.ApplicationType, req.RedirectURIs, allowed, s.opts.AllowInsecureHTTP)
	if ae, ok := errors.AsType[*appTypeError](err); ok {
		s.log.WarnContext(r.Context(), "client registration refused", "reason", ae.msg, "ip", clientIP(r))
		writeOAuthError(w, http.StatusBadRequest, ae.code, ae.msg)
		return
	}
	// Post-logout redirect URIs follow the rules of the client's redirect URIs.
	if _, err := resolveApplicationType(appType, req.PostLogoutRedirectURIs, allowed, s.opts.AllowInsecureHTTP); err != nil {
		msg := err.Error()
		if ae, ok := errors.AsType[*appTypeError](err); ok {
			msg = ae.msg
		}
		writeOAuthError(w, http.StatusBadRequest, "invalid_client_metadata", "post_logout_redirect_uris: "+msg)
		return
	}
	if len(req.ResponseTypes) == 0 {
		req.ResponseTypes = []string{"code"}
	}
	if len(req.ResponseTypes) != 1 || req.ResponseTypes[0] != "code" {
		writeOAuthError(w, http.StatusBadRequest, "invalid_client_metadata", "only response_types [\"code\"] is supported")
		return
	}
	method := req.TokenEndpointAuthMethod
	if method == "" {
		method = "none"
	}
	var secret string
	switch method {
	case "none":
		if slices.Contains(req.GrantTypes, string(oidc.GrantTypeClientCredentials)) {
			writeOAuthError(w, http.StatusBadRequest, "invalid_client_metadata", "client_credentials needs a confidential client: set token_endpoint_auth_method to client_secret_basic")
			return
		}
	case "client_secret_basic", "client_secret_post":
		secret = randomToken(32)
	case AuthMethodPrivateKeyJWT:
		if err := checkRegisteredJWKS(req.JWKS, req.JWKSURI, s.opts.AllowInsecureHTTP); err != nil {
			writeOAuthError(w, http.StatusBadRequest, "invalid_client_metadata", err.Error())
			return
		}
	default:
		writeOAuthError(w, http.StatusBadRequest, "invalid_client_metadata", "token_endpoint_auth_method "+clip.String(method)+" is not supported; use none, client_secret_basic, client_secret_post or private_key_jwt")
		return
	}
	name := strings.TrimSpace(req.ClientName)
	if len(name) > 100 {
		name = name[:100]
	}
	now := s.opts.Now()
	c := store.Client{ID: "dcr_" + randomToken(18), Name: name, RedirectURIs: req.RedirectURIs, PostLogoutRedirectURIs: req.PostLogoutRedirectURIs, GrantTypes: req.GrantTypes,
		Source: "dcr", ApplicationType: appType, CreatedAt: now, ExpiresAt: s.registeredClientExpiry(now)}
	if req.Scope != "" {
		c.Scopes = strings.Fields(req.Scope)
	}
	if secret != "" {
		c.SecretHash = hashToken(secret)
	}
	if method == AuthMethodPrivateKeyJWT {
		c.AuthMethod, c.JWKS, c.JWKSURI = method, req.JWKS, req.JWKSURI
	}
	if err := s.store.CreateClient(r.Context(), c); err != nil {
		oe := s.internalError(r.Context(), "saving registered client failed", err)
		writeOAuthError(w, http.StatusInternalServerError, string(oe.ErrorType), oe.Description)
		return
	}
	s.log.InfoContext(r.Context(), "client registered", "client_id", c.ID, "client_name", name, "redirect_hosts", redirectHosts(c.RedirectURIs), "auth_method", method, "application_type", appType)
	resp := registrationResponse{ClientID: c.ID, ClientSecret: secret, ClientIDIssuedAt: now.Unix(), RedirectURIs: c.RedirectURIs,
		ClientName: name, GrantTypes: c.GrantTypes, ResponseTypes: req.ResponseTypes, TokenEndpointAuthMethod: method, Scope: req.Scope, ApplicationType: appType, JWKS: c.JWKS, JWKSURI: c.JWKSURI,
		PostLogoutRedirectURIs: c.PostLogoutRedirectURIs}
	if secret != "" {
		zero := int64(0)
		resp.ClientSecretExpiresAt = &zero
	}
	writeJSON(w, http.StatusCreated, resp)
}

// registrationAllowed counts a registration from ip and reports whether it is within the
// hourly limit: RegistrationsPerIPPerHour, or RegistrationsPerLoopbackPerHour for a loopback
// address (negative: not counted at all). A store error lets the registration through.
func (s *Server) registrationAllowed(ctx context.Context, ip string) bool {
	limit := s.opts.RegistrationsPerIPPerHour
	if addr, err := netip.ParseAddr(ip); err == nil && addr.Unmap().IsLoopback() {
		limit = s.opts.RegistrationsPerLoopbackPerHour
	}
	if limit < 0 {
		return true
	}
	n, _, err := s.store.RecordLoginFailure(ctx, "register:"+ip, s.opts.Now(), time.Hour)
	if err != nil || n <= limit {
		return true
	}
	if n == limit+1 {
		s.log.WarnContext(ctx, "client registration rate limit reached", "ip", ip, "limit_per_hour", limit)
	}
	return false
}
