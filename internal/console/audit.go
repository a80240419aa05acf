package console

import (
	"cmp"
	"context"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/mcpgate/mcpgate/internal/audit"
	"github.com/mcpgate/mcpgate/internal/ui"
)

// auditPageSize is how many events one page of the audit browser shows.
const auditPageSize = 50

// auditDecisions are the decisions the audit browser filters on (audit.Event.Decision).
var auditDecisions = []string{"allow", "deny", "insufficient_scope", "unauthenticated", "rate_limited", "error", "interrupted"}

type auditRow struct {
	Time, Route, Who, WhoLink, Client, Method, Target, Decision, Class string
	Status, UpstreamStatus                                             int
	Reason, Error                                                      string
	Rules                                                              []string
	Denied                                                             bool
	Simulate                                                           string // the simulator's URL for this call, "" when it cannot be replayed
}

type auditForm struct {
	User, Route, Tool, Decision, Since, Before string
}

type auditData struct {
	Form      auditForm
	Routes    []string
	Decisions []string
	Rows      []auditRow
	Source    string
	Older     string // URL of the next (older) page, "" when this is the last
	Newest    string // URL of the first page, "" on the first page
}

var auditTmpl = template.Must(template.New("audit").Parse(`<p class="lead">Every MCP request the gateway decided, and every console action, newest first ({{.Source}}). A denied call says why: the recorded reason and the rules that decided it, and a link that runs the same call through the policy simulator.</p>
<form method="get" action="/admin/audit" class="filters">
<div class="row">
<div><label for="f-user">User (subject or email)</label><input id="f-user" name="user" type="text" maxlength="256" value="{{.Form.User}}"></div>
<div><label for="f-route">Route</label><select id="f-route" name="route"><option value="">any</option>{{range .Routes}}<option value="{{.}}"{{if eq . $.Form.Route}} selected{{end}}>{{.}}</option>{{end}}</select></div>
<div><label for="f-tool">Tool, prompt or resource</label><input id="f-tool" name="tool" type="text" maxlength="256" value="{{.Form.Tool}}"></div>
<div><label for="f-decision">Decision</label><select id="f-decision" name="decision"><option value="">any</option>{{range .Decisions}}<option value="{{.}}"{{if eq . $.Form.Decision}} selected{{end}}>{{.}}</option>{{end}}</select></div>
<div><label for="f-since">Since (UTC)</label><input id="f-since" name="since" type="datetime-local" value="{{.Form.Since}}"></div>
</div>
<div class="buttons"><a class="btn" href="/admin/audit">Clear</a><button type="submit" class="primary">Filter</button></div>
</form>
{{if .Rows}}<table class="audit"><caption class="muted">{{len .Rows}} shown, newest first{{if .Form.Before}}, before {{.Form.Before}}{{end}}</caption>
<thead><tr><th scope="col">Time (UTC)</th><th scope="col">Who</th><th scope="col">Route</th><th scope="col">Call</th><th scope="col">Decision</th></tr></thead><tbody>
{{range .Rows}}<tr data-decision="{{.Decision}}"><td>{{.Time}}</td><td>{{if .WhoLink}}<a href="{{.WhoLink}}">{{.Who}}</a>{{else}}{{.Who}}{{end}}{{if .Client}}<br><span class="muted">via {{.Client}}</span>{{end}}</td><td>{{.Route}}</td><td><code>{{.Method}}</code>{{if .Target}} <code>{{.Target}}</code>{{end}}{{if .Status}}<br><span class="muted">HTTP {{.Status}}{{if .UpstreamStatus}}, upstream {{.UpstreamStatus}}{{end}}</span>{{end}}</td>
<td><span class="{{.Class}}">{{.Decision}}</span>{{if or .Denied .Reason .Error}}<details class="why"><summary>Why?</summary>
{{if .Reason}}<p>Reason: <span class="reason">{{.Reason}}</span></p>{{end}}{{if .Rules}}<p>Rules: {{range $i, $r := .Rules}}{{if $i}}, {{end}}<code class="rule">{{$r}}</code>{{end}}</p>{{end}}{{if .Error}}<p>Error: {{.Error}}</p>{{end}}
{{if .Simulate}}<p><a href="{{.Simulate}}">Run this call through the policy simulator</a></p>{{end}}</details>{{end}}</td></tr>
{{end}}</tbody></table>
{{else}}<p class="muted">No event matches.</p>{{end}}
<nav class="pager" aria-label="Audit pages">{{if .Newest}}<a class="btn" href="{{.Newest}}">Newest</a>{{end}}{{if .Older}}<a class="btn" href="{{.Older}}" rel="next">Older events</a>{{end}}</nav>
`))

// datetime-local's value format.
const localMinute = "2006-01-02T15:04"

