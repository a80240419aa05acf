package canvas

import (
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

//go:embed assets
var assets embed.FS

// Options configure the canvas and its agent. Every field except Logger and HTTPClient is
// required.
type Options struct {
	// BaseURL is mcpgate's public URL; the page is served at {BaseURL}/canvas/.
	BaseURL string
	// Authority is the Entra authority base (the emulator, e.g. {BaseURL}/entra), Tenant the
	// tenant GUID.
	Authority, Tenant string
	// CanvasClientID is the canvas app registration (SPA redirect URIs); the page signs in
	// with it.
	CanvasClientID string
	// AgentClientID and AgentSecret are the agent's app registration, which exposes
	// AgentScope (api://…/scope, the OAuth card's tokenExchangeResource.uri) and exchanges
	// the canvas token On-Behalf-Of the user for ToolScope.
	AgentClientID, AgentSecret, AgentScope string
	// ToolScope is what the agent asks the exchange for: the scope of the gateway route's
	// API (e.g. api://mcpgate/access_as_user).
	ToolScope string
	// ToolURL is the MCP endpoint (a gateway route) the agent calls as the user, and Tool
	// the tool it calls.
	ToolURL, Tool string
	// ConnectionName and ProviderID go on the OAuth card (the Bot Framework's OAuth
	// connection setting and its identity provider).
	ConnectionName, ProviderID string
	// WebChatDir, when set, is a directory holding Bot Framework Web Chat's UMD bundle
	// webchat.js (the dist folder of the botframework-webchat npm package): the page then
	// loads it from /canvas/webchat/webchat.js and renders the real Web Chat. Empty: the page
	// uses its minimal stand-in with the same createStore/renderWebChat surface and says so.
	// The bundle (about 4 MB, MIT) is not embedded in mcpgate.
	WebChatDir string
	// HTTPClient makes the agent's calls (token exchange, MCP). Default: 30 s timeout.
	HTTPClient *http.Client
	// Logger: nil discards.
	Logger *slog.Logger
}

// webChatBundle is the file of the botframework-webchat package the page loads: the full UMD
// bundle (window.WebChat with createStore, renderWebChat and the Adaptive Cards renderer
// that shows the OAuth card).
const webChatBundle = "webchat.js"

// ErrSameRegistration is returned by New when the canvas and the agent share one app
// registration, which Copilot Studio's SSO forbids: "You can't reuse the same app
// registration for both your copilot's user authentication and your custom canvas."
var ErrSameRegistration = errors.New("canvas: the canvas and the agent need two app registrations (canvas client id equals the agent's)")

// Server serves the canvas page, its assets, the Direct-Line-compatible connection and the
// agent.
type Server struct {
	o     Options
	agent *agent
	mu    sync.Mutex
	convs map[string]*conversation
	page  *template.Template
	// webchat is the path of webchat.js ("" when the stand-in is used).
	webchat string
}

// New checks the options and builds the server.
func New(o Options) (*Server, error) {
	for name, v := range map[string]string{"BaseURL": o.BaseURL, "Authority": o.Authority, "Tenant": o.Tenant, "CanvasClientID": o.CanvasClientID,
		"AgentClientID": o.AgentClientID, "AgentSecret": o.AgentSecret, "AgentScope": o.AgentScope, "ToolScope": o.ToolScope, "ToolURL": o.ToolURL, "Tool": o.Tool} {
		if v == "" {
			return nil, errors.New("canvas: Options." + name + " is required")
		}
	}
	if strings.EqualFold(o.CanvasClientID, o.AgentClientID) {
		return nil, ErrSameRegistration
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	o.BaseURL = strings.TrimRight(o.BaseURL, "/")
	o.Authority = strings.TrimRight(o.Authority, "/")
	page, err := template.ParseFS(assets, "assets/index.html")
	if err != nil {
		return nil, err
	}
	s := &Server{o: o, convs: map[string]*conversation{}, page: page}
	if o.WebChatDir != "" {
		s.webchat = filepath.Join(o.WebChatDir, webChatBundle)
		if fi, err := os.Stat(s.webchat); err != nil || fi.IsDir() {
			return nil, fmt.Errorf("canvas: Web Chat's bundle %s is not in %s (point it at botframework-webchat's dist folder: npm install botframework-webchat, then node_modules/botframework-webchat/dist)",
				webChatBundle, o.WebChatDir)
		}
	}
	s.agent = &agent{o: o, log: o.Logger.With("component", "canvas-agent")}
	return s, nil
}

// Mount serves the canvas under /canvas/ on mux.
func (s *Server) Mount(mux *http.ServeMux) {
	static, _ := fs.Sub(assets, "assets")
	files := http.StripPrefix("/canvas/", http.FileServerFS(static))
	mux.HandleFunc("GET /canvas/{$}", s.handlePage)
	if s.webchat != "" {
		mux.Handle("GET /canvas/webchat/"+webChatBundle, securityHeaders(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
			http.ServeFile(w, r, s.webchat)
		})))
	}
	mux.Handle("GET /canvas/", securityHeaders(files))
	mux.HandleFunc("POST /canvas/directline/conversations", s.handleStart)
	mux.HandleFunc("GET /canvas/directline/conversations/{id}/stream", s.handleStream)
	mux.HandleFunc("POST /canvas/directline/conversations/{id}/activities", s.handlePost)
}

// pageConfig is what the page needs, rendered into it as JSON.
type pageConfig struct {
	ClientID       string   `json:"clientId"`
	Authority      string   `json:"authority"`
	KnownAuthority []string `json:"knownAuthorities"`
	RedirectURI    string   `json:"redirectUri"`
	AgentScope     string   `json:"agentScope"`
	DirectLine     string   `json:"directLine"`
}

func (s *Server) handlePage(w http.ResponseWriter, r *http.Request) {
	auth := s.o.Authority + "/" + s.o.Tenant
	host := ""
	if u, err := url.Parse(s.o.Authority); err == nil {
		host = u.Host
	}
	cfg, _ := json.Marshal(pageConfig{ClientID: s.o.CanvasClientID, Authority: auth, KnownAuthority: []string{host},
		RedirectURI: s.o.BaseURL + "/canvas/redirect.html", AgentScope: s.o.AgentScope, DirectLine: s.o.BaseURL + "/canvas/directline"})
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	securityHeaderValues(w)
	_ = s.page.Execute(w, map[string]any{"Config": template.JS(cfg), "Insecure": strings.HasPrefix(s.o.BaseURL, "http://"), "WebChat": s.webchat != ""})
}

func securityHeaderValues(w http.ResponseWriter) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; frame-src 'self'; connect-src 'self'; img-src 'self' data: blob:")
	w.Header().Set("Referrer-Policy", "no-referrer")
}

func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		securityHeaderValues(w)
		h.ServeHTTP(w, r)
	})
}
