package console

import (
	"cmp"
	"encoding/json"
	"html/template"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/mcpgate/mcpgate/internal/audit"
	"github.com/mcpgate/mcpgate/internal/authn"
	"github.com/mcpgate/mcpgate/internal/authserver"
	"github.com/mcpgate/mcpgate/internal/gateway"
	"github.com/mcpgate/mcpgate/internal/jsonlimit"
	"github.com/mcpgate/mcpgate/internal/mcp"
	"github.com/mcpgate/mcpgate/internal/ui"
)

type consoleRoute struct {
	Name, URL, Auth, Upstream string
	Policy                    bool
	Health                    health
}

type simForm struct {
	User, Claims, Client, Route, Method, Tool, Args, Scopes string
}

type simResult struct {
	Who      string
	Decision string
	Reasons  []string
	Deciding []string // the audit event's rules
	Exposed  bool
	Rules    []ruleRow
	Message  string
	NoPolicy bool
}

type ruleRow struct{ Name, Effect, Outcome, Detail, Class string }

type consoleClient struct {
	ID, Name, Source, Created string
	Deletable, Disabled       bool
}

type consoleData struct {
	Clients []consoleClient
	CSRF    string
	Routes  []consoleRoute
	Form    simForm
	Result  *simResult
	Error   string
}

var consoleTmpl = template.Must(template.New("console").Parse(`<p class="lead">Routes with their upstream health, registered clients, and the policy simulator: why a user may or may not call a tool.</p>
<h2>Routes</h2>
<table><thead><tr><th scope="col">Route</th><th scope="col">Sign-in</th><th scope="col">Upstream identity</th><th scope="col">Policy</th><th scope="col">Upstream health</th></tr></thead><tbody>
{{range .Routes}}<tr data-route="{{.Name}}"><td><strong>{{.Name}}</strong><br><code>{{.URL}}</code></td><td>{{.Auth}}</td><td>{{.Upstream}}</td><td>{{if .Policy}}yes{{else}}<span class="muted">none</span>{{end}}</td><td class="health {{.Health.Class}}">{{.Health.Text}}</td></tr>
{{end}}</tbody></table>
<h2 id="clients">Registered clients</h2>
<table><thead><tr><th scope="col">Application</th><th scope="col">Registered by</th><th scope="col">Since</th><th scope="col"><span class="muted">Action</span></th></tr></thead><tbody>
{{range .Clients}}<tr data-client="{{.ID}}"{{if .Disabled}} data-disabled="true"{{end}}><td><strong>{{.Name}}</strong>{{if .Disabled}} <span class="broken">disabled</span>{{end}}<br><code>{{.ID}}</code></td><td>{{.Source}}</td><td>{{.Created}}</td><td>{{if .Deletable}}<form method="post" action="/admin/clients/disable"><input type="hidden" name="csrf" value="{{$.CSRF}}"><input type="hidden" name="client" value="{{.ID}}"><input type="hidden" name="disabled" value="{{if .Disabled}}false{{else}}true{{end}}"><button type="submit" class="toggle" aria-label="{{if .Disabled}}Enable{{else}}Disable{{end}} {{.Name}}">{{if .Disabled}}Enable{{else}}Disable{{end}}</button></form> <form method="post" action="/admin/clients/delete"><input type="hidden" name="csrf" value="{{$.CSRF}}"><input type="hidden" name="client" value="{{.ID}}"><button type="submit" class="delete" aria-label="Delete {{.Name}}">Delete</button></form>{{else}}<span class="muted">in the configuration</span>{{end}}</td></tr>
{{end}}</tbody></table>
<h2 id="simulator">Policy simulator</h2>
<form method="get" action="/admin/simulate#result">
<label for="sim-user">User (username or subject)</label>
<input id="sim-user" name="user" type="text" value="{{.Form.User}}">
<label for="sim-claims">…or claims (JSON: sub, email, groups, roles)</label>
<input id="sim-claims" name="claims" type="text" value="{{.Form.Claims}}" placeholder='{"sub":"bob","groups":["eng"]}'>
<label for="sim-client">Client ID</label>
<input id="sim-client" name="client" type="text" value="{{.Form.Client}}">
<label for="sim-scopes">Token scopes (space separated)</label>
<input id="sim-scopes" name="scopes" type="text" value="{{.Form.Scopes}}">
<label for="sim-route">Route</label>
<select id="sim-route" name="route">{{range .Routes}}<option value="{{.Name}}"{{if eq .Name $.Form.Route}} selected{{end}}>{{.Name}}</option>{{end}}</select>
<label for="sim-method">Method</label>
<input id="sim-method" name="method" type="text" value="{{.Form.Method}}">
<label for="sim-tool">Tool</label>
<input id="sim-tool" name="tool" type="text" value="{{.Form.Tool}}">
<label for="sim-args">Arguments (JSON object)</label>
<input id="sim-args" name="args" type="text" value="{{.Form.Args}}">
<div class="buttons"><button type="submit" class="primary">Simulate</button></div>
</form>
{{with .Result}}
<h2 id="result">Decision: <span class="{{if eq .Decision "allow"}}ok{{else}}broken{{end}}" data-decision="{{.Decision}}">{{.Decision}}</span></h2>
<p>For {{.Who}}.{{if .Deciding}} Deciding rules (the audit event's <code>rules</code>): {{range $i, $r := .Deciding}}{{if $i}}, {{end}}<code class="deciding">{{$r}}</code>{{end}}.{{end}}{{if .Reasons}} Reason: {{range $i, $r := .Reasons}}{{if $i}}; {{end}}<code class="reason">{{$r}}</code>{{end}}.{{end}}</p>
{{if .Message}}<p class="muted">The client is told: {{.Message}}</p>{{end}}
{{if not .Exposed}}<p class="broken">The tools section of the route hides this tool.</p>{{end}}
{{if .NoPolicy}}<p class="muted">This route has no policy or tools section: every call is allowed.</p>{{end}}
{{if .Rules}}<table class="rules"><thead><tr><th scope="col">Rule</th><th scope="col">Effect</th><th scope="col">Outcome</th><th scope="col">Why</th></tr></thead><tbody>
{{range .Rules}}<tr data-rule="{{.Name}}"><td><code>{{.Name}}</code></td><td>{{.Effect}}</td><td class="{{.Class}}">{{.Outcome}}</td><td>{{.Detail}}</td></tr>
{{end}}</tbody></table>{{end}}
{{end}}
`))