// consoleAudit is the audit browser: filters (user, route, tool, decision, since), pages
// of auditPageSize events, newest first, paged back by time.
func (con *Console) consoleAudit(w http.ResponseWriter, r *http.Request, page ui.Page) {
	page.Title = "Audit trail"
	q := r.URL.Query()
	f := auditForm{User: clipParam(strings.TrimSpace(q.Get("user"))), Route: clipParam(q.Get("route")), Tool: clipParam(strings.TrimSpace(q.Get("tool"))),
		Decision: clipParam(q.Get("decision")), Since: clipParam(q.Get("since")), Before: clipParam(q.Get("before"))}
	d := auditData{Form: f, Decisions: auditDecisions}
	for _, rt := range con.cfg.Routes {
		d.Routes = append(d.Routes, rt.Name)
	}
	d.Routes = append(d.Routes, "admin", "account")
	filter := audit.Filter{User: f.User, Route: f.Route, Tool: f.Tool, Decision: f.Decision, Limit: auditPageSize + 1}
	var bad []string
	if f.Since != "" {
		t, err := time.Parse(localMinute, f.Since)
		if err != nil {
			bad = append(bad, "the since time is not a date and time")
		}
		filter.Since = t
	}
	if f.Before != "" {
		t, err := time.Parse(time.RFC3339Nano, f.Before)
		if err != nil {
			bad = append(bad, "the page cursor is not a time")
		}
		filter.Before = t
	}
	if f.Decision != "" && !slices.Contains(auditDecisions, f.Decision) {
		bad = append(bad, "no such decision")
	}
	if len(bad) > 0 {
		page.Error = "Cannot filter: " + strings.Join(bad, "; ") + "."
		con.consoleWrite(w, r, page, "/admin/audit", auditTmpl, d)
		return
	}
	events, source, err := con.queryAudit(r.Context(), filter)
	d.Source = source
	if err != nil {
		con.log.ErrorContext(r.Context(), "admin console: reading the audit trail", "err", err)
		page.Error = "The audit trail cannot be read right now: " + err.Error() + "."
		if errors.Is(err, errNoAuditTrail) {
			page.Error = "This server keeps no audit trail the console can read. Set audit.store: true (kept in the store) or audit.file."
		}
		con.consoleWrite(w, r, page, "/admin/audit", auditTmpl, d)
		return
	}
	more := len(events) > auditPageSize
	if more {
		events = events[1:] // the oldest one only says there is another page
	}
	slices.Reverse(events)
	for _, e := range events {
		d.Rows = append(d.Rows, con.auditRow(e))
	}
	link := func(before string) string {
		v := url.Values{}
		for k, val := range map[string]string{"user": f.User, "route": f.Route, "tool": f.Tool, "decision": f.Decision, "since": f.Since, "before": before} {
			if val != "" {
				v.Set(k, val)
			}
		}
		return "/admin/audit?" + v.Encode()
	}
	if more && len(events) > 0 {
		d.Older = link(events[len(events)-1].Time.UTC().Format(time.RFC3339Nano))
	}
	if f.Before != "" {
		d.Newest = link("")
	}
	con.consoleWrite(w, r, page, "/admin/audit", auditTmpl, d)
}

var errNoAuditTrail = errors.New("no readable audit trail")

// queryAudit reads the trail where this server keeps it: the store (audit.store), else
// the audit file and its rotated predecessors.
func (con *Console) queryAudit(ctx context.Context, f audit.Filter) ([]audit.Event, string, error) {
	ac := con.cfg.Audit
	if s, ok := con.store.(audit.Store); ok && ac != nil && ac.Store {
		ev, err := s.QueryAudit(ctx, f)
		return ev, "from the store", err
	}
	if ac != nil && ac.File != nil && ac.File.Path != "" {
		c := *ac
		c.SetDefaults()
		ev, _, err := audit.QueryFiles(c.File.Path, c.File.MaxFiles, f)
		return ev, "from the audit file", err
	}
	return nil, "", errNoAuditTrail
}

func (con *Console) auditRow(e audit.Event) auditRow {
	row := auditRow{Time: e.Time.UTC().Format("2006-01-02 15:04:05"), Route: e.Route, Who: cmp.Or(e.Email, e.User, "anonymous"), Client: e.ClientID,
		Method: e.Method, Target: cmp.Or(e.Tool, e.Prompt, e.Resource), Decision: e.Decision, Status: e.Status, UpstreamStatus: e.UpstreamStatus,
		Reason: e.Reason, Rules: e.Rules, Error: e.Error}
	if e.User != "" {
		row.WhoLink = userLink(e.User)
	}
	switch e.Decision {
	case "allow":
		row.Class = "ok"
	case "":
		row.Decision, row.Class = "—", "muted"
	default:
		row.Class, row.Denied = "broken", true
	}
	if row.Denied && e.Route != "admin" && e.Route != "account" && e.User != "" {
		v := url.Values{"user": {e.User}, "client": {e.ClientID}, "route": {e.Route}, "method": {e.Method}, "tool": {e.Tool}}
		if len(e.Arguments) > 0 {
			v.Set("args", string(e.Arguments))
		}
		row.Simulate = "/admin/simulate?" + v.Encode() + "#result"
	}
	return row
}
