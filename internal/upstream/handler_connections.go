package upstream

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/mcpgate/mcpgate/internal/ui"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/mcpgate/mcpgate/internal/store"
)

const (
	stateCookiePrefix = "mcpgate_connect_"
	stateTTL          = 10 * time.Minute
	csrfTTL           = 2 * time.Hour
)

// Handler serves the connection pages under the path of BaseURL:
//
//	GET  {base}/                     My connections (list, connect, disconnect)
//	GET  {base}/{provider}/connect   consent page stating what linking allows
//	POST {base}/{provider}/connect   starts authorization code + PKCE at the provider
//	GET  {base}/{provider}/callback  code exchange, stores the sealed tokens
//	POST {base}/{provider}/disconnect revokes (when supported) and deletes
//
// Mount it so that requests arrive with their full path (http.Handle(base+"/", h)).
func (cs *Connections) Handler() http.Handler {
	u, _ := url.Parse(cs.c.BaseURL)
	base := strings.TrimRight(u.Path, "/")
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+base+"/{$}", cs.handleList)
	mux.HandleFunc("GET "+base+"/{provider}/connect", cs.handleConnectPage)
	mux.HandleFunc("POST "+base+"/{provider}/connect", cs.handleConnectStart)
	mux.HandleFunc("GET "+base+"/{provider}/callback", cs.handleCallback)
	mux.HandleFunc("POST "+base+"/{provider}/disconnect", cs.handleDisconnect)
	mux.HandleFunc("GET "+base+"/{provider}/client-metadata.json", cs.handleClientMetadata)
	return cs.secureHeaders(mux)
}

