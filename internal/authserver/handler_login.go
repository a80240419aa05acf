package authserver

import (
	"context"
	"crypto/hmac"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/mcpgate/mcpgate/internal/clip"
	"github.com/mcpgate/mcpgate/internal/store"
)

func hmacEqual(a, b string) bool { return hmac.Equal([]byte(a), []byte(b)) }

const msgExpiredRequest = "This sign-in request has expired or is unknown."
const detailStartAgain = "Go back to the application and start the sign-in again."

// handleLogin shows and processes the login form of an authorization request, or, with
// ?return= and no request, the sign-in of another page of this server (handleSignIn).
func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id := r.FormValue("authRequestID")
	if id == "" && r.FormValue(ParamReturn) != "" {
		s.handleSignIn(w, r)
		return
	}
	a, err := s.store.GetAuthRequest(ctx, id)
	if err != nil {
		s.message(w, http.StatusBadRequest, "Sign-in expired", msgExpiredRequest, detailStartAgain)
		return
	}
	client, err := s.clients.get(ctx, a.ClientID)
	if err != nil {
		s.message(w, http.StatusBadRequest, "Unknown application", "The application that sent you here is not registered any more.", detailStartAgain)
		return
	}
	data := pageData{Title: "Sign in", Action: PathLogin, ClientName: client.Name, Hidden: map[string]string{"authRequestID": id}, PasswordLogin: true}
	switch r.Method {
	case http.MethodGet:
		if sess, ok := s.getSession(r); ok && s.sessionSatisfies(ctx, a, sess) {
			if _, err := s.store.UpdateAuthRequest(ctx, id, func(a *store.AuthRequest) error {
				a.UserID, a.AuthTime, a.AMR = sess.UserID, sess.AuthTime, []string{"pwd"}
				return nil
			}); err == nil {
				http.Redirect(w, r, PathConsent+"?authRequestID="+url.QueryEscape(id), http.StatusSeeOther)
				return
			}
		}
		if slices.Contains(a.Prompt, oidc.PromptNone) {
			s.redirectError(w, r, a, "login_required", "the user is not signed in and prompt=none was requested")
			return
		}
		data.Username = a.LoginHint
		if s.loginOptions(w, r, id, &data) {
			return
		}
		data.CSRF = s.csrfToken(w, r, "login:"+id)
		s.render(w, http.StatusOK, "login.html", data)
	case http.MethodPost:
		if !s.checkCSRF(r, "login:"+id) {
			data.Error = "Your sign-in form expired or was opened in another window. Please enter your username and password again."
			data.CSRF = s.csrfToken(w, r, "login:"+id)
			s.render(w, http.StatusForbidden, "login.html", data)
			return
		}
		username, password := strings.TrimSpace(r.PostFormValue("username")), r.PostFormValue("password")
		data.Username = username
		ident, status, msg := s.authenticate(r, username, password)
		if msg != "" {
			data.Error = msg
			data.CSRF = s.csrfToken(w, r, "login:"+id)
			s.render(w, status, "login.html", data)
			return
		}
		now := s.opts.Now()
		if _, err := s.store.UpdateAuthRequest(ctx, id, func(a *store.AuthRequest) error {
			a.UserID, a.AuthTime, a.AMR = ident.UserID, now, []string{"pwd"}
			return nil
		}); err != nil {
			s.message(w, http.StatusBadRequest, "Sign-in expired", msgExpiredRequest, detailStartAgain)
			return
		}
		s.setSession(w, ident.UserID, now)
		http.Redirect(w, r, PathConsent+"?authRequestID="+url.QueryEscape(id), http.StatusSeeOther)
	default:
		s.methodNotAllowed(w)
	}
}

