package ui

import (
	_ "embed"
	"html/template"
	"io"
	"net/http"
)

// CSS is the shared stylesheet. The authorization server serves it at
// /authserver/static/style.css; pages without a file server inline it.
//
//go:embed style.css
var CSS string

// Branding is the operator's name and logo shown in every page header.
type Branding struct {
	// Name replaces "mcpgate" in the header and titles.
	Name string
	// LogoURL is an image shown before the name (same-origin path or data: URL, since
	// the pages' Content-Security-Policy only allows img-src 'self' data:).
	LogoURL string
}

// DisplayName is Name, or "mcpgate".
func (b Branding) DisplayName() string {
	if b.Name != "" {
		return b.Name
	}
	return "mcpgate"
}

// Page is the data of the shared layout.
type Page struct {
	Brand        Branding
	Title        string
	User         string // a name or email, never an internal subject id
	Error        string
	Notice       string
	Wide         bool
	Body         template.HTML // trusted, already escaped content
	Footer       string
	InlineStyles bool // inline CSS (pages without the stylesheet's URL)
	StyleURL     string
}

var layout = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<link rel="icon" href="data:,">
<title>{{.Title}} · {{.Brand.DisplayName}}</title>
{{if .StyleURL}}<link rel="stylesheet" href="{{.StyleURL}}">{{else}}<style>{{.CSS}}</style>{{end}}
</head>
<body>
<main class="card{{if .Wide}} wide{{end}}">
<header class="brand">{{if .Brand.LogoURL}}<img src="{{.Brand.LogoURL}}" alt="">{{else}}<span class="logo" aria-hidden="true">◆</span> {{end}}{{.Brand.DisplayName}}</header>
<h1>{{.Title}}</h1>
{{if .User}}<p class="who">Signed in as <strong>{{.User}}</strong></p>{{end}}
{{if .Error}}<div class="alert error" role="alert">{{.Error}}</div>{{end}}
{{if .Notice}}<div class="alert notice" role="status">{{.Notice}}</div>{{end}}
{{.Body}}
<footer>{{if .Footer}}{{.Footer}}{{else if .Brand.Name}}{{.Brand.Name}} · secured by mcpgate{{else}}Secured by mcpgate{{end}}</footer>
</main>
</body>
</html>
`))

type layoutData struct {
	Page
	CSS template.CSS
}

// Render writes p in the shared layout.
func Render(w io.Writer, p Page) error {
	return layout.Execute(w, layoutData{Page: p, CSS: template.CSS(CSS)})
}

// Write sets the content type and status, then renders p.
func Write(w http.ResponseWriter, status int, p Page) error {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	return Render(w, p)
}

// SetPageHeaders sets the security headers of a page: its Content-Security-Policy, no
// framing, no MIME sniffing, no referrer. Pages that carry a form token add
// Cache-Control: no-store.
func SetPageHeaders(h http.Header, csp string) {
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
}