// Admin serves /admin to members of authServer.adminGroups: routes and clients with the
// policy simulator (which decides through each route's own interceptor,
// routepolicy.Simulate), the audit trail, users and sign-ins, and the signing keys. Pages
// only read; every change is a POST with the console's form token, and is audited.
func (con *Console) Admin(brand ui.Branding) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pageHeaders(w)
		page := ui.Page{Brand: brand, Title: "Admin console", Wide: true, StyleURL: authserver.PathStatic + "style.css"}
		sub, ok := con.as.CurrentUser(r)
		if !ok {
			if r.Method != http.MethodGet && r.Method != http.MethodHead {
				con.consoleRefuse(w, page, http.StatusForbidden, "Sign in first, then use the console's buttons.")
				return
			}
			http.Redirect(w, r, con.as.LoginURL(r.URL.RequestURI()), http.StatusFound)
			return
		}
		me, found := con.as.FindUser(r.Context(), sub)
		page.User = cmp.Or(con.as.UserLabel(r, sub), sub)
		if !found || !slices.ContainsFunc(me.Groups, func(g string) bool { return slices.Contains(con.cfg.AuthServer.AdminGroups, g) }) {
			con.log.WarnContext(r.Context(), "admin console refused", "sub", sub, "path", r.URL.Path)
			if r.Method == http.MethodPost {
				con.auditor.Record(audit.Event{Time: time.Now().UTC(), Route: "admin", User: sub, Email: me.Email, Method: "admin" + strings.TrimPrefix(r.URL.Path, "/admin"),
					Decision: "deny", Reason: "not in an admin group", Status: http.StatusForbidden})
			}
			page.Title = "Not allowed"
			con.consoleRefuse(w, page, http.StatusForbidden, "The admin console is for members of "+strings.Join(con.cfg.AuthServer.AdminGroups, ", ")+". You are signed in, but not in one of these groups.")
			return
		}
		admin := actor{sub: sub, email: me.Email}
		if r.Method == http.MethodPost {
			con.consolePost(w, r, admin)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, POST")
			page.Title = "Not allowed"
			con.consoleRefuse(w, page, http.StatusMethodNotAllowed, "The console's pages are opened (GET) and its buttons post forms (POST); nothing else.")
			return
		}
		page.Notice = consoleNotice(r.URL.Query())
		csrf := con.formToken(w, r, consoleCSRFCookie, "/admin")
		switch r.URL.Path {
		case "/admin", "/admin/", "/admin/simulate":
			con.consoleOverview(w, r, page, csrf, sub)
		case "/admin/audit":
			con.consoleAudit(w, r, page)
		case "/admin/users":
			con.consoleUsers(w, r, page)
		case "/admin/user":
			con.consoleUser(w, r, page, csrf)
		case "/admin/keys":
			con.consoleKeys(w, r, page, csrf)
		default:
			page.Title = "Not found"
			con.consoleRefuse(w, page, http.StatusNotFound, "The console has no page at "+r.URL.Path+".")
		}
	})
}

