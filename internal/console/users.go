package console

import (
	"cmp"
	"context"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/mcpgate/mcpgate/internal/ui"
)

type userRow struct {
	Subject, Username, Name, Email, Source, Link string
	Groups                                       []string
	Disabled                                     bool
}

type groupRow struct {
	Name    string
	Members []string
	Admin   bool
}

type signInRow struct {
	Handle, Who, WhoLink, Client, SignedIn, Refreshed, Expires string
}

type usersData struct {
	Users   []userRow
	Groups  []groupRow
	SignIns []signInRow
}

var usersTmpl = template.Must(template.New("users").Parse(`<p class="lead">Local users (from the configuration and <code>mcpgate users</code>), their groups, and the sign-ins that can still get tokens. Users of a company identity provider appear under sign-ins once they signed in.</p>
<form method="get" action="/admin/user" class="lookup"><label for="u-user">Open a user by username or subject</label><input id="u-user" name="user" type="text" maxlength="256" placeholder="alice, config:alice, or a company subject"><div class="buttons"><button type="submit">Open</button></div></form>
<h2 id="users">Users</h2>
{{if .Users}}<table><thead><tr><th scope="col">User</th><th scope="col">Groups</th><th scope="col">Defined in</th></tr></thead><tbody>
{{range .Users}}<tr data-user="{{.Subject}}"><td><a href="{{.Link}}"><strong>{{or .Name .Username}}</strong></a>{{if .Email}}<br><span class="muted">{{.Email}}</span>{{end}}{{if .Disabled}} <span class="broken">disabled</span>{{end}}</td><td>{{range $i, $g := .Groups}}{{if $i}}, {{end}}{{$g}}{{else}}<span class="muted">none</span>{{end}}</td><td>{{.Source}}</td></tr>
{{end}}</tbody></table>{{else}}<p class="muted">No local users.</p>{{end}}
<h2 id="groups">Groups</h2>
{{if .Groups}}<table><thead><tr><th scope="col">Group</th><th scope="col">Members</th></tr></thead><tbody>
{{range .Groups}}<tr><td>{{.Name}}{{if .Admin}} <span class="muted">(admin console)</span>{{end}}</td><td>{{range $i, $m := .Members}}{{if $i}}, {{end}}{{$m}}{{end}}</td></tr>
{{end}}</tbody></table>{{else}}<p class="muted">No groups.</p>{{end}}
<h2 id="signins">Recent sign-ins</h2>
{{template "signins" .SignIns}}
{{define "signins"}}{{if .}}<table><thead><tr><th scope="col">User</th><th scope="col">Application</th><th scope="col">Signed in</th><th scope="col">Last refreshed</th><th scope="col">Ends</th></tr></thead><tbody>
{{range .}}<tr data-signin="{{.Handle}}"><td>{{if .WhoLink}}<a href="{{.WhoLink}}">{{.Who}}</a>{{else}}{{.Who}}{{end}}</td><td>{{.Client}}</td><td>{{.SignedIn}}</td><td>{{.Refreshed}}</td><td>{{.Expires}}</td></tr>
{{end}}</tbody></table>{{else}}<p class="muted">No sign-in that can still get tokens.</p>{{end}}{{end}}
`))

func userLink(sub string) string { return "/admin/user?" + url.Values{"user": {sub}}.Encode() }

const minuteUTC = "2006-01-02 15:04 UTC"

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format(minuteUTC)
}

// consoleUsers lists local users, groups and the latest live sign-ins of everyone.
func (con *Console) consoleUsers(w http.ResponseWriter, r *http.Request, page ui.Page) {
	page.Title = "Users and sign-ins"
	var d usersData
	for _, u := range con.cfg.AuthServer.Users {
		sub := "config:" + strings.ToLower(u.Username)
		d.Users = append(d.Users, userRow{Subject: sub, Username: u.Username, Name: u.Name, Email: u.Email, Groups: u.Groups, Source: "configuration", Link: userLink(sub)})
	}
	users, err := con.store.ListUsers(r.Context())
	if err != nil {
		con.log.ErrorContext(r.Context(), "admin console: listing users", "err", err)
		page.Error = "The stored users cannot be read right now (storage error)."
	}
	for _, u := range users {
		d.Users = append(d.Users, userRow{Subject: u.ID, Username: u.Username, Name: u.Name, Email: u.Email, Groups: u.Groups, Disabled: u.Disabled, Source: "store", Link: userLink(u.ID)})
	}
	members := map[string][]string{}
	for _, u := range d.Users {
		for _, g := range u.Groups {
			members[g] = append(members[g], cmp.Or(u.Name, u.Username))
		}
	}
	for g, m := range members {
		d.Groups = append(d.Groups, groupRow{Name: g, Members: m, Admin: slices.Contains(con.cfg.AuthServer.AdminGroups, g)})
	}
	slices.SortFunc(d.Groups, func(x, y groupRow) int { return strings.Compare(x.Name, y.Name) })
	if d.SignIns, err = con.signInRows(r.Context(), "", 50, true); err != nil {
		page.Error = "The sign-ins cannot be read right now (storage error)."
	}
	con.consoleWrite(w, r, page, "/admin/users", usersTmpl, d)
}

