package authserver

import (
	"cmp"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/mcpgate/mcpgate/internal/clip"
)

// ParamReturn is the query parameter of a sign-in that has no authorization request: the
// path on this server to go back to afterwards (see LoginURL).
const ParamReturn = "return"

// LoginURL is the sign-in page for a visitor of another page served by this process (My
// connections), outside any OAuth flow: GET /login?return=<path>. After a password
// sign-in, or at once when the browser already has a session, the visitor is sent back
// to returnTo, which must be a path on this server ("/connections/tasks/connect").
func (s *Server) LoginURL(returnTo string) string {
	return PathLogin + "?" + ParamReturn + "=" + url.QueryEscape(returnTo)
}

// localPath accepts a return target only when it is a path on this server: it starts
// with one "/" (not "//" or "/\", which browsers treat as another host), has no scheme,
// host or control characters. Anything else would make the sign-in page an open redirect.
func localPath(p string) (string, bool) {
	if p == "" || len(p) > 2048 || p[0] != '/' || strings.HasPrefix(p, "//") || strings.HasPrefix(p, "/\\") {
		return "", false
	}
	for _, c := range p {
		if c < 0x20 || c == 0x7f || c == '\\' {
			return "", false
		}
	}
	u, err := url.Parse(p)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return "", false
	}
	return u.RequestURI(), true
}

// handleSignIn is /login without an authorization request (LoginURL): it signs the
// browser in to this server (the session cookie the authorization pages use) and goes
// back to the page that sent it, with a local account or through an identity provider
// (handleFederatedSignIn; with no password accounts and one provider, at once).
func (s *Server) handleSignIn(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	ret, ok := localPath(r.FormValue(ParamReturn))
	if !ok {
		s.message(w, http.StatusBadRequest, "Cannot sign in here", "The page that sent you here is not on this server.", "Open the page you wanted again from its link.")
		return
	}
	if sess, ok := s.getSession(r); ok {
		if _, err := s.lookupIdentity(ctx, sess.UserID); err == nil {
			http.Redirect(w, r, ret, http.StatusSeeOther)
			return
		}
	}
	federated := s.signInOptions(ret)
	if !s.hasPasswordLogin() {
		switch len(federated) {
		case 0:
			s.message(w, http.StatusUnauthorized, "Sign in first", "This server has no way to sign you in outside an application.",
				"Connect an MCP client to a server behind this gateway first (that signs you in), then open this page again.")
		case 1:
			http.Redirect(w, r, federated[0].URL, http.StatusSeeOther)
		default:
			s.render(w, http.StatusOK, "login.html", pageData{Title: "Sign in", ClientName: "mcpgate", Federated: federated})
		}
		return
	}
	purpose := "signin:" + ret
	data := pageData{Title: "Sign in", Action: PathLogin, ClientName: "mcpgate", Hidden: map[string]string{ParamReturn: ret}, PasswordLogin: true, Federated: federated}
	switch r.Method {
	case http.MethodGet:
		data.CSRF = s.csrfToken(w, r, purpose)
		s.render(w, http.StatusOK, "login.html", data)
	case http.MethodPost:
		if !s.checkCSRF(r, purpose) {
			data.Error = "Your sign-in form expired or was opened in another window. Please enter your username and password again."
			data.CSRF = s.csrfToken(w, r, purpose)
			s.render(w, http.StatusForbidden, "login.html", data)
			return
		}
		username, password := strings.TrimSpace(r.PostFormValue("username")), r.PostFormValue("password")
		data.Username = username
		ident, status, msg := s.authenticate(r, username, password)
		if msg != "" {
			data.Error = msg
			data.CSRF = s.csrfToken(w, r, purpose)
			s.render(w, status, "login.html", data)
			return
		}
		s.setSession(w, ident.UserID, s.opts.Now())
		http.Redirect(w, r, ret, http.StatusSeeOther)
	default:
		s.methodNotAllowed(w)
	}
}

// hasPasswordLogin reports whether a connector signs users in with a username and password.
func (s *Server) hasPasswordLogin() bool {
	for _, c := range s.opts.Connectors {
		if _, ok := c.(PasswordConnector); ok {
			return true
		}
	}
	return false
}

// signInOptions are the identity providers a visitor can sign in with outside any OAuth
// flow, each a link that comes back to ret.
func (s *Server) signInOptions(ret string) []federatedView {
	var out []federatedView
	for _, c := range s.opts.Connectors {
		if rc, ok := c.(RedirectConnector); ok {
			out = append(out, federatedView{Name: rc.Name(),
				URL: PathFederatedLogin + "?" + url.Values{"connector": {rc.ID()}, ParamReturn: {ret}}.Encode()})
		}
	}
	return out
}

