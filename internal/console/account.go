package console

import (
	"cmp"
	"errors"
	"html/template"
	"net/http"
	"strconv"
	"strings"

	"github.com/mcpgate/mcpgate/internal/authserver"
	"github.com/mcpgate/mcpgate/internal/store"
	"github.com/mcpgate/mcpgate/internal/ui"
)

const accountCSRFCookie = "mcpgate_account_csrf"

type accountData struct {
	CSRF, ConnectionsURL string
	Apps                 []grantRow
	SignIns              []signInRow
	Connections          []connRow
}

var accountTmpl = template.Must(template.New("account").Parse(`<p class="lead">What you allowed through this gateway, and where you are signed in. Each button takes access back at once.</p>
<h2 id="apps">Applications you allowed</h2>
{{if .Apps}}<table><thead><tr><th scope="col">Application</th><th scope="col">Scopes</th><th scope="col">Allowed</th><th scope="col"><span class="muted">Action</span></th></tr></thead><tbody>
{{range .Apps}}<tr data-grant="{{.Client}}"><td>{{.Name}}</td><td>{{.Scopes}}</td><td>{{.Granted}}</td><td><form method="post" action="/account/apps/revoke"><input type="hidden" name="csrf" value="{{$.CSRF}}"><input type="hidden" name="client" value="{{.Client}}"><button type="submit" aria-label="Revoke the access of {{.Name}}">Revoke</button></form></td></tr>
{{end}}</tbody></table>
<p class="muted">Revoking stops the application's tokens at once; it must ask for your consent again.</p>{{else}}<p class="muted">You have not allowed any application yet.</p>{{end}}
<h2 id="signins">Where you are signed in</h2>
{{if .SignIns}}<table><thead><tr><th scope="col">Application</th><th scope="col">Signed in</th><th scope="col">Last refreshed</th><th scope="col">Ends</th><th scope="col"><span class="muted">Action</span></th></tr></thead><tbody>
{{range .SignIns}}<tr data-signin="{{.Handle}}"><td>{{.Client}}</td><td>{{.SignedIn}}</td><td>{{.Refreshed}}</td><td>{{.Expires}}</td><td><form method="post" action="/account/signins/revoke"><input type="hidden" name="csrf" value="{{$.CSRF}}"><input type="hidden" name="signin" value="{{.Handle}}"><button type="submit" aria-label="Sign out of {{.Client}}">Sign out</button></form></td></tr>
{{end}}</tbody></table>{{else}}<p class="muted">No application holds a sign-in that it can renew.</p>{{end}}
<form method="post" action="/account/signout-everywhere" class="buttons"><input type="hidden" name="csrf" value="{{.CSRF}}"><button type="submit" class="primary">Sign out everywhere</button></form>
<p class="muted">Signs every application out (their tokens stop working) and this browser too.</p>
<h2 id="connections">Connected services</h2>
{{if .Connections}}<table><thead><tr><th scope="col">Service</th><th scope="col">State</th><th scope="col">Scopes</th><th scope="col">Since</th><th scope="col"><span class="muted">Action</span></th></tr></thead><tbody>
{{range .Connections}}<tr data-connection="{{.Provider}}"><td>{{.Name}}</td><td>{{.Status}}</td><td>{{.Scope}}</td><td>{{.Since}}</td><td><form method="post" action="/account/connections/disconnect"><input type="hidden" name="csrf" value="{{$.CSRF}}"><input type="hidden" name="provider" value="{{.Provider}}"><button type="submit" aria-label="Disconnect {{.Name}}">Disconnect</button></form></td></tr>
{{end}}</tbody></table>{{else}}<p class="muted">No service is connected.</p>{{end}}
{{if .ConnectionsURL}}<p><a href="{{.ConnectionsURL}}">My connections</a>: connect a service, or reconnect one.</p>{{end}}
`))

// accountActions are the account page's POST endpoints; each acts on the signed-in user
// only.
var accountActions = map[string]func(con *Console, w http.ResponseWriter, r *http.Request, sub string) outcome{
	"/account/apps/revoke":            (*Console).accountRevokeApp,
	"/account/signins/revoke":         (*Console).accountEndSignIn,
	"/account/signout-everywhere":     (*Console).accountSignOutEverywhere,
	"/account/connections/disconnect": (*Console).accountDisconnect,
}