// authenticate checks the rate limits and the password. On failure it returns the status
// and the message to show.
func (s *Server) authenticate(r *http.Request, username, password string) (Identity, int, string) {
	ctx := r.Context()
	ip := clientIP(r)
	if username == "" || password == "" {
		s.observe().SignIn("local", "incomplete")
		return Identity{}, http.StatusBadRequest, "Enter your username and password."
	}
	locked, until, err := s.limiter.locked(ctx, username, ip)
	if err != nil {
		s.log.ErrorContext(ctx, "checking login rate limit failed", "err", err)
		return Identity{}, http.StatusServiceUnavailable, "Sign-in is temporarily unavailable. Please try again in a minute."
	}
	if locked {
		mins := int(time.Until(until).Minutes()) + 1
		if d := until.Sub(s.opts.Now()); d > 0 {
			mins = int(d.Minutes()) + 1
		}
		s.log.WarnContext(ctx, "login refused: temporarily locked", "username", clip.String(username), "ip", ip, "until", until)
		s.observe().SignIn("local", "locked")
		return Identity{}, http.StatusTooManyRequests, "Too many failed sign-in attempts. Sign-in is locked for about " + itoa(mins) + " minute(s); try again later."
	}
	ident, ok, err := s.passwordLogin(ctx, username, password)
	if err != nil {
		s.log.ErrorContext(ctx, "login failed with an error", "username", clip.String(username), "err", err)
		s.observe().SignIn("local", "error")
		return Identity{}, http.StatusInternalServerError, "Sign-in failed because of a server problem. Please try again; if it persists, contact the administrator."
	}
	if !ok {
		s.limiter.failed(ctx, username, ip)
		s.log.InfoContext(ctx, "login failed: wrong username or password", "username", clip.String(username), "ip", ip)
		s.observe().SignIn("local", "wrong_password")
		return Identity{}, http.StatusUnauthorized, "Wrong username or password."
	}
	s.limiter.succeeded(ctx, username)
	s.log.InfoContext(ctx, "user signed in", "sub", ident.UserID, "username", ident.Username, "ip", ip)
	s.observe().SignIn("local", "ok")
	return ident, 0, ""
}

func itoa(n int) string {
	if n < 0 {
		n = 0
	}
	b := []byte{}
	for {
		b = append([]byte{byte('0' + n%10)}, b...)
		n /= 10
		if n == 0 {
			return string(b)
		}
	}
}

// sessionSatisfies: prompt=login and max_age force a fresh login.
func (s *Server) sessionSatisfies(ctx context.Context, a store.AuthRequest, sess session) bool {
	if slices.Contains(a.Prompt, oidc.PromptLogin) || slices.Contains(a.Prompt, oidc.PromptSelectAccount) {
		return false
	}
	if a.MaxAgeSeconds != nil && s.opts.Now().Sub(sess.AuthTime) > time.Duration(*a.MaxAgeSeconds)*time.Second {
		return false
	}
	if _, err := s.lookupIdentity(ctx, sess.UserID); errors.Is(err, ErrUnknownUser) {
		return false
	}
	return true
}

// redirectError ends an authorization request with an error at the client's (already
// validated) redirect URI.
func (s *Server) redirectError(w http.ResponseWriter, r *http.Request, a store.AuthRequest, code, desc string) {
	s.store.DeleteAuthRequest(r.Context(), a.ID)
	u, err := url.Parse(a.RedirectURI)
	if err != nil {
		s.message(w, http.StatusBadRequest, "Sign-in failed", desc, "")
		return
	}
	q := u.Query()
	q.Set("error", code)
	q.Set("error_description", desc)
	if a.State != "" {
		q.Set("state", a.State)
	}
	q.Set("iss", s.issuer) // RFC 9207, as on every authorization response (addResponseIssuer)
	u.RawQuery = q.Encode()
	http.Redirect(w, r, u.String(), http.StatusSeeOther)
}