// pageHeaders are the console's and account pages' security headers: no script at all.
func pageHeaders(w http.ResponseWriter) {
	ui.SetPageHeaders(w.Header(), "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")
	w.Header().Set("Cache-Control", "no-store")
}

func (con *Console) consoleRefuse(w http.ResponseWriter, page ui.Page, status int, msg string) {
	page.Error = msg
	page.Body = `<p><a href="/">Back to the start page</a></p>`
	ui.Write(w, status, page)
}

// consoleSections are the console's pages, in the order of its navigation.
var consoleSections = []struct{ Path, Label string }{
	{"/admin", "Routes, clients and simulator"},
	{"/admin/audit", "Audit trail"},
	{"/admin/users", "Users and sign-ins"},
	{"/admin/keys", "Signing keys"},
}

var navTmpl = template.Must(template.New("nav").Parse(`<nav class="tabs" aria-label="Console sections"><ul>{{range .Sections}}<li><a href="{{.Path}}"{{if eq .Path $.Current}} aria-current="page"{{end}}>{{.Label}}</a></li>{{end}}</ul></nav>
`))

// consoleWrite renders one console section: the navigation, then tmpl with data.
func (con *Console) consoleWrite(w http.ResponseWriter, r *http.Request, page ui.Page, current string, tmpl *template.Template, data any) {
	var body strings.Builder
	navTmpl.Execute(&body, map[string]any{"Sections": consoleSections, "Current": current})
	if err := tmpl.Execute(&body, data); err != nil {
		con.log.ErrorContext(r.Context(), "rendering the admin console", "path", r.URL.Path, "err", err)
	}
	page.Body = template.HTML(body.String())
	ui.Write(w, http.StatusOK, page)
}

// consoleOverview is the first section: routes, registered clients, the simulator.
func (con *Console) consoleOverview(w http.ResponseWriter, r *http.Request, page ui.Page, csrf, sub string) {
	d := consoleData{Form: simForm{Method: "tools/call"}, CSRF: csrf}
	health := con.upstreamHealth(r.Context())
	for _, rt := range con.cfg.Routes {
		cr := consoleRoute{Name: rt.Name, URL: con.base + rt.Path, Auth: cmp.Or(rt.Auth.Mode, "strict"), Upstream: "gateway's own", Policy: rt.Policy != nil || rt.Tools != nil, Health: health[rt.Name]}
		if m := con.describeUpstream(rt.Name); m != "" {
			cr.Upstream = m
		}
		d.Routes = append(d.Routes, cr)
	}
	for _, c := range con.cfg.AuthServer.Clients {
		d.Clients = append(d.Clients, consoleClient{ID: c.ID, Name: cmp.Or(c.Name, c.ID), Source: sourceLabel("static")})
	}
	if cl, err := con.store.ListClients(r.Context()); err != nil {
		page.Error = "The registered clients cannot be read right now (storage error)."
		con.log.ErrorContext(r.Context(), "admin console: listing clients", "err", err)
	} else {
		for _, c := range cl {
			if c.Source == "static" {
				continue // listed from the configuration above
			}
			d.Clients = append(d.Clients, consoleClient{ID: c.ID, Name: cmp.Or(c.Name, c.ID), Source: sourceLabel(c.Source),
				Created: c.CreatedAt.UTC().Format("2006-01-02 15:04 UTC"), Deletable: true, Disabled: c.Disabled})
		}
	}
	if r.URL.Path == "/admin/simulate" {
		q := r.URL.Query()
		d.Form = simForm{User: q.Get("user"), Claims: q.Get("claims"), Client: q.Get("client"), Route: q.Get("route"),
			Method: cmp.Or(q.Get("method"), "tools/call"), Tool: q.Get("tool"), Args: q.Get("args"), Scopes: q.Get("scopes")}
		res, err := con.simulate(r, d.Form)
		if err != "" {
			page.Error = err
		}
		d.Result = res
		con.log.InfoContext(r.Context(), "admin console: policy simulated", "admin", sub, "route", d.Form.Route, "user", d.Form.User, "tool", d.Form.Tool)
	}
	con.consoleWrite(w, r, page, "/admin", consoleTmpl, d)
}

