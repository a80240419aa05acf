package entraemulator

import (
	"net/http"
	"net/url"
	"strings"
	"time"
)

// sessionCookie is the name of the emulator's single sign-on cookie (Entra's ESTSAUTH).
const sessionCookie = "ESTSAUTH"

// sessionLifetime bounds a browser sign-in session (Entra: until the browser closes, or
// the session policy; a day is plenty for development).
const sessionLifetime = 24 * time.Hour

// ssoSession is a user's sign-in at the emulator in one browser, remembered with a cookie
// so that later authorization requests — prompt=none from a hidden iframe (MSAL.js
// acquireTokenSilent, ssoSilent) or interactive ones — sign in without the form.
type ssoSession struct {
	user     *user
	amr      []string
	authTime time.Time
	expires  time.Time
}

// startSession remembers the user's sign-in in this browser.
func (em *Emulator) startSession(w http.ResponseWriter, r *http.Request, p *pendingAuth) {
	id := randToken(32)
	em.mu.Lock()
	em.sweepLocked()
	em.sessions[id] = &ssoSession{user: p.user, amr: p.amr, authTime: em.now(), expires: em.now().Add(sessionLifetime)}
	em.mu.Unlock()
	http.SetCookie(w, em.cookie(r, id, 0))
}

// cookie is the session cookie scoped to the emulator's path. Over https it is
// SameSite=None so that a hidden iframe on the application's (other) site sends it, as
// Entra's does; over http browsers refuse SameSite=None, so it is Lax there (which works
// when the application is on the same site, as in `mcpgate demo`).
func (em *Emulator) cookie(r *http.Request, value string, maxAge int) *http.Cookie {
	path := "/"
	secure := r.TLS != nil
	if u, err := url.Parse(em.base(r)); err == nil {
		if p := strings.TrimRight(u.Path, "/"); p != "" {
			path = p + "/"
		}
		secure = u.Scheme == "https"
	}
	c := &http.Cookie{Name: sessionCookie, Value: value, Path: path, HttpOnly: true, Secure: secure, MaxAge: maxAge, SameSite: http.SameSiteLaxMode}
	if secure {
		c.SameSite = http.SameSiteNoneMode
	}
	return c
}

// session is the browser's sign-in session usable for p: the user belongs to the
// requested tenant (or any, for common/organizations), the client is in the user's tenant,
// and a login_hint, if any, names the user.
func (em *Emulator) session(r *http.Request, p *pendingAuth) *ssoSession {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return nil
	}
	em.mu.Lock()
	s := em.sessions[c.Value]
	em.mu.Unlock()
	if s == nil || em.now().After(s.expires) {
		return nil
	}
	u := s.user
	if (p.tenant != nil && u.tenant != p.tenant) || !p.client.inTenant(u.tenant) {
		return nil
	}
	if p.loginHint != "" && !strings.EqualFold(p.loginHint, u.upn) {
		return nil
	}
	return s
}

// endSession forgets the browser's session (sign-out).
func (em *Emulator) endSession(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(sessionCookie); err == nil {
		em.mu.Lock()
		delete(em.sessions, c.Value)
		em.mu.Unlock()
	}
	http.SetCookie(w, em.cookie(r, "", -1))
}
