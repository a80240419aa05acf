package console

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/mcpgate/mcpgate/internal/audit"
	"github.com/mcpgate/mcpgate/internal/authserver"
	"github.com/mcpgate/mcpgate/internal/store"
	"github.com/mcpgate/mcpgate/internal/ui"
)

// actor is who acts: the signed-in admin (or, on the account pages, the user).
type actor struct{ sub, email string }

// outcome is what an action did: a failure (status and message for the person), or the
// notice code and its subject for the page it returns to.
type outcome struct {
	status  int
	failure string
	done    string
	what    string // what it acted on, as the audit event's resource
	notice  string // what it acted on, for the person (default what)
	back    string // path (and fragment) to return to
}

func failed(status int, msg string) outcome { return outcome{status: status, failure: msg} }

// consoleNotices are the notices a console or account page shows after an action: a code
// and the object, never free text from the URL.
var consoleNotices = map[string]string{
	"client-deleted":     "Client %s was deleted: it can no longer start a sign-in.",
	"client-disabled":    "Client %s was disabled: it can no longer start a sign-in or refresh its tokens.",
	"client-enabled":     "Client %s was enabled again.",
	"connection-revoked": "The connection to %s was revoked: the user must connect again.",
	"signins-ended":      "Sign-ins ended: %s.",
	"grant-revoked":      "Access of %s was revoked: its tokens no longer work and the next sign-in asks for consent again.",
	"keys-rotated":       "A new signing key %s was published; it signs once the key overlap has passed.",
	"key-removed":        "Signing key %s was removed: the tokens it signed no longer verify.",
}

func consoleNotice(q url.Values) string {
	if f, ok := consoleNotices[q.Get("done")]; ok {
		return fmt.Sprintf(f, clipParam(q.Get("what")))
	}
	if q.Get("deleted") != "" { // links from before the notice codes
		return fmt.Sprintf(consoleNotices["client-deleted"], clipParam(q.Get("deleted")))
	}
	return ""
}

// maxParam bounds every text parameter of the console and account pages.
const maxParam = 256

func clipParam(s string) string {
	if len(s) > maxParam {
		return s[:maxParam] + "…"
	}
	return s
}

// consoleActions are the console's POST endpoints.
var consoleActions = map[string]func(con *Console, r *http.Request) outcome{
	"/admin/clients/delete":     (*Console).consoleDeleteClient,
	"/admin/clients/disable":    (*Console).consoleDisableClient,
	"/admin/connections/revoke": (*Console).consoleRevokeConnection,
	"/admin/signins/revoke":     (*Console).consoleEndSignIns,
	"/admin/grants/revoke":      (*Console).consoleRevokeGrant,
	"/admin/keys/rotate":        (*Console).consoleRotateKeys,
	"/admin/keys/remove":        (*Console).consoleRemoveKey,
}

// consolePost runs one console action: the form token first, then the action; each
// attempt, done or refused, is an audit event (route admin, method admin/<action>).
func (con *Console) consolePost(w http.ResponseWriter, r *http.Request, who actor) {
	act, ok := consoleActions[r.URL.Path]
	method := "admin" + r.URL.Path[len("/admin"):]
	var res outcome
	switch {
	case !ok:
		res = failed(http.StatusNotFound, "The console has no action at "+r.URL.Path+".")
	case !con.formTokenOK(r, consoleCSRFCookie):
		res = failed(http.StatusForbidden, "This form expired or came from another site. Open the admin console again and use its button.")
	default:
		res = act(con, r)
	}
	con.finishAction(w, r, "admin", method, who, res, "/admin", "Back to the admin console")
}

// finishAction records the audit event of an action and answers: a redirect with the
// notice, or the failure page.
func (con *Console) finishAction(w http.ResponseWriter, r *http.Request, route, method string, who actor, res outcome, home, homeLabel string) {
	ev := audit.Event{Time: time.Now().UTC(), Route: route, User: who.sub, Email: who.email, Method: method, Resource: clipParam(res.what)}
	if res.failure != "" {
		ev.Decision, ev.Reason, ev.Status = "deny", res.failure, res.status
		con.auditor.Record(ev)
		con.log.WarnContext(r.Context(), route+": action refused", "path", r.URL.Path, "sub", who.sub, "status", res.status, "reason", res.failure)
		ui.Write(w, res.status, ui.Page{Brand: con.as.Branding(), Title: "Not done", Error: res.failure, StyleURL: authserver.PathStatic + "style.css",
			Body: template.HTML(`<p><a href="` + template.HTMLEscapeString(home) + `">` + template.HTMLEscapeString(homeLabel) + `</a></p>`)})
		return
	}
	ev.Decision, ev.Status = "allow", http.StatusSeeOther
	con.auditor.Record(ev)
	con.log.InfoContext(r.Context(), route+": "+method, "sub", who.sub, "resource", res.what)
	back, frag := res.back, ""
	if i := strings.IndexByte(back, '#'); i >= 0 {
		back, frag = back[:i], back[i:]
	}
	sep := "?"
	if strings.IndexByte(back, '?') >= 0 {
		sep = "&"
	}
	http.Redirect(w, r, back+sep+url.Values{"done": {res.done}, "what": {cmp.Or(res.notice, res.what)}}.Encode()+frag, http.StatusSeeOther)
}

