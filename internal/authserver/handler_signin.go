package authserver

import (
	"net/http"
	"net/url"
	"strings"
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
// back to the page that sent it. Only local accounts can sign in here: a federated
// sign-in is bound to an authorization request (its consent and state), so a server
// without password accounts says where to sign in instead.
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
	if !s.hasPasswordLogin() {
		s.message(w, http.StatusUnauthorized, "Sign in first", "This server signs you in through your company's identity provider when an application connects.",
			"Connect an MCP client to a server behind this gateway first (that signs you in), then open this page again.")
		return
	}
	purpose := "signin:" + ret
	data := pageData{Title: "Sign in", Action: PathLogin, ClientName: "mcpgate", Hidden: map[string]string{ParamReturn: ret}, PasswordLogin: true}
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