func (con *Console) describeUpstream(route string) string {
	for _, rt := range con.cfg.Routes {
		if rt.Name != route || rt.UpstreamAuth == nil {
			continue
		}
		ua := rt.UpstreamAuth
		switch {
		case ua.OBO != nil:
			return "on-behalf-of (Entra)"
		case ua.TokenExchange != nil:
			return "token exchange"
		case ua.Connection != nil:
			return "user's connection"
		case ua.Passthrough:
			return "passthrough"
		case ua.ClientCredentials != nil:
			return "client credentials"
		case ua.GatewayJWT != nil:
			return "gateway JWT"
		case ua.Static != nil:
			return "static secret"
		}
	}
	return ""
}

// simulate builds the call the form describes and decides it through the route's
// interceptor.
func (con *Console) simulate(r *http.Request, f simForm) (*simResult, string) {
	p := &authn.Principal{ClientID: f.Client, Scopes: strings.Fields(f.Scopes), Issuer: con.as.Issuer()}
	switch {
	case strings.TrimSpace(f.Claims) != "":
		var c struct {
			Sub    string   `json:"sub"`
			Email  string   `json:"email"`
			Name   string   `json:"name"`
			Groups []string `json:"groups"`
			Roles  []string `json:"roles"`
		}
		if err := json.Unmarshal([]byte(f.Claims), &c); err != nil {
			return nil, "The claims are not a JSON object: " + err.Error()
		}
		p.Subject, p.Email, p.Name, p.Groups, p.Roles = c.Sub, c.Email, c.Name, c.Groups, c.Roles
	case f.User != "":
		id, ok := con.as.FindUser(r.Context(), f.User)
		if !ok {
			return nil, "No user " + f.User + " is known to this server; paste their claims instead."
		}
		p.Subject, p.Email, p.Name, p.Groups = id.UserID, id.Email, id.Name, id.Groups
	default:
		return nil, "Pick a user or paste claims."
	}
	params := map[string]any{}
	if f.Tool != "" {
		params["name"] = f.Tool
	}
	if strings.TrimSpace(f.Args) != "" {
		var args map[string]any
		if err := json.Unmarshal([]byte(f.Args), &args); err != nil {
			return nil, "The arguments are not a JSON object: " + err.Error()
		}
		params["arguments"] = args
	}
	body, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": f.Method, "params": params})
	msgs, batch, err := mcp.ParseRequest(body, jsonlimit.Limits{})
	if err != nil {
		return nil, "The call cannot be built: " + err.Error()
	}
	who := cmp.Or(p.Email, p.Subject) + " (groups " + strings.Join(p.Groups, ", ") + ")"
	ic, ok := con.policy(f.Route)
	if !ok {
		for _, rt := range con.cfg.Routes {
			if rt.Name == f.Route {
				return &simResult{Who: who, Decision: "allow", Exposed: true, NoPolicy: true}, ""
			}
		}
		return nil, "No route named " + f.Route + "."
	}
	c := &gateway.Call{Route: f.Route, HTTPMethod: http.MethodPost, Principal: p, Messages: msgs, Batch: batch, Time: time.Now()}
	s := ic.Simulate(r.Context(), c)
	res := &simResult{Who: who, Decision: cmp.Or(s.Verdict.Decision, "allow"), Reasons: s.Verdict.Reasons, Deciding: s.Verdict.Rules, Exposed: s.Exposed}
	if s.Verdict.Deny != nil {
		res.Message = s.Verdict.Deny.Message
	}
	for _, t := range s.Rules {
		row := ruleRow{Name: t.Name, Effect: string(t.Effect), Outcome: t.Outcome, Detail: t.Detail}
		if t.Outcome == "matched" || t.Outcome == "failed" {
			row.Class = "broken"
			if t.Effect == "allow" {
				row.Class = "ok"
			}
		}
		res.Rules = append(res.Rules, row)
	}
	return res, ""
}

func sourceLabel(s string) string {
	switch s {
	case "dcr":
		return "itself (dynamic registration)"
	case "cimd":
		return "its metadata document"
	case "static":
		return "configuration"
	}
	return cmp.Or(s, "configuration")
}