func (cs *Connections) secureHeaders(next http.Handler) http.Handler {
	// No form-action directive: browsers apply it to the whole redirect chain that follows
	// the connect form, and a third party's sign-in may hop across hosts we cannot list.
	// The pages' forms only ever post to this handler.
	csp := "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'"
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ui.SetPageHeaders(w.Header(), csp)
		w.Header().Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

func (cs *Connections) user(w http.ResponseWriter, r *http.Request) (string, bool) {
	if cs.c.CurrentUser != nil {
		if s, ok := cs.c.CurrentUser(r); ok && s != "" {
			return s, true
		}
	}
	if cs.c.LoginURL != nil && r.Method == http.MethodGet {
		http.Redirect(w, r, cs.c.LoginURL(r.URL.RequestURI()), http.StatusFound)
		return "", false
	}
	d := pageData{Title: "Sign in first", Error: "You are not signed in. Sign in, then open this page again."}
	if cs.c.LoginURL != nil {
		// A form posted without a session (it expired): sign in, then back to the page
		// that holds the form (the connect page, or the list for a disconnect).
		back := r.URL.Path
		if r.PathValue("provider") == "" || strings.HasSuffix(back, "/disconnect") {
			back = cs.cookiePath()
		}
		d.Error = "You are not signed in (your session may have expired)."
		d.SignIn = cs.c.LoginURL(back)
	}
	cs.page(w, http.StatusUnauthorized, d)
	return "", false
}

func (cs *Connections) app(w http.ResponseWriter, r *http.Request) (*connApp, bool) {
	a, ok := cs.apps[r.PathValue("provider")]
	if !ok {
		cs.page(w, http.StatusNotFound, pageData{Title: "Unknown service", Error: fmt.Sprintf("No service named %q is configured. See the list of services on the connections page.", r.PathValue("provider")), Back: cs.c.BaseURL + "/"})
	}
	return a, ok
}

// groups returns the signed-in user's groups (nil when unknown).
func (cs *Connections) groups(r *http.Request, sub string) []string {
	if cs.c.UserGroups == nil {
		return nil
	}
	return cs.c.UserGroups(r, sub)
}

// offeredTo reports whether a is offered to the signed-in user; unknown groups offer
// every connection (the provider still checks the caller's token's groups).
func (cs *Connections) offeredTo(r *http.Request, sub string, a *connApp) bool {
	return cs.c.UserGroups == nil || a.offered(cs.groups(r, sub))
}

// offered answers the pages of a connection not offered to the user with a refusal.
func (cs *Connections) offered(w http.ResponseWriter, r *http.Request, sub string, a *connApp) bool {
	if cs.offeredTo(r, sub, a) {
		return true
	}
	cs.page(w, http.StatusForbidden, pageData{Title: "Connect " + a.display(), Error: fmt.Sprintf("%s is not offered to you. Your administrator offers it to some groups only.", a.display()), Back: cs.c.BaseURL + "/"})
	return false
}

// appWithEndpoints is app for the pages that need the provider's endpoints: a discovered
// connection is discovered first, and a failure is explained on the page.
func (cs *Connections) appWithEndpoints(w http.ResponseWriter, r *http.Request) (*connApp, bool) {
	a, ok := cs.app(w, r)
	if !ok {
		return nil, false
	}
	ra, err := cs.resolve(r.Context(), a)
	if err != nil {
		cs.page(w, http.StatusBadGateway, pageData{Title: "Connect " + a.display(), Error: fmt.Sprintf("%s cannot be set up right now: its sign-in service could not be discovered. Try again later; if it keeps failing, tell your administrator (the gateway log says why).", a.display()), Back: cs.c.BaseURL + "/"})
		return nil, false
	}
	return ra, true
}

// extraScopes reads the scopes an upstream asked for in a step-up challenge (the connect
// URL's scope parameter): scope tokens only, at most 32 of them.
func extraScopes(s string) []string {
	var out []string
	for _, f := range strings.Fields(s) {
		if validScopeToken(f) && !slices.Contains(out, f) && len(out) < 32 {
			out = append(out, f)
		}
	}
	return out
}

// scopesFor is the app's scopes with the extra ones added.
func scopesFor(a *connApp, extra []string) []string {
	out := slices.Clone(a.Scopes)
	for _, e := range extra {
		if !slices.Contains(out, e) {
			out = append(out, e)
		}
	}
	return out
}

// --- CSRF and state: sealed values bound to the user (no server-side session needed,
// so any replica can check them).

type csrfClaims struct {
	Sub string `json:"s"`
	Exp int64  `json:"e"`
}

func (cs *Connections) csrfToken(sub string) string {
	b, _ := json.Marshal(csrfClaims{Sub: sub, Exp: cs.c.Now().Add(csrfTTL).Unix()})
	s, _ := cs.c.Keys.Seal(b, []byte("mcpgate-connections-csrf"))
	return s
}

func (cs *Connections) checkCSRF(r *http.Request, sub string) error {
	if o := r.Header.Get("Origin"); o != "" && o != "null" {
		bu, _ := url.Parse(cs.c.BaseURL)
		if o != bu.Scheme+"://"+bu.Host {
			return fmt.Errorf("request came from %s, not from this site", o)
		}
	}
	if r.Header.Get("Sec-Fetch-Site") == "cross-site" {
		return errors.New("cross-site form submissions are refused")
	}
	b, err := cs.c.Keys.Open(r.PostFormValue("csrf"), []byte("mcpgate-connections-csrf"))
	if err != nil {
		return errors.New("the form token is missing or invalid")
	}
	var c csrfClaims
	if json.Unmarshal(b, &c) != nil || c.Sub != sub || cs.c.Now().Unix() > c.Exp {
		return errors.New("the form token is expired or belongs to another user")
	}
	return nil
}

type connectState struct {
	State    string `json:"st"`
	Verifier string `json:"v"`
	Sub      string `json:"s"`
	App      string `json:"a"`
	Exp      int64  `json:"e"`
	Return   string `json:"r,omitempty"`
	Scope    string `json:"sc,omitempty"`
}

func randomString(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (cs *Connections) cookiePath() string {
	u, _ := url.Parse(cs.c.BaseURL)
	return strings.TrimRight(u.Path, "/") + "/"
}

func (cs *Connections) secureCookie() bool { return strings.HasPrefix(cs.c.BaseURL, "https://") }

// --- pages

type pageData struct {
	Title  string
	User   string
	Error  string
	Notice string
	Back   string
	// SignIn links to the sign-in page (Options.LoginURL) on the "Sign in first" page.
	SignIn   string
	CSRF     string
	Base     string
	Rows     []rowData
	App      *appView
	Returned string
}

type appView struct {
	Name, Display, Scopes, Resource, Host string
	// Extra are the scopes an upstream's challenge asked for, carried by the form.
	Extra string
}

type rowData struct {
	Name, Display, Status, Scope, Since, Expires, ConnectURL, DisconnectURL string
	Connected, Broken                                                       bool
	// Required: the administrator requires this user to link it.
	Required bool
}

func (cs *Connections) page(w http.ResponseWriter, status int, d pageData) {
	d.Base = cs.c.BaseURL
	var body strings.Builder
	if err := pageTmpl.Execute(&body, d); err != nil {
		cs.log.Error("rendering connections page", "err", err)
	}
	p := ui.Page{Brand: cs.c.Branding, Title: d.Title, User: d.User, Error: d.Error, Notice: d.Notice, Wide: d.Rows != nil,
		Body: template.HTML(body.String())}
	if err := ui.Write(w, status, p); err != nil {
		cs.log.Error("rendering connections page", "err", err)
	}
}

// label names the user on the pages: a name or email when UserLabel knows one.
func (cs *Connections) label(r *http.Request, sub string) string {
	if cs.c.UserLabel != nil {
		if l := cs.c.UserLabel(r, sub); l != "" {
			return l
		}
	}
	return sub
}

func (cs *Connections) handleList(w http.ResponseWriter, r *http.Request) {
	sub, ok := cs.user(w, r)
	if !ok {
		return
	}
	recs, err := cs.c.Store.ListConnections(r.Context(), sub)
	if err != nil {
		cs.log.ErrorContext(r.Context(), "listing connections", "subject", sub, "err", err)
		cs.page(w, http.StatusServiceUnavailable, pageData{Title: "My connections", Error: "Your connections cannot be read right now (storage error). Try again in a minute."})
		return
	}
	byApp := map[string]store.Connection{}
	for _, rec := range recs {
		byApp[rec.Provider] = rec
	}
	names := make([]string, 0, len(cs.apps))
	for n := range cs.apps {
		names = append(names, n)
	}
	sort.Strings(names)
	d := pageData{Title: "My connections", User: cs.label(r, sub), CSRF: cs.csrfToken(sub)}
	groups := cs.groups(r, sub)
	for _, n := range names {
		a := cs.apps[n]
		if !cs.offeredTo(r, sub, a) {
			if _, linked := byApp[n]; !linked {
				continue
			}
		}
		row := rowData{Required: a.required(groups), Name: n, Display: a.display(), Status: "Not connected", ConnectURL: cs.ConnectURL(n), DisconnectURL: cs.c.BaseURL + "/" + url.PathEscape(n) + "/disconnect"}
		if rec, ok := byApp[n]; ok {
			row.Connected = true
			row.Scope = rec.Scope
			row.Since = rec.CreatedAt.UTC().Format("2006-01-02 15:04 UTC")
			if !rec.ExpiresAt.IsZero() {
				row.Expires = rec.ExpiresAt.UTC().Format("2006-01-02 15:04 UTC")
			}
			row.Status = "Connected"
			if rec.Status == StatusBroken {
				row.Broken = true
				row.Status = "Needs reconnecting (" + rec.Reason + ")"
			}
		}
		d.Rows = append(d.Rows, row)
	}
	switch {
	case r.URL.Query().Get("connected") != "":
		if a, ok := cs.apps[r.URL.Query().Get("connected")]; ok {
			d.Notice = a.display() + " is connected. You can go back to your agent and retry."
		}
	case r.URL.Query().Get("disconnected") != "":
		if a, ok := cs.apps[r.URL.Query().Get("disconnected")]; ok {
			d.Notice = a.display() + " is disconnected."
		}
	}
	cs.page(w, http.StatusOK, d)
}

func (cs *Connections) handleConnectPage(w http.ResponseWriter, r *http.Request) {
	sub, ok := cs.user(w, r)
	if !ok {
		return
	}
	a, ok := cs.appWithEndpoints(w, r)
	if !ok || !cs.offered(w, r, sub, a) {
		return
	}
	u, _ := url.Parse(a.AuthorizeURL)
	extra := extraScopes(r.URL.Query().Get("scope"))
	cs.page(w, http.StatusOK, pageData{
		Title: "Connect " + a.display(), User: cs.label(r, sub), CSRF: cs.csrfToken(sub),
		App:      &appView{Name: a.Name, Display: a.display(), Scopes: strings.Join(scopesFor(a, extra), " "), Resource: a.Resource, Host: u.Host, Extra: strings.Join(extra, " ")},
		Returned: safeReturn(r.URL.Query().Get("return")),
	})
}

// safeReturn keeps only same-site relative paths.
func safeReturn(s string) string {
	if s == "" || !strings.HasPrefix(s, "/") || strings.HasPrefix(s, "//") || strings.HasPrefix(s, "/\\") {
		return ""
	}
	return s
}

func (cs *Connections) handleConnectStart(w http.ResponseWriter, r *http.Request) {
	sub, ok := cs.user(w, r)
	if !ok {
		return
	}
	a, ok := cs.appWithEndpoints(w, r)
	if !ok || !cs.offered(w, r, sub, a) {
		return
	}
	if err := cs.checkCSRF(r, sub); err != nil {
		cs.log.WarnContext(r.Context(), "connect refused: csrf", "provider", a.Name, "subject", sub, "err", err)
		cs.page(w, http.StatusForbidden, pageData{Title: "Connect " + a.display(), Error: "This request was refused: " + err.Error() + ". Open the connect page again and use its button.", Back: cs.ConnectURL(a.Name)})
		return
	}
	scopes := scopesFor(a, extraScopes(r.PostFormValue("scope")))
	st := connectState{State: randomString(24), Verifier: randomString(48), Sub: sub, App: a.Name, Exp: cs.c.Now().Add(stateTTL).Unix(), Return: safeReturn(r.PostFormValue("return")),
		Scope: strings.Join(scopes, " ")}
	b, _ := json.Marshal(st)
	sealed, err := cs.c.Keys.Seal(b, []byte("mcpgate-connect-state"))
	if err != nil {
		cs.page(w, http.StatusInternalServerError, pageData{Title: "Connect " + a.display(), Error: "Internal error preparing the sign-in."})
		return
	}
	http.SetCookie(w, &http.Cookie{Name: stateCookiePrefix + a.Name, Value: sealed, Path: cs.cookiePath(), MaxAge: int(stateTTL.Seconds()),
		HttpOnly: true, Secure: cs.secureCookie(), SameSite: http.SameSiteLaxMode})
	challenge := sha256.Sum256([]byte(st.Verifier))
	q := url.Values{
		"response_type":         {"code"},
		"client_id":             {a.ClientID},
		"redirect_uri":          {cs.callbackURL(a.Name)},
		"state":                 {st.State},
		"code_challenge":        {base64.RawURLEncoding.EncodeToString(challenge[:])},
		"code_challenge_method": {"S256"},
	}
	if st.Scope != "" {
		q.Set("scope", st.Scope)
	}
	if a.Resource != "" {
		q.Set("resource", a.Resource)
	}
	for k, v := range a.AuthParams {
		q.Set(k, v)
	}
	target := a.AuthorizeURL
	if strings.Contains(target, "?") {
		target += "&" + q.Encode()
	} else {
		target += "?" + q.Encode()
	}
	cs.log.InfoContext(r.Context(), "connect started", "provider", a.Name, "subject", sub)
	http.Redirect(w, r, target, http.StatusSeeOther)
}

func (cs *Connections) callbackURL(app string) string {
	return cs.c.BaseURL + "/" + url.PathEscape(app) + "/callback"
}

func (cs *Connections) handleCallback(w http.ResponseWriter, r *http.Request) {
	a, ok := cs.appWithEndpoints(w, r)
	if !ok {
		return
	}
	fail := func(status int, msg string) {
		cs.page(w, status, pageData{Title: "Connect " + a.display(), Error: msg, Back: cs.ConnectURL(a.Name)})
	}
	sub, ok := cs.user(w, r)
	if !ok {
		return
	}
	ck, err := r.Cookie(stateCookiePrefix + a.Name)
	http.SetCookie(w, &http.Cookie{Name: stateCookiePrefix + a.Name, Value: "", Path: cs.cookiePath(), MaxAge: -1, HttpOnly: true, Secure: cs.secureCookie(), SameSite: http.SameSiteLaxMode})
	if err != nil {
		fail(http.StatusBadRequest, "This sign-in was not started here, or took longer than 10 minutes. Start again from the connect page.")
		return
	}
	b, err := cs.c.Keys.Open(ck.Value, []byte("mcpgate-connect-state"))
	var st connectState
	if err != nil || json.Unmarshal(b, &st) != nil {
		fail(http.StatusBadRequest, "The sign-in state is invalid. Start again from the connect page.")
		return
	}
	q := r.URL.Query()
	switch {
	case subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(st.State)) != 1:
		cs.log.WarnContext(r.Context(), "connect callback refused: state mismatch", "provider", a.Name, "subject", sub)
		fail(http.StatusBadRequest, "The sign-in response does not belong to this browser session (state mismatch). Start again from the connect page.")
		return
	case st.Sub != sub || st.App != a.Name:
		fail(http.StatusForbidden, "This sign-in was started by another mcpgate user or for another service. Start again from the connect page.")
		return
	case cs.c.Now().Unix() > st.Exp:
		fail(http.StatusBadRequest, "The sign-in took longer than 10 minutes. Start again from the connect page.")
		return
	case q.Get("error") != "":
		cs.log.InfoContext(r.Context(), "connect refused by provider", "provider", a.Name, "subject", sub, "error", q.Get("error"))
		fail(http.StatusBadRequest, fmt.Sprintf("%s did not grant access (%s: %s).", a.display(), q.Get("error"), q.Get("error_description")))
		return
	case q.Get("code") == "":
		fail(http.StatusBadRequest, "The sign-in response has no authorization code.")
		return
	}
	if iss := q.Get("iss"); iss != "" { // RFC 9207 mix-up defence when the AS sends it
		au, _ := url.Parse(a.AuthorizeURL)
		iu, err := url.Parse(iss)
		if err != nil || iu.Host != au.Host || (a.Issuer != "" && iss != a.Issuer) {
			fail(http.StatusBadRequest, "The sign-in response came from an unexpected issuer.")
			return
		}
	}
	form := url.Values{"grant_type": {"authorization_code"}, "code": {q.Get("code")}, "redirect_uri": {cs.callbackURL(a.Name)}, "code_verifier": {st.Verifier}}
	if a.Resource != "" {
		form.Set("resource", a.Resource)
	}
	t, _, err := a.tc.exchange(r.Context(), form, st.Scope)
	if err != nil {
		cs.log.WarnContext(r.Context(), "connect code exchange failed", "provider", a.Name, "subject", sub, "reason", Reason(err), "err", err)
		fail(http.StatusBadGateway, fmt.Sprintf("%s did not complete the connection (%s). Try again; if it keeps failing, tell your administrator.", a.display(), Reason(err)))
		return
	}
	if err := cs.link(r.Context(), a, sub, t); err != nil {
		cs.log.ErrorContext(r.Context(), "storing connection failed", "provider", a.Name, "subject", sub, "err", err)
		fail(http.StatusServiceUnavailable, "The connection could not be saved (storage error). Try again.")
		return
	}
	cs.log.InfoContext(r.Context(), "connection linked", "provider", a.Name, "subject", sub, "refresh_token", t.RefreshToken != "", "expires_at", t.ExpiresAt)
	dest := cs.c.BaseURL + "/?connected=" + url.QueryEscape(a.Name)
	if st.Return != "" {
		dest = st.Return
	}
	http.Redirect(w, r, dest, http.StatusSeeOther)
}

func (cs *Connections) handleDisconnect(w http.ResponseWriter, r *http.Request) {
	sub, ok := cs.user(w, r)
	if !ok {
		return
	}
	a, ok := cs.app(w, r)
	if !ok {
		return
	}
	if err := cs.checkCSRF(r, sub); err != nil {
		cs.page(w, http.StatusForbidden, pageData{Title: "Disconnect " + a.display(), Error: "This request was refused: " + err.Error() + ". Use the button on the connections page.", Back: cs.c.BaseURL + "/"})
		return
	}
	if err := cs.disconnect(r.Context(), sub, a); err != nil {
		cs.page(w, http.StatusServiceUnavailable, pageData{Title: "Disconnect " + a.display(), Error: "The connection could not be removed (storage error). Try again.", Back: cs.c.BaseURL + "/"})
		return
	}
	http.Redirect(w, r, cs.c.BaseURL+"/?disconnected="+url.QueryEscape(a.Name), http.StatusSeeOther)
}

// Disconnect removes the subject's connection to provider: its refresh token is revoked
// at the provider when it supports revocation (best effort), then the stored tokens are
// deleted. The connection pages' Disconnect button and the admin console use it. An
// unknown provider only deletes what is stored.
func (cs *Connections) Disconnect(ctx context.Context, subject, provider string) error {
	if a, ok := cs.apps[provider]; ok {
		return cs.disconnect(ctx, subject, a)
	}
	return cs.c.Store.DeleteConnection(ctx, subject, provider)
}

func (cs *Connections) disconnect(ctx context.Context, sub string, a *connApp) error {
	if ra, err := cs.resolve(ctx, a); err == nil {
		a = ra // a discovered connection's revocation endpoint
	}
	if rec, err := cs.c.Store.GetConnection(ctx, sub, a.Name); err == nil && a.RevocationURL != "" {
		if toks, err := cs.open(rec); err == nil && toks.RefreshToken != "" {
			cs.revoke(ctx, a, toks.RefreshToken, "refresh_token")
		}
	}
	if err := cs.c.Store.DeleteConnection(ctx, sub, a.Name); err != nil {
		return err
	}
	cs.log.InfoContext(ctx, "connection removed", "provider", a.Name, "subject", sub)
	return nil
}

// revoke tells the provider to revoke a token (RFC 7009). Best effort.
func (cs *Connections) revoke(ctx context.Context, a *connApp, tok, hint string) {
	form := url.Values{"token": {tok}, "token_type_hint": {hint}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.RevocationURL, nil)
	if err != nil {
		return
	}
	if err := a.clientAuth().apply(req, form, a.RevocationURL, cs.c.Now()); err != nil {
		return
	}
	body := form.Encode()
	req.Body = io.NopCloser(strings.NewReader(body))
	req.ContentLength = int64(len(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := a.tc.http.Do(req)
	if err != nil {
		cs.log.WarnContext(ctx, "revocation failed", "provider", a.Name, "err", scrubErr(err))
		return
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		cs.log.WarnContext(ctx, "revocation refused", "provider", a.Name, "status", resp.StatusCode)
	}
}

// pageTmpl is the body of the connection pages; ui.Page adds the shared layout (title,
// user, alerts).
var pageTmpl = template.Must(template.New("page").Parse(`{{with .App}}
<p class="lead">Connecting lets tools you use through this gateway act <strong>as you</strong> at <strong>{{.Display}}</strong> ({{.Host}}).</p>
<ul class="plain">
<li>You will sign in at {{.Display}} and approve access{{if .Scopes}} to: <code>{{.Scopes}}</code>{{end}}.</li>
{{if .Resource}}<li>Access is limited to <code>{{.Resource}}</code>.</li>{{end}}
<li>The gateway stores the tokens encrypted and renews them automatically. Your {{.Display}} password never reaches it.</li>
<li>You can disconnect at any time on <a href="{{$.Base}}/">My connections</a>.</li>
</ul>
<form method="post" action="{{$.Base}}/{{.Name}}/connect">
<input type="hidden" name="csrf" value="{{$.CSRF}}">
{{if $.Returned}}<input type="hidden" name="return" value="{{$.Returned}}">{{end}}
{{if .Extra}}<input type="hidden" name="scope" value="{{.Extra}}">{{end}}
<div class="buttons"><a class="btn" href="{{$.Base}}/">Cancel</a> <button class="primary" type="submit">Connect {{.Display}}</button></div>
</form>
{{end}}
{{if .Rows}}
<p class="lead">Services that tools may use as you. Connect one when an agent asks you to; remove it again at any time to take that access back.</p>
<table><thead><tr><th scope="col">Service</th><th scope="col">Status</th><th scope="col">Access</th><th scope="col"><span class="muted">Action</span></th></tr></thead><tbody>
{{range .Rows}}<tr>
<td><strong>{{.Display}}</strong>{{if .Required}}<br><small class="muted">Required by your administrator</small>{{end}}</td>
<td>{{if .Broken}}<span class="broken">{{.Status}}</span>{{else}}{{.Status}}{{end}}{{if .Since}}<br><small class="muted">since {{.Since}}</small>{{end}}</td>
<td>{{if .Scope}}<code>{{.Scope}}</code>{{end}}</td>
<td>{{if or (not .Connected) .Broken}}<a class="btn primary" href="{{.ConnectURL}}">{{if .Broken}}Reconnect{{else}}Connect{{end}}</a>{{end}}
{{if .Connected}}<form method="post" action="{{.DisconnectURL}}"><input type="hidden" name="csrf" value="{{$.CSRF}}"><button type="submit">Disconnect</button></form>{{end}}</td>
</tr>{{end}}
</tbody></table>
{{end}}
{{if .SignIn}}<p><a class="button primary" href="{{.SignIn}}">Sign in</a></p>{{end}}
{{if .Back}}<p><a href="{{.Back}}">Back</a></p>{{end}}
`))
