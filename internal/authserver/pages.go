package authserver

import (
	"embed"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/mcpgate/mcpgate/internal/store"
	"github.com/mcpgate/mcpgate/internal/ui"
)

//go:embed templates/*.html
var templateFS embed.FS

type pages struct {
	t        *template.Template
	brand    ui.Branding
	describe ResourceDescriber
}

func newPages() (*pages, error) {
	t, err := template.ParseFS(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	return &pages{t: t}, nil
}

// staticHandler serves the shared stylesheet (internal/ui) at style.css.
func staticHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "style.css" && r.URL.Path != "/style.css" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=3600")
		w.Header().Set("Content-Type", "text/css; charset=utf-8")
		io.WriteString(w, ui.CSS)
	})
}

// SetBranding sets the operator's name and logo shown on every page.
func (s *Server) SetBranding(b ui.Branding) { s.pages.brand = b }

// Branding returns what SetBranding set.
func (s *Server) Branding() ui.Branding { return s.pages.brand }

// pageData is what every template gets.
type pageData struct {
	Title, Error, Notice, Issuer, CSRF string
	Brand                              ui.Branding
	// login
	Action, ClientName, Username string
	Hidden                       map[string]string
	// PasswordLogin shows the username/password form; Federated are "Sign in with" buttons.
	PasswordLogin bool
	Federated     []federatedView
	// consent
	ClientID, RedirectHost, UserName, AuthRequestID string
	Resources                                       []string
	Scopes                                          []scopeView
	LocalOnly                                       bool
	// SignInWith names the identity provider when consent is asked before the upstream
	// sign-in (federation).
	SignInWith string
	// Operator says who runs the application (static, DCR, CIMD host).
	Operator string
	// Routes describe each resource (consent: tools, upstream identity).
	Routes []ResourceView
	// device; Device is true when the code names a pending request (details shown).
	Device   bool
	UserCode string
	SignedIn bool
	// message
	Message, Detail string
	// ReturnURL, when set, is where the page sends the browser after ReturnDelay seconds
	// (an error for the MCP client's redirect_uri), with a link to go at once.
	ReturnURL   template.URL
	ReturnDelay int
}

type scopeView struct{ Name, Description string }

var scopeDescriptions = map[string]string{
	"openid":         "confirm who you are",
	"profile":        "see your name and username",
	"email":          "see your email address",
	"offline_access": "stay signed in (refresh its access without asking you again)",
}

func scopeViews(scopes []string) []scopeView {
	out := make([]scopeView, 0, len(scopes))
	for _, s := range scopes {
		d, ok := scopeDescriptions[s]
		if !ok {
			d = "use the permission “" + s + "”"
		}
		out = append(out, scopeView{Name: s, Description: d})
	}
	return out
}

// securityHeaders forbid framing and inline content, and caching of pages with CSRF tokens.
func securityHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self' data:; base-uri 'none'; frame-ancestors 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
}

func (s *Server) render(w http.ResponseWriter, status int, name string, d pageData) {
	securityHeaders(w)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	d.Issuer = s.issuer
	d.Brand = s.pages.brand
	w.WriteHeader(status)
	if err := s.pages.t.ExecuteTemplate(w, name, d); err != nil {
		s.log.Error("rendering page failed", "page", name, "err", err)
	}
}

func (s *Server) message(w http.ResponseWriter, status int, title, msg, detail string) {
	d := pageData{Title: title, Message: msg, Detail: detail}
	if status >= 400 {
		d.Error = msg
		d.Message = ""
	}
	s.render(w, status, "message.html", d)
}

// --- cookies, session and CSRF

func (s *Server) cookieName(base string) string {
	if s.secure {
		return "__Host-" + base
	}
	return base
}

func (s *Server) setCookie(w http.ResponseWriter, name, value string, maxAge time.Duration) {
	http.SetCookie(w, &http.Cookie{Name: s.cookieName(name), Value: value, Path: "/", HttpOnly: true, Secure: s.secure,
		SameSite: http.SameSiteLaxMode, MaxAge: int(maxAge.Seconds())})
}

func (s *Server) clearCookie(w http.ResponseWriter, name string) {
	http.SetCookie(w, &http.Cookie{Name: s.cookieName(name), Value: "", Path: "/", HttpOnly: true, Secure: s.secure,
		SameSite: http.SameSiteLaxMode, MaxAge: -1})
}

// session is the signed-in user of this browser.
type session struct {
	UserID   string
	AuthTime time.Time
}

const sessionCookie = "mcpgate_session"
const csrfCookie = "mcpgate_csrf"

func (s *Server) setSession(w http.ResponseWriter, userID string, at time.Time) {
	exp := at.Add(s.opts.SessionLifetime)
	v := url.QueryEscape(userID) + "|" + strconv.FormatInt(at.Unix(), 10) + "|" + strconv.FormatInt(exp.Unix(), 10)
	s.setCookie(w, sessionCookie, v+"|"+s.mac("session", v), s.opts.SessionLifetime)
}

func (s *Server) getSession(r *http.Request) (session, bool) {
	c, err := r.Cookie(s.cookieName(sessionCookie))
	if err != nil {
		return session{}, false
	}
	i := strings.LastIndex(c.Value, "|")
	if i < 0 {
		return session{}, false
	}
	v, sig := c.Value[:i], c.Value[i+1:]
	if !hmacEqual(sig, s.mac("session", v)) {
		return session{}, false
	}
	parts := strings.Split(v, "|")
	if len(parts) != 3 {
		return session{}, false
	}
	uid, err1 := url.QueryUnescape(parts[0])
	at, err2 := strconv.ParseInt(parts[1], 10, 64)
	exp, err3 := strconv.ParseInt(parts[2], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil || s.opts.Now().Unix() >= exp {
		return session{}, false
	}
	if s.signedOutEverywhere(r, uid, at) {
		return session{}, false
	}
	return session{UserID: uid, AuthTime: time.Unix(at, 0)}, true
}

// signedOutEverywhere reports whether the user signed out of every browser after this
// session began (EndBrowserSessions): the session cookie is signed, not stored, so "Sign
// out everywhere" is a time per user in the store that every replica checks. A store that
// cannot answer refuses the session (the user signs in again).
func (s *Server) signedOutEverywhere(r *http.Request, userID string, began int64) bool {
	bs, ok := s.store.(store.BrowserSignOuts)
	if !ok {
		return false
	}
	at, err := bs.BrowsersSignedOutAt(r.Context(), userID, s.opts.Now())
	if err != nil {
		s.log.ErrorContext(r.Context(), "reading browser sign-outs; the browser session is refused", "err", err)
		return true
	}
	// The cookie keeps seconds: a session that began in the second of the sign-out is
	// refused too (a sign-in in that same second, after it, signs in again).
	return !at.IsZero() && began <= at.Unix()
}

// csrfToken binds a form to this browser (a random cookie) and to one purpose (an auth
// request or the device page).
func (s *Server) csrfToken(w http.ResponseWriter, r *http.Request, purpose string) string {
	c, err := r.Cookie(s.cookieName(csrfCookie))
	var seed string
	if err == nil && len(c.Value) >= 20 {
		seed = c.Value
	} else {
		seed = randomToken(24)
		s.setCookie(w, csrfCookie, seed, 24*time.Hour)
	}
	return s.mac("csrf", seed, purpose)
}

func (s *Server) checkCSRF(r *http.Request, purpose string) bool {
	c, err := r.Cookie(s.cookieName(csrfCookie))
	if err != nil {
		return false
	}
	return hmacEqual(r.PostFormValue("csrf"), s.mac("csrf", c.Value, purpose))
}