// signInRows lists live sign-ins (of sub, or everyone's) for pages.
func (con *Console) signInRows(ctx context.Context, sub string, limit int, links bool) ([]signInRow, error) {
	live, err := con.store.ListSignIns(ctx, sub, limit)
	if err != nil {
		con.log.ErrorContext(ctx, "listing sign-ins", "err", err)
		return nil, err
	}
	var rows []signInRow
	for _, t := range live {
		row := signInRow{Handle: signInHandle(t.FamilyID), Who: con.userName(ctx, t.UserID), Client: con.clientName(ctx, t.ClientID),
			SignedIn: fmtTime(t.AuthTime), Refreshed: fmtTime(t.CreatedAt), Expires: fmtTime(t.ExpiresAt)}
		if links {
			row.WhoLink = userLink(t.UserID)
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// userName names a subject for pages: name and email when a connector knows them.
func (con *Console) userName(ctx context.Context, sub string) string {
	if id, ok := con.as.FindUser(ctx, sub); ok {
		switch {
		case id.Name != "" && id.Email != "":
			return id.Name + " (" + id.Email + ")"
		case id.Name != "" || id.Email != "":
			return cmp.Or(id.Name, id.Email)
		}
	}
	return sub
}

// clientName is the client's name and ID, or its ID when it is unknown.
func (con *Console) clientName(ctx context.Context, id string) string {
	for _, c := range con.cfg.AuthServer.Clients {
		if c.ID == id && c.Name != "" {
			return c.Name + " (" + id + ")"
		}
	}
	if c, err := con.store.GetClient(ctx, id); err == nil && c.Name != "" && c.Name != id {
		return c.Name + " (" + id + ")"
	}
	return id
}

type connRow struct{ Provider, Name, Status, Scope, Since string }

type grantRow struct{ Client, Name, Scopes, Granted string }

type userData struct {
	CSRF, Subject, Name, Email, Username, AuditLink string
	Known                                           bool
	Groups                                          []string
	Grants                                          []grantRow
	SignIns                                         []signInRow
	Connections                                     []connRow
}

var userTmpl = template.Must(template.New("user").Parse(`<p class="lead">{{if .Known}}<strong>{{.Name}}</strong>{{if .Email}} · {{.Email}}{{end}}{{else}}A subject no connector knows any more.{{end}} <span class="muted">Subject <code>{{.Subject}}</code></span></p>
<dl class="facts"><dt>Groups</dt><dd>{{range $i, $g := .Groups}}{{if $i}}, {{end}}{{$g}}{{else}}<span class="muted">none</span>{{end}}</dd>
<dt>Audit</dt><dd><a href="{{.AuditLink}}">This user's calls in the audit trail</a></dd></dl>
<h2 id="grants">Applications allowed</h2>
{{if .Grants}}<table><thead><tr><th scope="col">Application</th><th scope="col">Scopes</th><th scope="col">Allowed</th><th scope="col"><span class="muted">Action</span></th></tr></thead><tbody>
{{range .Grants}}<tr data-grant="{{.Client}}"><td>{{.Name}}</td><td>{{.Scopes}}</td><td>{{.Granted}}</td><td><form method="post" action="/admin/grants/revoke"><input type="hidden" name="csrf" value="{{$.CSRF}}"><input type="hidden" name="user" value="{{$.Subject}}"><input type="hidden" name="client" value="{{.Client}}"><button type="submit" aria-label="Revoke the access of {{.Name}}">Revoke</button></form></td></tr>
{{end}}</tbody></table>{{else}}<p class="muted">No application holds a consent of this user.</p>{{end}}
<h2 id="signins">Sign-ins</h2>
{{if .SignIns}}<table><thead><tr><th scope="col">Application</th><th scope="col">Signed in</th><th scope="col">Last refreshed</th><th scope="col">Ends</th><th scope="col"><span class="muted">Action</span></th></tr></thead><tbody>
{{range .SignIns}}<tr data-signin="{{.Handle}}"><td>{{.Client}}</td><td>{{.SignedIn}}</td><td>{{.Refreshed}}</td><td>{{.Expires}}</td><td><form method="post" action="/admin/signins/revoke"><input type="hidden" name="csrf" value="{{$.CSRF}}"><input type="hidden" name="user" value="{{$.Subject}}"><input type="hidden" name="signin" value="{{.Handle}}"><button type="submit" aria-label="End the sign-in at {{.Client}}">End</button></form></td></tr>
{{end}}</tbody></table>
<form method="post" action="/admin/signins/revoke" class="buttons"><input type="hidden" name="csrf" value="{{.CSRF}}"><input type="hidden" name="user" value="{{.Subject}}"><input type="hidden" name="signin" value="all"><button type="submit">End every sign-in of this user</button></form>
{{else}}<p class="muted">No sign-in that can still get tokens.</p>{{end}}
<h2 id="connections">Connections</h2>
{{if .Connections}}<table><thead><tr><th scope="col">Service</th><th scope="col">State</th><th scope="col">Scopes</th><th scope="col">Since</th><th scope="col"><span class="muted">Action</span></th></tr></thead><tbody>
{{range .Connections}}<tr data-connection="{{.Provider}}"><td>{{.Name}}</td><td>{{.Status}}</td><td>{{.Scope}}</td><td>{{.Since}}</td><td><form method="post" action="/admin/connections/revoke"><input type="hidden" name="csrf" value="{{$.CSRF}}"><input type="hidden" name="user" value="{{$.Subject}}"><input type="hidden" name="provider" value="{{.Provider}}"><button type="submit" aria-label="Revoke the connection to {{.Name}}">Revoke</button></form></td></tr>
{{end}}</tbody></table>{{else}}<p class="muted">No connection to a third-party service.</p>{{end}}
`))

// consoleUser shows one user: groups, grants, sign-ins and connections, each revocable.
func (con *Console) consoleUser(w http.ResponseWriter, r *http.Request, page ui.Page, csrf string) {
	q := clipParam(strings.TrimSpace(r.URL.Query().Get("user")))
	page.Title = "User"
	if q == "" {
		con.consoleRefuse(w, page, http.StatusBadRequest, "Which user? Open one from Users and sign-ins.")
		return
	}
	d := userData{CSRF: csrf, Subject: q}
	ctx := r.Context()
	if id, ok := con.as.FindUser(ctx, q); ok {
		d.Known, d.Subject, d.Name, d.Email, d.Username, d.Groups = true, id.UserID, cmp.Or(id.Name, id.Username, id.UserID), id.Email, id.Username, id.Groups
		page.Title = cmp.Or(id.Name, id.Username, id.Email, "User")
	}
	d.AuditLink = "/admin/audit?" + url.Values{"user": {d.Subject}}.Encode()
	var errs []string
	consents, err := con.store.ListConsents(ctx, d.Subject)
	if err != nil {
		con.log.ErrorContext(ctx, "admin console: listing consents", "err", err)
		errs = append(errs, "applications allowed")
	}
	for _, c := range consents {
		d.Grants = append(d.Grants, grantRow{Client: c.ClientID, Name: con.clientName(ctx, c.ClientID), Scopes: strings.Join(c.Scopes, " "), Granted: fmtTime(c.GrantedAt)})
	}
	if d.SignIns, err = con.signInRows(ctx, d.Subject, 0, false); err != nil {
		errs = append(errs, "sign-ins")
	}
	if d.Connections, err = con.connectionRows(ctx, d.Subject); err != nil {
		errs = append(errs, "connections")
	}
	if len(errs) > 0 {
		page.Error = "Cannot be read right now (storage error): " + strings.Join(errs, ", ") + "."
	}
	con.consoleWrite(w, r, page, "/admin/users", userTmpl, d)
}

// connectionRows lists the subject's third-party connections (never their tokens).
func (con *Console) connectionRows(ctx context.Context, sub string) ([]connRow, error) {
	conns, err := con.store.ListConnections(ctx, sub)
	if err != nil {
		con.log.ErrorContext(ctx, "listing connections", "err", err)
		return nil, err
	}
	var rows []connRow
	for _, c := range conns {
		row := connRow{Provider: c.Provider, Name: con.connName(c.Provider), Status: cmp.Or(c.Status, "active"), Scope: c.Scope, Since: fmtTime(c.CreatedAt)}
		if c.Reason != "" {
			row.Status += " (" + c.Reason + ")"
		}
		rows = append(rows, row)
	}
	return rows, nil
}
