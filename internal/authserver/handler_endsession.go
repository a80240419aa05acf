package authserver

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/pkg/op"
)

// EndSessionConnector ends the user's session at the identity provider when they sign out
// of mcpgate (OIDC RP-Initiated Logout 1.0, mcpgate as the relying party).
type EndSessionConnector interface {
	Connector
	// EndSession deletes the provider tokens mcpgate keeps for the user and returns the
	// provider's end-session URL for the browser (carrying postLogout as
	// post_logout_redirect_uri and state), or "" when the provider has none or signing out
	// there is off. ErrUnknownUser: not this connector's user.
	EndSession(ctx context.Context, userID, postLogout, state string) (string, error)
}

// signedOutStateLifetime bounds the round trip through the provider's end-session page.
const signedOutStateLifetime = 15 * time.Minute

// endSessionUser carries the browser session's user into TerminateSessionFromRequest (the
// cookie is cleared before op runs).
type endSessionUserKey struct{}

// handleEndSession clears this browser's session cookie, then lets op finish RP-initiated
// logout: TerminateSessionFromRequest revokes the user's refresh tokens for the client and,
// for a federated user, ends the session at the identity provider too.
func (s *Server) handleEndSession(w http.ResponseWriter, r *http.Request) {
	if sess, ok := s.getSession(r); ok {
		r = r.WithContext(context.WithValue(r.Context(), endSessionUserKey{}, sess.UserID))
	}
	s.clearCookie(w, sessionCookie)
	s.provider.ServeHTTP(w, r)
}

// TerminateSessionFromRequest implements op.CanTerminateSessionFromRequest: the user's
// sign-ins at the client end (TerminateSession), and when a connector signed the user in
// and can end its own session, the browser goes there first and comes back through
// PathSignedOut to where op would have sent it.
func (st *opStorage) TerminateSessionFromRequest(ctx context.Context, req *op.EndSessionRequest) (string, error) {
	s := st.s
	user := req.UserID
	if user != "" {
		if err := st.TerminateSession(ctx, user, req.ClientID); err != nil {
			return "", err
		}
	} else if u, _ := ctx.Value(endSessionUserKey{}).(string); u != "" {
		user = u // no id_token_hint: the browser's own session ends
	}
	next := req.RedirectURI
	if next == "" {
		next = s.issuer + PathSignedOut
	}
	if user == "" {
		return next, nil
	}
	for _, c := range s.opts.Connectors {
		ec, ok := c.(EndSessionConnector)
		if !ok {
			continue
		}
		to, err := ec.EndSession(ctx, user, s.issuer+PathSignedOut, s.signedOutState(next))
		if errors.Is(err, ErrUnknownUser) {
			continue
		}
		if err != nil {
			// The user is signed out of mcpgate; the provider's session could not be ended.
			s.log.WarnContext(ctx, "signing out at the identity provider failed; the user is signed out of mcpgate only", "connector", c.ID(), "sub", user, "err", err)
			return next, nil
		}
		if to != "" {
			return to, nil
		}
		return next, nil
	}
	return next, nil
}

// signedOutState carries where the browser goes after the provider's end-session page,
// with an expiry, under the cookie MAC.
func (s *Server) signedOutState(next string) string {
	v := base64.RawURLEncoding.EncodeToString([]byte(next)) + "." + strconv.FormatInt(s.opts.Now().Add(signedOutStateLifetime).Unix(), 10)
	return v + "." + s.mac("signed-out", v)
}

// handleSignedOut ends a sign-out: with a valid state from signedOutState it sends the
// browser on to the client's post-logout redirect URI; otherwise it says the user is signed
// out.
func (s *Server) handleSignedOut(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if st := r.URL.Query().Get("state"); st != "" && len(st) < 8<<10 {
		if next, ok := s.openSignedOutState(st); ok && next != s.issuer+PathSignedOut {
			http.Redirect(w, r, next, http.StatusFound)
			return
		}
	}
	s.message(w, http.StatusOK, "You are signed out", "You have signed out of mcpgate.",
		"Your applications will ask you to sign in again the next time they need you. You can close this window.")
}

func (s *Server) openSignedOutState(st string) (string, bool) {
	i := strings.LastIndex(st, ".")
	if i < 0 || !hmacEqual(st[i+1:], s.mac("signed-out", st[:i])) {
		return "", false
	}
	enc, exp, ok := strings.Cut(st[:i], ".")
	if !ok {
		return "", false
	}
	t, err := strconv.ParseInt(exp, 10, 64)
	if err != nil || s.opts.Now().Unix() > t {
		return "", false
	}
	b, err := base64.RawURLEncoding.DecodeString(enc)
	if err != nil {
		return "", false
	}
	u, err := url.Parse(string(b))
	if err != nil || !u.IsAbs() {
		return "", false
	}
	return u.String(), true
}
