package authserver

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/mcpgate/mcpgate/internal/clip"
	"github.com/mcpgate/mcpgate/internal/store"
)

// UpstreamError is an error of the upstream identity provider as a RedirectConnector
// reports it from Exchange: shown on the error page (Description, Fix) and logged (LogCode).
type UpstreamError struct {
	// Code is the OAuth error code (invalid_client, invalid_grant ...).
	Code string
	// Description is the provider's error_description (never contains secrets).
	Description string
	// LogCode is the most specific code (AADSTS7000215, or Code).
	LogCode string
	// Fix tells the user or the administrator what to do.
	Fix string
}

func (e *UpstreamError) Error() string {
	return "upstream identity provider: " + e.LogCode + ": " + e.Description
}

// federatedCookie is the prefix of the state cookie; the full name carries a MAC of the
// state, so that sign-ins in several tabs do not overwrite each other.
const federatedCookie = "mcpgate_federated"

func (s *Server) federatedCookieName(state string) string {
	return federatedCookie + "_" + s.mac("federated-name", state)[:12]
}

// federatedState is kept in a signed cookie between the redirect to the upstream identity
// provider and its callback: it binds the callback to this browser and this sign-in.
type federatedState struct {
	// AuthRequest and Client: the authorization request the sign-in is for; or Return: the
	// path on this server a sign-in outside any OAuth flow goes back to (My account, the
	// device page, the console).
	AuthRequest string `json:"a,omitempty"`
	Return      string `json:"r,omitempty"`
	Client      string `json:"cl"`
	Connector   string `json:"c"`
	// Consented: the user approved the client on mcpgate's page before the redirect.
	Consented bool   `json:"ok,omitempty"`
	State     string `json:"s"`
	Nonce     string `json:"n"`
	Verifier  string `json:"v"`
	Expires   int64  `json:"e"`
}

// loginOptions adds the redirect connectors to the login page; with no password connector
// and exactly one redirect connector it redirects at once (and returns true).
func (s *Server) loginOptions(w http.ResponseWriter, r *http.Request, authRequestID string, d *pageData) bool {
	var redirect []RedirectConnector
	password := false
	for _, c := range s.opts.Connectors {
		if rc, ok := c.(RedirectConnector); ok {
			redirect = append(redirect, rc)
		}
		if _, ok := c.(PasswordConnector); ok {
			password = true
		}
	}
	d.PasswordLogin = password
	for _, rc := range redirect {
		d.Federated = append(d.Federated, federatedView{Name: rc.Name(),
			URL: PathFederatedLogin + "?authRequestID=" + url.QueryEscape(authRequestID) + "&connector=" + url.QueryEscape(rc.ID())})
	}
	if !password && len(redirect) == 1 {
		http.Redirect(w, r, d.Federated[0].URL, http.StatusSeeOther)
		return true
	}
	return false
}

type federatedView struct{ Name, URL string }

func (s *Server) redirectConnector(id string) RedirectConnector {
	for _, c := range s.opts.Connectors {
		if rc, ok := c.(RedirectConnector); ok && rc.ID() == id {
			return rc
		}
	}
	return nil
}