// Account serves /account, "My account" of the signed-in user: the applications they
// allowed (revoke), their sign-ins (sign out of one, or everywhere) and their connected
// services (disconnect). Changes are POSTs with the page's form token, audited as route
// account.
func (con *Console) Account(brand ui.Branding) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pageHeaders(w)
		page := ui.Page{Brand: brand, Title: "My account", Wide: true, StyleURL: authserver.PathStatic + "style.css"}
		sub, ok := con.as.CurrentUser(r)
		if !ok {
			if r.Method == http.MethodGet || r.Method == http.MethodHead {
				http.Redirect(w, r, con.as.LoginURL("/account"), http.StatusFound)
				return
			}
			con.consoleRefuse(w, page, http.StatusForbidden, "You are not signed in any more. Open My account again.")
			return
		}
		page.User = cmp.Or(con.as.UserLabel(r, sub), sub)
		who := actor{sub: sub}
		if id, ok := con.as.FindUser(r.Context(), sub); ok {
			who.email = id.Email
		}
		switch {
		case r.Method == http.MethodPost:
			act, ok := accountActions[r.URL.Path]
			var res outcome
			switch {
			case !ok:
				res = failed(http.StatusNotFound, "My account has no action at "+r.URL.Path+".")
			case !con.formTokenOK(r, accountCSRFCookie):
				res = failed(http.StatusForbidden, "This form expired or came from another site. Open My account again and use its button.")
			default:
				res = act(con, w, r, sub)
			}
			con.finishAction(w, r, "account", "account"+strings.TrimPrefix(r.URL.Path, "/account"), who, res, "/account", "Back to My account")
			return
		case r.Method != http.MethodGet && r.Method != http.MethodHead:
			w.Header().Set("Allow", "GET, POST")
			con.consoleRefuse(w, page, http.StatusMethodNotAllowed, "This page is opened (GET) and its buttons post forms (POST); nothing else.")
			return
		case r.URL.Path != "/account" && r.URL.Path != "/account/":
			page.Title = "Not found"
			con.consoleRefuse(w, page, http.StatusNotFound, "There is no page at "+r.URL.Path+".")
			return
		}
		page.Notice = consoleNotice(r.URL.Query())
		d := accountData{CSRF: con.formToken(w, r, accountCSRFCookie, "/account")}
		d.ConnectionsURL = con.connectionsURL
		ctx := r.Context()
		var errs []string
		consents, err := con.store.ListConsents(ctx, sub)
		if err != nil {
			con.log.ErrorContext(ctx, "my account: listing consents", "err", err)
			errs = append(errs, "applications")
		}
		for _, c := range consents {
			d.Apps = append(d.Apps, grantRow{Client: c.ClientID, Name: con.clientName(ctx, c.ClientID), Scopes: strings.Join(c.Scopes, " "), Granted: fmtTime(c.GrantedAt)})
		}
		if d.SignIns, err = con.signInRows(ctx, sub, 0, false); err != nil {
			errs = append(errs, "sign-ins")
		}
		if d.Connections, err = con.connectionRows(ctx, sub); err != nil {
			errs = append(errs, "connected services")
		}
		if len(errs) > 0 {
			page.Error = "Cannot be read right now (storage error): " + strings.Join(errs, ", ") + ". Try again in a moment."
		}
		var body strings.Builder
		if err := accountTmpl.Execute(&body, d); err != nil {
			con.log.ErrorContext(ctx, "rendering my account", "err", err)
		}
		page.Body = template.HTML(body.String())
		ui.Write(w, http.StatusOK, page)
	})
}

func (con *Console) accountRevokeApp(_ http.ResponseWriter, r *http.Request, sub string) outcome {
	client := clipParam(r.PostFormValue("client"))
	if _, err := con.store.GetConsent(r.Context(), sub, client); errors.Is(err, store.ErrNotFound) {
		return outcome{status: http.StatusNotFound, failure: "You have not allowed this application.", what: client}
	}
	if _, _, err := con.as.RevokeGrant(r.Context(), sub, client); err != nil {
		con.log.ErrorContext(r.Context(), "my account: revoking a grant", "client_id", client, "err", err)
		return outcome{status: http.StatusServiceUnavailable, failure: "The access could not be revoked (storage error). Try again.", what: client}
	}
	return outcome{done: "grant-revoked", what: client, notice: con.clientName(r.Context(), client), back: "/account#apps"}
}

func (con *Console) accountEndSignIn(_ http.ResponseWriter, r *http.Request, sub string) outcome {
	handle := clipParam(r.PostFormValue("signin"))
	if handle == "all" {
		return failed(http.StatusBadRequest, "Use Sign out everywhere.")
	}
	n, res := con.endSignIns(r, sub, handle)
	if res.failure != "" {
		res.what = "sign-in"
		return res
	}
	return outcome{done: "signins-ended", what: "sign-in", notice: strconv.Itoa(n), back: "/account#signins"}
}

func (con *Console) accountSignOutEverywhere(w http.ResponseWriter, r *http.Request, sub string) outcome {
	n, res := con.endSignIns(r, sub, "all")
	if res.failure != "" {
		res.what = "every sign-in"
		return res
	}
	if err := con.as.EndBrowserSessions(r.Context(), w, sub); err != nil {
		con.log.ErrorContext(r.Context(), "my account: signing out of every browser", "sub", sub, "err", err)
		return failed(http.StatusServiceUnavailable, "Your applications are signed out, but other browsers could not be (storage error). Try again.")
	}
	return outcome{done: "signins-ended", what: "every sign-in", notice: strconv.Itoa(n), back: "/"}
}

func (con *Console) accountDisconnect(_ http.ResponseWriter, r *http.Request, sub string) outcome {
	provider := clipParam(r.PostFormValue("provider"))
	if _, err := con.store.GetConnection(r.Context(), sub, provider); errors.Is(err, store.ErrNotFound) {
		return outcome{status: http.StatusNotFound, failure: "No service " + provider + " is connected.", what: provider}
	}
	if err := con.disconnect(r.Context(), sub, provider); err != nil {
		con.log.ErrorContext(r.Context(), "my account: disconnecting", "provider", provider, "err", err)
		return outcome{status: http.StatusServiceUnavailable, failure: "The service could not be disconnected (storage error). Try again.", what: provider}
	}
	return outcome{done: "connection-revoked", what: provider, notice: con.connName(provider), back: "/account#connections"}
}
