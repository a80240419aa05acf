package app

import (
	"cmp"
	"crypto/sha256"
	"encoding/base64"
	"html/template"
	"net/http"
	"strconv"
	"strings"

	"github.com/mcpgate/mcpgate/internal/authserver"
	"github.com/mcpgate/mcpgate/internal/config"
	"github.com/mcpgate/mcpgate/internal/ui"
)

// copyScript makes the copy buttons work; allowed by its hash in the page's CSP.
const copyScript = `document.querySelectorAll("button[data-copy]").forEach(function(b){b.addEventListener("click",function(){var t=document.getElementById(b.dataset.copy).textContent;navigator.clipboard.writeText(t).then(function(){b.textContent="Copied";setTimeout(function(){b.textContent="Copy"},1500)})})});`

var copyScriptHash = func() string {
	h := sha256.Sum256([]byte(copyScript))
	return "'sha256-" + base64.StdEncoding.EncodeToString(h[:]) + "'"
}()

type landingRoute struct {
	Name, URL, ID, Auth string
}

type landingData struct {
	Brand       ui.Branding
	Routes      []landingRoute
	Connections string
	Account     bool
	SignIn      string
	Script      template.JS
	HasAS       bool
}

var landingTmpl = template.Must(template.New("landing").Parse(`<p class="lead">{{.Brand.DisplayName}} is an <strong>MCP gateway</strong>: it lets AI applications (Claude, VS Code, ChatGPT, your own agents) use the tools of the servers below <strong>as you</strong>, after you sign in and approve each application. Every call is checked against the server's policy and recorded.</p>
<h2>MCP servers</h2>
{{if .Routes}}<table><thead><tr><th scope="col">Server</th><th scope="col">MCP URL</th><th scope="col"><span class="muted">Copy</span></th></tr></thead><tbody>
{{range .Routes}}<tr><td><strong>{{.Name}}</strong><br><small class="muted">{{.Auth}}</small></td><td><code id="{{.ID}}">{{.URL}}</code></td><td><button type="button" class="btn" data-copy="{{.ID}}" aria-label="Copy the URL of {{.Name}}">Copy</button></td></tr>
{{end}}</tbody></table>{{else}}<p class="muted">No MCP servers are configured yet.</p>{{end}}
{{if .Routes}}{{with index .Routes 0}}<h2>Add it to your client</h2>
<p class="muted">Claude Code</p>
<pre id="snip-claude">claude mcp add --transport http {{.Name}} {{.URL}}</pre>
<p><button type="button" class="btn" data-copy="snip-claude">Copy</button></p>
<p class="muted">VS Code (<code>.vscode/mcp.json</code>)</p>
<pre id="snip-vscode">{ "servers": { "{{.Name}}": { "type": "http", "url": "{{.URL}}" } } }</pre>
<p><button type="button" class="btn" data-copy="snip-vscode">Copy</button></p>
<p class="muted">Any MCP client: give it the URL; it discovers where to sign in (OAuth protected resource metadata) and opens this server's sign-in page.</p>
{{end}}{{end}}
<h2>Your account</h2>
<ul class="plain">
{{if .Connections}}<li><a href="{{.Connections}}">My connections</a>: the services tools may use as you.</li>{{end}}
{{if .Account}}<li><a href="/account">My account</a>: the applications you allowed and where you are signed in (revoke, sign out everywhere).</li>{{end}}
{{if .SignIn}}<li><a href="{{.SignIn}}">Sign in</a> to this server.</li>{{end}}
</ul>
<script>{{.Script}}</script>
`))

// landing serves / : what this server is, the MCP URLs with copy buttons and client
// snippets, and links to the user's pages.
func (a *App) landing(brand ui.Branding) http.HandlerFunc {
	d := landingData{Brand: brand, Script: template.JS(copyScript), HasAS: a.as != nil}
	for i, r := range a.cfg.Routes {
		auth := "sign-in required"
		switch r.Auth.Mode {
		case "optional":
			auth = "sign-in optional"
		case "permissive":
			auth = "open"
		}
		d.Routes = append(d.Routes, landingRoute{Name: r.Name, URL: a.base + r.Path, ID: "url-" + strconv.Itoa(i), Auth: auth})
	}
	if uc := a.cfg.UpstreamCredentials; uc != nil && len(uc.Connections) > 0 {
		d.Connections = cmp.Or(uc.ConnectionsPath, config.DefaultConnectionsPath) + "/"
	}
	if a.as != nil {
		d.Account = true
		d.SignIn = authserver.PathLogin + "?" + authserver.ParamReturn + "=/"
	}
	styleURL := ""
	if a.as != nil {
		styleURL = authserver.PathStatic + "style.css"
	}
	csp := "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; script-src " + copyScriptHash + "; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
	return func(w http.ResponseWriter, r *http.Request) {
		var body strings.Builder
		if err := landingTmpl.Execute(&body, d); err != nil {
			a.log.ErrorContext(r.Context(), "rendering the landing page", "err", err)
		}
		ui.SetPageHeaders(w.Header(), csp)
		p := ui.Page{Brand: brand, Title: "Welcome to " + brand.DisplayName(), Wide: true, Body: template.HTML(body.String()), StyleURL: styleURL}
		if a.as != nil {
			if sub, ok := a.as.CurrentUser(r); ok {
				p.User = cmp.Or(a.as.UserLabel(r, sub), sub)
			}
		}
		ui.Write(w, http.StatusOK, p)
	}
}