const consoleCSRFCookie = "mcpgate_admin_csrf"

// formToken is a double-submit token: a random SameSite=Strict cookie (scoped to path)
// repeated in each form. It holds on every replica (no server state); posts also need a
// same-origin Origin header (formTokenOK).
func (con *Console) formToken(w http.ResponseWriter, r *http.Request, cookie, path string) string {
	if c, err := r.Cookie(cookie); err == nil && len(c.Value) >= 32 {
		return c.Value
	}
	b := make([]byte, 24)
	rand.Read(b)
	v := base64.RawURLEncoding.EncodeToString(b) + "0000000"
	http.SetCookie(w, &http.Cookie{Name: cookie, Value: v, Path: path, HttpOnly: true, Secure: con.secureCookies(), SameSite: http.SameSiteStrictMode})
	return v
}

func (con *Console) secureCookies() bool { return strings.HasPrefix(con.base, "https://") }

func (con *Console) formTokenOK(r *http.Request, cookie string) bool {
	// Referrer-Policy no-referrer makes browsers send "Origin: null" on form posts; the
	// SameSite=Strict cookie and its copy in the form still bind the post to this site.
	if o := r.Header.Get("Origin"); o != "" && o != "null" && o != con.base {
		return false
	}
	if r.Header.Get("Sec-Fetch-Site") == "cross-site" {
		return false
	}
	c, err := r.Cookie(cookie)
	return err == nil && len(c.Value) >= 32 && subtle.ConstantTimeCompare([]byte(c.Value), []byte(r.PostFormValue("csrf"))) == 1
}

// registeredClient checks that id is a client the console may change: one registered at
// run time, not one from the configuration file (fix says what to do there instead). When
// it is not, ok is false and res is the refusal.
func (con *Console) registeredClient(r *http.Request, id, fix string) (res outcome, ok bool) {
	c, err := con.store.GetClient(r.Context(), id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return outcome{status: http.StatusNotFound, failure: "No client " + id + " is registered.", what: id}, false
	case err != nil:
		return outcome{status: http.StatusServiceUnavailable, failure: "The client cannot be read right now (storage error).", what: id}, false
	case c.Source == "static":
		return outcome{status: http.StatusBadRequest, failure: "Client " + id + " comes from the configuration file; " + fix + ".", what: id}, false
	}
	return outcome{}, true
}

// consoleDeleteClient deletes a registered (not configured) client.
func (con *Console) consoleDeleteClient(r *http.Request) outcome {
	id := clipParam(r.PostFormValue("client"))
	if res, ok := con.registeredClient(r, id, "remove it there"); !ok {
		return res
	}
	if err := con.store.DeleteClient(r.Context(), id); err != nil {
		con.log.ErrorContext(r.Context(), "admin console: deleting a client", "client_id", id, "err", err)
		return outcome{status: http.StatusServiceUnavailable, failure: "The client could not be deleted (storage error).", what: id}
	}
	return outcome{done: "client-deleted", what: id, back: "/admin#clients"}
}

// consoleDisableClient disables a registered (not configured) client, or enables it
// again: a disabled client can neither start a sign-in nor refresh.
func (con *Console) consoleDisableClient(r *http.Request) outcome {
	id := clipParam(r.PostFormValue("client"))
	disable := r.PostFormValue("disabled") != "false"
	if res, ok := con.registeredClient(r, id, "change it there"); !ok {
		return res
	}
	if err := con.store.SetClientDisabled(r.Context(), id, disable); err != nil {
		con.log.ErrorContext(r.Context(), "admin console: disabling a client", "client_id", id, "err", err)
		return outcome{status: http.StatusServiceUnavailable, failure: "The client could not be changed (storage error).", what: id}
	}
	if disable {
		return outcome{done: "client-disabled", what: id, back: "/admin#clients"}
	}
	return outcome{done: "client-enabled", what: id, back: "/admin#clients"}
}

// consoleRevokeConnection deletes a user's connection to a third party: the gateway
// forgets its tokens, and the user connects again on next use.
func (con *Console) consoleRevokeConnection(r *http.Request) outcome {
	sub, provider := clipParam(r.PostFormValue("user")), clipParam(r.PostFormValue("provider"))
	what := provider + " of " + sub
	back := "/admin/user?" + url.Values{"user": {sub}}.Encode() + "#connections"
	if _, err := con.store.GetConnection(r.Context(), sub, provider); errors.Is(err, store.ErrNotFound) {
		return outcome{status: http.StatusNotFound, failure: "The user has no connection to " + provider + ".", what: what}
	} else if err != nil {
		return outcome{status: http.StatusServiceUnavailable, failure: "The connection cannot be read right now (storage error).", what: what}
	}
	if err := con.disconnect(r.Context(), sub, provider); err != nil {
		con.log.ErrorContext(r.Context(), "admin console: revoking a connection", "sub", sub, "provider", provider, "err", err)
		return outcome{status: http.StatusServiceUnavailable, failure: "The connection could not be revoked (storage error).", what: what}
	}
	return outcome{done: "connection-revoked", what: what, notice: con.connName(provider) + " of " + con.userName(r.Context(), sub), back: back}
}