// handleFederatedSignIn starts a sign-in at an identity provider for a page of this server
// (ParamReturn), outside any OAuth flow: no application receives tokens, so there is no
// consent to ask; the browser gets mcpgate's session and goes back to the page.
func (s *Server) handleFederatedSignIn(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if r.Method != http.MethodGet {
		s.methodNotAllowed(w)
		return
	}
	ret, ok := localPath(r.FormValue(ParamReturn))
	if !ok {
		s.message(w, http.StatusBadRequest, "Cannot sign in here", "The page that sent you here is not on this server.", "Open the page you wanted again from its link.")
		return
	}
	rc := s.redirectConnector(r.FormValue("connector"))
	if rc == nil {
		s.message(w, http.StatusBadRequest, "Unknown sign-in method", "The sign-in method you chose is not configured.", "Go back and choose another one.")
		return
	}
	st := federatedState{Return: ret, Connector: rc.ID(), State: randomToken(24), Nonce: randomToken(24), Verifier: randomToken(32),
		Expires: s.opts.Now().Add(s.opts.AuthRequestLifetime).Unix()}
	sum := sha256.Sum256([]byte(st.Verifier))
	u, err := rc.AuthCodeURL(ctx, RedirectStart{State: st.State, Nonce: st.Nonce, CodeChallenge: base64.RawURLEncoding.EncodeToString(sum[:]),
		RedirectURI: s.issuer + PathFederatedCallback})
	if err != nil {
		s.log.ErrorContext(ctx, "federated sign-in could not start", "connector", rc.ID(), "err", err)
		s.message(w, http.StatusBadGateway, "Sign-in unavailable", "mcpgate could not reach "+rc.Name()+" to start the sign-in.",
			"Try again in a minute; if it persists, the administrator should check the connector's issuer and the logs ("+rc.ID()+").")
		return
	}
	payload, _ := json.Marshal(st)
	v := base64.RawURLEncoding.EncodeToString(payload)
	s.setCookie(w, s.federatedCookieName(st.State), v+"."+s.mac("federated", v), s.opts.AuthRequestLifetime)
	s.log.InfoContext(ctx, "federated sign-in started", "connector", rc.ID(), "return", clip.String(ret))
	http.Redirect(w, r, u, http.StatusFound)
}

// finishFederatedSignIn is the callback of handleFederatedSignIn: the provider's answer
// signs the browser in and sends it back to st.Return, or says why not.
func (s *Server) finishFederatedSignIn(w http.ResponseWriter, r *http.Request, rc RedirectConnector, st federatedState) {
	ctx := r.Context()
	q := r.URL.Query()
	fail := func(e *UpstreamError) {
		s.observe().SignIn(rc.ID(), "refused")
		s.log.WarnContext(ctx, "upstream identity provider refused the sign-in", "connector", rc.ID(), "code", e.LogCode, "error", e.Code, "description", e.Description)
		msg := rc.Name() + " refused the sign-in (" + e.LogCode + ")"
		if e.Description != "" {
			msg += ": " + e.Description
		}
		s.message(w, http.StatusBadGateway, "Sign-in failed", msg, cmp.Or(e.Fix, "Open the page you wanted again and sign in again."))
	}
	if code := q.Get("error"); code != "" {
		logCode, fix := rc.ExplainError(code, q.Get("error_description"))
		fail(&UpstreamError{Code: code, Description: clip.String(q.Get("error_description")), LogCode: logCode, Fix: fix})
		return
	}
	ident, err := rc.Exchange(ctx, RedirectFinish{Code: q.Get("code"), CodeVerifier: st.Verifier, Nonce: st.Nonce, RedirectURI: s.issuer + PathFederatedCallback})
	if ue, ok := errors.AsType[*UpstreamError](err); ok {
		fail(ue)
		return
	}
	if err != nil {
		s.log.ErrorContext(ctx, "federated sign-in failed", "connector", rc.ID(), "err", err)
		s.observe().SignIn(rc.ID(), "failed")
		s.message(w, http.StatusBadGateway, "Sign-in failed", "mcpgate could not complete the sign-in with "+rc.Name()+".",
			"Try again; if it persists, the administrator finds the reason in mcpgate's log (connector "+rc.ID()+").")
		return
	}
	s.setSession(w, ident.UserID, s.opts.Now())
	s.log.InfoContext(ctx, "user signed in", "connector", rc.ID(), "sub", ident.UserID, "username", ident.Username, "ip", clientIP(r), "return", clip.String(st.Return))
	s.observe().SignIn(rc.ID(), "ok")
	http.Redirect(w, r, st.Return, http.StatusSeeOther)
}