// handleConsent asks the signed-in user to approve the client (per user, client and
// scope; remembered), unless the client is trusted or already approved.
func (s *Server) handleConsent(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id := r.FormValue("authRequestID")
	a, err := s.store.GetAuthRequest(ctx, id)
	if err != nil {
		s.message(w, http.StatusBadRequest, "Sign-in expired", msgExpiredRequest, detailStartAgain)
		return
	}
	sess, ok := s.getSession(r)
	if !ok || a.UserID == "" || sess.UserID != a.UserID {
		http.Redirect(w, r, PathLogin+"?authRequestID="+url.QueryEscape(id), http.StatusSeeOther)
		return
	}
	client, err := s.clients.get(ctx, a.ClientID)
	if err != nil {
		s.message(w, http.StatusBadRequest, "Unknown application", "The application that sent you here is not registered any more.", detailStartAgain)
		return
	}
	scopes := consentScopes(a.Scopes)
	switch r.Method {
	case http.MethodGet:
		if client.Trusted {
			s.finish(w, r, a, "trusted client")
			return
		}
		if c, err := s.store.GetConsent(ctx, a.UserID, a.ClientID); err == nil && c.Covers(scopes) && !slices.Contains(a.Prompt, oidc.PromptConsent) {
			s.finish(w, r, a, "consent remembered")
			return
		}
		if slices.Contains(a.Prompt, oidc.PromptNone) {
			s.redirectError(w, r, a, "consent_required", "the user has not approved this application and prompt=none was requested")
			return
		}
		ident, _ := s.lookupIdentity(ctx, a.UserID)
		hosts := redirectHosts([]string{a.RedirectURI})
		local := true
		for _, u := range client.RedirectURIs {
			if p, err := url.Parse(u); err != nil || !isLoopbackHost(p.Hostname()) {
				local = false
			}
		}
		userName := ident.Name
		if userName == "" {
			userName = ident.Username
		}
		if ident.Email != "" {
			userName += " <" + ident.Email + ">"
		}
		s.render(w, http.StatusOK, "consent.html", pageData{Title: "Allow access?", ClientName: client.Name, ClientID: client.ID,
			RedirectHost: strings.Join(hosts, ", "), UserName: userName, AuthRequestID: id, Resources: a.Resources,
			Scopes: scopeViews(scopes), LocalOnly: local, CSRF: s.csrfToken(w, r, "consent:"+id),
			Operator: s.clientOperator(client), Routes: s.resourceViews(ctx, a.Resources, a.UserID)})
	case http.MethodPost:
		if !s.checkCSRF(r, "consent:"+id) {
			s.message(w, http.StatusForbidden, "Please try again", "The approval form expired or was opened in another window.", "Go back to the application and start the sign-in again.")
			return
		}
		if r.PostFormValue("action") != "approve" {
			s.log.InfoContext(ctx, "consent denied", "sub", a.UserID, "client_id", clip.String(a.ClientID))
			s.redirectError(w, r, a, "access_denied", "the user denied access to this application")
			return
		}
		granted := scopes
		if old, err := s.store.GetConsent(ctx, a.UserID, a.ClientID); err == nil {
			for _, sc := range old.Scopes {
				if !slices.Contains(granted, sc) {
					granted = append(granted, sc)
				}
			}
		}
		now := s.opts.Now()
		c := store.Consent{UserID: a.UserID, ClientID: a.ClientID, Scopes: granted, GrantedAt: now}
		if s.opts.ConsentLifetime > 0 {
			c.ExpiresAt = now.Add(s.opts.ConsentLifetime)
		}
		if err := s.store.PutConsent(ctx, c); err != nil {
			s.log.ErrorContext(ctx, "saving consent failed", "err", err)
			s.message(w, http.StatusInternalServerError, "Something went wrong", "Your approval could not be saved. Please try again.", "")
			return
		}
		s.log.InfoContext(ctx, "consent granted", "sub", a.UserID, "client_id", clip.String(a.ClientID), "scope", strings.Join(scopes, " "))
		s.finish(w, r, a, "consent granted")
	default:
		s.methodNotAllowed(w)
	}
}

// consentScopes are the scopes shown and remembered (openid is implied by signing in).
func consentScopes(scopes []string) []string {
	var out []string
	for _, s := range scopes {
		if s != oidc.ScopeOpenID && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// finish marks the request done and hands it back to op, which issues the code.
func (s *Server) finish(w http.ResponseWriter, r *http.Request, a store.AuthRequest, why string) {
	if _, err := s.store.UpdateAuthRequest(r.Context(), a.ID, func(a *store.AuthRequest) error { a.Done = true; return nil }); err != nil {
		s.message(w, http.StatusBadRequest, "Sign-in expired", msgExpiredRequest, detailStartAgain)
		return
	}
	s.log.InfoContext(r.Context(), "authorization approved", "auth_request", a.ID, "sub", a.UserID, "client_id", clip.String(a.ClientID), "why", why)
	http.Redirect(w, r, PathAuthorizeCallback+"?id="+url.QueryEscape(a.ID), http.StatusSeeOther)
}