// handleFederatedLogin sends the browser to the upstream identity provider — but only
// after the client is approved: the confused-deputy protection for a proxy whose upstream
// client is static (the provider may sign the user in silently). Unless the client is
// trusted or the signed-in user of this browser already approved it, mcpgate shows its
// consent page first (GET), and sets the state cookie, bound to this authorization
// request and client, only on approval (POST). The callback then records the consent for
// the user and the client.
func (s *Server) handleFederatedLogin(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id := r.FormValue("authRequestID")
	if id == "" && r.FormValue(ParamReturn) != "" {
		s.handleFederatedSignIn(w, r)
		return
	}
	a, err := s.store.GetAuthRequest(ctx, id)
	if err != nil {
		s.message(w, http.StatusBadRequest, "Sign-in expired", msgExpiredRequest, detailStartAgain)
		return
	}
	rc := s.redirectConnector(r.FormValue("connector"))
	if rc == nil {
		s.message(w, http.StatusBadRequest, "Unknown sign-in method", "The sign-in method you chose is not configured.", "Go back and choose another one.")
		return
	}
	client, err := s.clients.get(ctx, a.ClientID)
	if err != nil {
		s.message(w, http.StatusBadRequest, "Unknown application", "The application that sent you here is not registered any more.", detailStartAgain)
		return
	}
	consented := false
	switch r.Method {
	case http.MethodGet:
		if !s.approvedBefore(r, a, client) {
			if slices.Contains(a.Prompt, oidc.PromptNone) {
				s.redirectError(w, r, a, "consent_required", "the application is not approved in this browser and prompt=none was requested")
				return
			}
			s.render(w, http.StatusOK, "consent.html", pageData{Title: "Allow access?", ClientName: client.Name, ClientID: client.ID,
				RedirectHost: strings.Join(redirectHosts([]string{a.RedirectURI}), ", "), AuthRequestID: id, Resources: a.Resources,
				Scopes: scopeViews(consentScopes(a.Scopes)), LocalOnly: allLoopback(client.RedirectURIs), SignInWith: rc.Name(),
				Action: PathFederatedLogin, Hidden: map[string]string{"connector": rc.ID()}, CSRF: s.csrfToken(w, r, "federated:"+id)})
			return
		}
	case http.MethodPost:
		if !s.checkCSRF(r, "federated:"+id) {
			s.message(w, http.StatusForbidden, "Please try again", "The approval form expired or was opened in another window.", detailStartAgain)
			return
		}
		if r.PostFormValue("action") != "approve" {
			s.log.InfoContext(ctx, "consent denied before upstream sign-in", "client_id", clip.String(a.ClientID), "connector", rc.ID())
			s.redirectError(w, r, a, "access_denied", "the user denied access to this application")
			return
		}
		consented = true
	default:
		s.methodNotAllowed(w)
		return
	}
	st := federatedState{AuthRequest: id, Client: a.ClientID, Connector: rc.ID(), State: randomToken(24), Nonce: randomToken(24), Verifier: randomToken(32),
		Consented: consented, Expires: s.opts.Now().Add(s.opts.AuthRequestLifetime).Unix()}
	sum := sha256.Sum256([]byte(st.Verifier))
	u, err := rc.AuthCodeURL(ctx, RedirectStart{State: st.State, Nonce: st.Nonce, CodeChallenge: base64.RawURLEncoding.EncodeToString(sum[:]),
		RedirectURI: s.issuer + PathFederatedCallback, LoginHint: a.LoginHint, Prompt: a.Prompt})
	if err != nil {
		s.log.ErrorContext(ctx, "federated sign-in could not start", "connector", rc.ID(), "err", err)
		s.failToClient(w, r, a, http.StatusBadGateway, "Sign-in unavailable", "mcpgate could not reach "+rc.Name()+" to start the sign-in.",
			"Try again in a minute; if it persists, the administrator should check the connector's issuer and the logs ("+rc.ID()+").",
			"temporarily_unavailable", "mcpgate could not reach "+rc.Name()+" to start the sign-in; try again later")
		return
	}
	payload, _ := json.Marshal(st)
	v := base64.RawURLEncoding.EncodeToString(payload)
	s.setCookie(w, s.federatedCookieName(st.State), v+"."+s.mac("federated", v), s.opts.AuthRequestLifetime)
	s.log.InfoContext(ctx, "federated sign-in started", "connector", rc.ID(), "auth_request", id, "client_id", clip.String(a.ClientID), "consented_now", consented)
	http.Redirect(w, r, u, http.StatusFound)
}

// approvedBefore: the client is trusted, or this browser's signed-in user approved it
// (for these scopes).
func (s *Server) approvedBefore(r *http.Request, a store.AuthRequest, client store.Client) bool {
	if client.Trusted {
		return true
	}
	sess, ok := s.getSession(r)
	if !ok || slices.Contains(a.Prompt, oidc.PromptConsent) {
		return false
	}
	c, err := s.store.GetConsent(r.Context(), sess.UserID, a.ClientID)
	return err == nil && c.Covers(consentScopes(a.Scopes))
}

func allLoopback(uris []string) bool {
	for _, u := range uris {
		if p, err := url.Parse(u); err != nil || !isLoopbackHost(p.Hostname()) {
			return false
		}
	}
	return true
}

func (s *Server) federatedCookieState(r *http.Request, state string) (federatedState, bool) {
	if state == "" {
		return federatedState{}, false
	}
	c, err := r.Cookie(s.cookieName(s.federatedCookieName(state)))
	if err != nil {
		return federatedState{}, false
	}
	v, sig, ok := strings.Cut(c.Value, ".")
	if !ok || !hmacEqual(sig, s.mac("federated", v)) {
		return federatedState{}, false
	}
	raw, err := base64.RawURLEncoding.DecodeString(v)
	var st federatedState
	if err != nil || json.Unmarshal(raw, &st) != nil || s.opts.Now().Unix() >= st.Expires {
		return federatedState{}, false
	}
	return st, true
}

