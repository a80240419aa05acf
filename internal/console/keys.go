package console

import (
	"html/template"
	"net/http"

	"github.com/mcpgate/mcpgate/internal/ui"
)

type keyRow struct{ ID, Algorithm, State, Class, Created, Retires, Expires string }

type keysData struct {
	CSRF string
	Keys []keyRow
}

var keysTmpl = template.Must(template.New("keys").Parse(`<p class="lead">The keys that sign this server's tokens (their public halves are at <a href="/jwks"><code>/jwks</code></a>). A new key is published a key overlap before it signs, so that verifiers caching the key set know it first; a retired key stays published until every token it signed has expired. Keys rotate on their own.</p>
<table><thead><tr><th scope="col">Key ID</th><th scope="col">Algorithm</th><th scope="col">State</th><th scope="col">Created</th><th scope="col">Stops signing</th><th scope="col">Unpublished</th><th scope="col"><span class="muted">Action</span></th></tr></thead><tbody>
{{range .Keys}}<tr data-key="{{.ID}}"><td><code>{{.ID}}</code></td><td>{{.Algorithm}}</td><td class="{{.Class}}">{{.State}}</td><td>{{.Created}}</td><td>{{.Retires}}</td><td>{{.Expires}}</td><td><form method="post" action="/admin/keys/remove"><input type="hidden" name="csrf" value="{{$.CSRF}}"><input type="hidden" name="key" value="{{.ID}}"><button type="submit" aria-label="Remove key {{.ID}} now">Remove</button></form></td></tr>
{{end}}</tbody></table>
<form method="post" action="/admin/keys/rotate" class="buttons"><input type="hidden" name="csrf" value="{{.CSRF}}"><button type="submit" class="primary">Rotate now</button></form>
<p class="muted"><strong>Rotate now</strong> starts the next rotation early: tokens already issued keep working. <strong>Remove</strong> is for a key that leaked: it leaves the key set at once, every token it signed stops working, and the next key signs immediately.</p>
`))

// consoleKeys lists the signing keys (never their private halves) and offers rotation.
func (con *Console) consoleKeys(w http.ResponseWriter, r *http.Request, page ui.Page, csrf string) {
	page.Title = "Signing keys"
	d := keysData{CSRF: csrf}
	keys, err := con.as.SigningKeys(r.Context())
	if err != nil {
		con.log.ErrorContext(r.Context(), "admin console: listing signing keys", "err", err)
		page.Error = "The signing keys cannot be read right now (storage error)."
	}
	for _, k := range keys {
		row := keyRow{ID: k.ID, Algorithm: k.Algorithm, State: k.State, Created: fmtTime(k.CreatedAt), Retires: fmtTime(k.RetireAt), Expires: fmtTime(k.ExpiresAt)}
		switch k.State {
		case "signing":
			row.Class = "ok"
		case "unreadable":
			row.Class = "broken"
		default:
			row.Class = "muted"
		}
		d.Keys = append(d.Keys, row)
	}
	con.consoleWrite(w, r, page, "/admin/keys", keysTmpl, d)
}