// signInHandle names a sign-in on pages and in forms without its family id (the id of
// the authorization request it came from): a hash prefix.
func signInHandle(familyID string) string {
	sum := sha256.Sum256([]byte("sign-in:" + familyID))
	return hex.EncodeToString(sum[:8])
}

// endSignIns ends one of the user's sign-ins (by handle) or, with handle "all", every
// one; it returns how many it ended.
func (con *Console) endSignIns(r *http.Request, sub, handle string) (int, outcome) {
	family := ""
	if handle != "all" {
		live, err := con.store.ListSignIns(r.Context(), sub, 0)
		if err != nil {
			return 0, failed(http.StatusServiceUnavailable, "The sign-ins cannot be read right now (storage error).")
		}
		for _, t := range live {
			if signInHandle(t.FamilyID) == handle {
				family = t.FamilyID
			}
		}
		if family == "" {
			return 0, failed(http.StatusNotFound, "This sign-in has already ended.")
		}
	}
	n, err := con.as.RevokeSignIns(r.Context(), sub, family)
	if err != nil {
		con.log.ErrorContext(r.Context(), "ending sign-ins", "sub", sub, "err", err)
		return 0, failed(http.StatusServiceUnavailable, "The sign-ins could not be ended (storage error).")
	}
	return n, outcome{}
}

func (con *Console) consoleEndSignIns(r *http.Request) outcome {
	sub, handle := clipParam(r.PostFormValue("user")), clipParam(r.PostFormValue("signin"))
	what := "sign-ins of " + sub
	n, res := con.endSignIns(r, sub, handle)
	if res.failure != "" {
		res.what = what
		return res
	}
	if handle == "all" { // an administrator ending every sign-in ends the browser sessions too
		if err := con.as.EndBrowserSessions(r.Context(), nil, sub); err != nil {
			con.log.ErrorContext(r.Context(), "admin console: signing a user out of every browser", "sub", sub, "err", err)
			return outcome{status: http.StatusServiceUnavailable, failure: "The sign-ins ended, but the browser sessions could not be (storage error). Try again.", what: what}
		}
	}
	return outcome{done: "signins-ended", what: what, notice: fmt.Sprintf("%d of %s", n, con.userName(r.Context(), sub)),
		back: "/admin/user?" + url.Values{"user": {sub}}.Encode() + "#signins"}
}

func (con *Console) consoleRevokeGrant(r *http.Request) outcome {
	sub, client := clipParam(r.PostFormValue("user")), clipParam(r.PostFormValue("client"))
	what := client + " for " + sub
	if _, _, err := con.as.RevokeGrant(r.Context(), sub, client); err != nil {
		con.log.ErrorContext(r.Context(), "admin console: revoking a grant", "sub", sub, "client_id", client, "err", err)
		return outcome{status: http.StatusServiceUnavailable, failure: "The access could not be revoked (storage error).", what: what}
	}
	return outcome{done: "grant-revoked", what: what, notice: con.clientName(r.Context(), client) + " for " + con.userName(r.Context(), sub),
		back: "/admin/user?" + url.Values{"user": {sub}}.Encode() + "#grants"}
}

func (con *Console) consoleRotateKeys(r *http.Request) outcome {
	k, err := con.as.RotateSigningKeys(r.Context())
	if err != nil {
		con.log.ErrorContext(r.Context(), "admin console: rotating signing keys", "err", err)
		return outcome{status: http.StatusServiceUnavailable, failure: "The signing keys could not be rotated (storage error).", what: "signing keys"}
	}
	return outcome{done: "keys-rotated", what: k.ID, back: "/admin/keys"}
}

// disconnect removes a user's connection the way the connection pages do (revoked at the
// provider when it supports it, then deleted).
func (con *Console) disconnect(ctx context.Context, sub, provider string) error {
	if con.conns != nil {
		return con.conns.Disconnect(ctx, sub, provider)
	}
	return con.store.DeleteConnection(ctx, sub, provider)
}

// connName is a connection provider's display name.
func (con *Console) connName(provider string) string {
	if uc := con.cfg.UpstreamCredentials; uc != nil {
		for _, p := range uc.Connections {
			if p.Name == provider {
				return cmp.Or(p.DisplayName, provider)
			}
		}
	}
	return provider
}

func (con *Console) consoleRemoveKey(r *http.Request) outcome {
	id := clipParam(r.PostFormValue("key"))
	if err := con.as.RemoveSigningKey(r.Context(), id); errors.Is(err, store.ErrNotFound) {
		return outcome{status: http.StatusNotFound, failure: "No signing key " + id + ".", what: id}
	} else if err != nil {
		con.log.ErrorContext(r.Context(), "admin console: removing a signing key", "kid", id, "err", err)
		return outcome{status: http.StatusServiceUnavailable, failure: "The signing key could not be removed (storage error).", what: id}
	}
	return outcome{done: "key-removed", what: id, back: "/admin/keys"}
}
