package entraemulator

import (
	"html/template"
	"net/http"
	"net/url"
	"strings"
)

// page is the data of every HTML page the emulator renders.
type page struct {
	Title    string
	Heading  string
	Sub      string // line under the heading (account, app)
	Error    string
	Info     string
	Action   string
	Ctx      string
	Login    string
	Step     string // password, mfa, consent, device, done, error
	AppName  string
	Tenant   string
	Perms    []perm
	UserCode string
	Hidden   map[string]string
	Redirect string
}

type perm struct{ Scope, Description, Resource string }

var pageTmpl = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>
 :root{--blue:#0067b8;--text:#1b1b1b;--muted:#605e5c}
 *{box-sizing:border-box} body{margin:0;font-family:"Segoe UI",-apple-system,Helvetica,Arial,sans-serif;color:var(--text);
 background:linear-gradient(135deg,#e9eef6,#f3f2f1 60%,#dfe7f2);min-height:100vh;display:flex;align-items:center;justify-content:center}
 .card{background:#fff;width:440px;max-width:94vw;padding:44px;box-shadow:0 2px 6px rgba(0,0,0,.2)}
 .brand{display:flex;align-items:center;gap:8px;font-size:15px;color:#737373;margin-bottom:16px}
 .logo{display:grid;grid-template-columns:10px 10px;gap:2px}.logo i{width:10px;height:10px;display:block}
 h1{font-size:24px;font-weight:600;margin:0 0 12px} .sub{color:var(--muted);font-size:14px;margin:-4px 0 16px;word-break:break-all}
 label{display:block;font-size:13px;color:var(--muted);margin-top:10px}
 input[type=text],input[type=password],input[type=email]{width:100%;font-size:15px;padding:6px 0;border:none;border-bottom:1px solid #666;outline:none;margin:4px 0 12px}
 input:focus{border-bottom:2px solid var(--blue)}
 .row{display:flex;justify-content:flex-end;gap:8px;margin-top:24px}
 button{font-size:15px;padding:6px 12px;min-width:108px;border:none;cursor:pointer}
 .primary{background:var(--blue);color:#fff}.primary:hover{background:#005da6}.secondary{background:#ccc}
 .error{color:#e81123;font-size:14px;margin:8px 0} .info{font-size:14px;margin:8px 0;color:var(--muted)}
 ul.perms{padding-left:18px;font-size:14px} ul.perms li{margin:6px 0} .perms small{color:var(--muted);display:block}
 .code{font-family:Consolas,monospace;font-size:20px;letter-spacing:2px}
 .foot{margin-top:28px;font-size:12px;color:var(--muted)}
</style></head><body><main class="card">
<div class="brand"><span class="logo"><i style="background:#f25022"></i><i style="background:#7fba00"></i><i style="background:#00a4ef"></i><i style="background:#ffb900"></i></span>mcpgate · Entra ID emulator</div>
<h1>{{.Heading}}</h1>{{if .Sub}}<div class="sub">{{.Sub}}</div>{{end}}
{{if .Error}}<div class="error" role="alert">{{.Error}}</div>{{end}}
{{if .Info}}<div class="info">{{.Info}}</div>{{end}}
{{if eq .Step "password"}}
<form method="post" action="{{.Action}}" autocomplete="off">
 <input type="hidden" name="ctx" value="{{.Ctx}}">
 <label for="login">Email or user principal name</label><input id="login" type="email" name="login" value="{{.Login}}" required autofocus>
 <label for="passwd">Password</label><input id="passwd" type="password" name="passwd" required>
 <div class="row"><button class="primary" type="submit">Sign in</button></div>
</form>
{{else if eq .Step "mfa"}}
<form method="post" action="{{.Action}}" autocomplete="off">
 <input type="hidden" name="ctx" value="{{.Ctx}}">
 <div class="info">Your organization requires additional verification. Enter the code from your authenticator app.</div>
 <label for="otc">Code</label><input id="otc" type="text" name="otc" inputmode="numeric" required autofocus>
 <div class="row"><button class="primary" type="submit">Verify</button></div>
</form>
{{else if eq .Step "consent"}}
<form method="post" action="{{.Action}}">
 <input type="hidden" name="ctx" value="{{.Ctx}}">
 <div class="info"><b>{{.AppName}}</b> would like to:</div>
 <ul class="perms">{{range .Perms}}<li>{{.Scope}}<small>{{.Description}} ({{.Resource}})</small></li>{{end}}</ul>
 <div class="info">Accepting these permissions means that you allow this app to use your data as specified.</div>
 <div class="row"><button class="secondary" type="submit" name="consent" value="cancel">Cancel</button><button class="primary" type="submit" name="consent" value="accept">Accept</button></div>
</form>
{{else if eq .Step "device"}}
<form method="post" action="{{.Action}}" autocomplete="off">
 <label for="code">Code</label><input id="code" class="code" type="text" name="code" value="{{.UserCode}}" required autofocus>
 <label for="login">Email</label><input id="login" type="email" name="login" value="{{.Login}}" required>
 <label for="passwd">Password</label><input id="passwd" type="password" name="passwd" required>
 {{if .Hidden}}<label for="otc">Verification code</label><input id="otc" type="text" name="otc" inputmode="numeric">{{end}}
 <div class="row"><button class="primary" type="submit">Next</button></div>
</form>
{{else if eq .Step "post"}}
<form method="post" action="{{.Redirect}}" id="f">{{range $k, $v := .Hidden}}<input type="hidden" name="{{$k}}" value="{{$v}}">{{end}}
<noscript><button class="primary" type="submit">Continue</button></noscript></form>
<script>document.getElementById("f").submit()</script>
{{end}}
<div class="foot">Offline emulator of login.microsoftonline.com. Not a Microsoft service.</div>
</main></body></html>`))

func (em *Emulator) render(w http.ResponseWriter, status int, p page) {
	if p.Title == "" {
		p.Title = "Sign in to your account"
	}
	// Forms post back to the request path, which lacks the mount prefix when the emulator
	// is served under one (Mount, `mcpgate serve` with entra.pathPrefix).
	if u, err := url.Parse(em.opts.BaseURL); err == nil && strings.HasPrefix(p.Action, "/") && strings.Trim(u.Path, "/") != "" {
		p.Action = strings.TrimRight(u.Path, "/") + p.Action
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; form-action *; frame-ancestors 'none'")
	w.Header().Set("X-Frame-Options", "DENY")
	w.WriteHeader(status)
	_ = pageTmpl.Execute(w, p)
}