// handleFederatedCallback is where the upstream identity provider sends the browser back.
func (s *Server) handleFederatedCallback(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	q := r.URL.Query()
	st, ok := s.federatedCookieState(r, q.Get("state"))
	if !ok || q.Get("state") == "" || !hmacEqual(q.Get("state"), st.State) {
		s.log.WarnContext(ctx, "federated callback refused: state does not match this browser's sign-in", "cookie", ok)
		s.message(w, http.StatusBadRequest, "Sign-in could not be completed",
			"This sign-in response does not belong to a sign-in started in this browser, or it has expired.",
			"Go back to the application and start the sign-in again, in the same browser.")
		return
	}
	s.clearCookie(w, s.federatedCookieName(st.State))
	rc := s.redirectConnector(st.Connector)
	if rc == nil {
		s.message(w, http.StatusBadRequest, "Unknown sign-in method", "The sign-in method is not configured any more.", detailStartAgain)
		return
	}
	if st.Return != "" {
		s.finishFederatedSignIn(w, r, rc, st)
		return
	}
	a, err := s.store.GetAuthRequest(ctx, st.AuthRequest)
	if err != nil || a.ClientID != st.Client {
		s.message(w, http.StatusBadRequest, "Sign-in expired", msgExpiredRequest, detailStartAgain)
		return
	}
	if code := q.Get("error"); code != "" {
		logCode, fix := rc.ExplainError(code, q.Get("error_description"))
		s.upstreamErrorPage(w, r, rc, &UpstreamError{Code: code, Description: q.Get("error_description"), LogCode: logCode, Fix: fix}, a)
		return
	}
	ident, err := rc.Exchange(ctx, RedirectFinish{Code: q.Get("code"), CodeVerifier: st.Verifier, Nonce: st.Nonce, RedirectURI: s.issuer + PathFederatedCallback})
	if err != nil {
		var ue *UpstreamError
		if errors.As(err, &ue) {
			s.upstreamErrorPage(w, r, rc, ue, a)
			return
		}
		s.log.ErrorContext(ctx, "federated sign-in failed", "connector", rc.ID(), "client_id", clip.String(a.ClientID), "err", err)
		s.observe().SignIn(rc.ID(), "failed")
		s.failToClient(w, r, a, http.StatusBadGateway, "Sign-in failed", "mcpgate could not complete the sign-in with "+rc.Name()+".",
			"Try again; if it persists, the administrator finds the reason in mcpgate's log (connector "+rc.ID()+").",
			"server_error", "mcpgate could not complete the sign-in with "+rc.Name())
		return
	}
	now := s.opts.Now()
	if _, err := s.store.UpdateAuthRequest(ctx, a.ID, func(a *store.AuthRequest) error {
		a.UserID, a.AuthTime, a.AMR = ident.UserID, now, []string{"fed"}
		return nil
	}); err != nil {
		s.message(w, http.StatusBadRequest, "Sign-in expired", msgExpiredRequest, detailStartAgain)
		return
	}
	s.setSession(w, ident.UserID, now)
	s.log.InfoContext(ctx, "user signed in", "connector", rc.ID(), "sub", ident.UserID, "username", ident.Username, "ip", clientIP(r))
	s.observe().SignIn(rc.ID(), "ok")
	if st.Consented {
		// Approved in this browser before the redirect: remember it for this user and client.
		scopes := consentScopes(a.Scopes)
		if old, err := s.store.GetConsent(ctx, ident.UserID, a.ClientID); err == nil {
			for _, sc := range old.Scopes {
				if !slices.Contains(scopes, sc) {
					scopes = append(scopes, sc)
				}
			}
		}
		c := store.Consent{UserID: ident.UserID, ClientID: a.ClientID, Scopes: scopes, GrantedAt: now}
		if s.opts.ConsentLifetime > 0 {
			c.ExpiresAt = now.Add(s.opts.ConsentLifetime)
		}
		if err := s.store.PutConsent(ctx, c); err != nil {
			s.log.ErrorContext(ctx, "saving consent failed", "err", err)
			s.message(w, http.StatusInternalServerError, "Something went wrong", "Your approval could not be saved. Please try again.", "")
			return
		}
		s.log.InfoContext(ctx, "consent granted", "sub", ident.UserID, "client_id", clip.String(a.ClientID), "scope", strings.Join(consentScopes(a.Scopes), " "))
	}
	// The consent page is per user and per client: it finishes at once when the consent
	// is (now) on record, and asks otherwise.
	http.Redirect(w, r, PathConsent+"?authRequestID="+url.QueryEscape(a.ID), http.StatusSeeOther)
}

func (s *Server) upstreamErrorPage(w http.ResponseWriter, r *http.Request, rc RedirectConnector, e *UpstreamError, a store.AuthRequest) {
	s.observe().SignIn(rc.ID(), "refused")
	s.log.WarnContext(r.Context(), "upstream identity provider refused the sign-in", "connector", rc.ID(), "code", e.LogCode,
		"error", e.Code, "client_id", clip.String(a.ClientID), "description", e.Description)
	detail := e.Fix
	if detail == "" {
		detail = detailStartAgain
	}
	msg := rc.Name() + " refused the sign-in (" + e.LogCode + ")"
	if e.Description != "" {
		msg += ": " + e.Description
	}
	s.failToClient(w, r, a, http.StatusBadGateway, "Sign-in failed", msg, detail, clientErrorCode(e.Code), msg)
}
