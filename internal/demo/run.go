package demo

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mcpgate/mcpgate/internal/app"
	"github.com/mcpgate/mcpgate/internal/authserver"
	"github.com/mcpgate/mcpgate/internal/config"
	"github.com/mcpgate/mcpgate/internal/store"
)

// RunOptions configure `mcpgate demo`.
type RunOptions struct {
	// Addr is the gateway's listen address. Default 127.0.0.1:8080.
	Addr string
	// PublicURL is the external base URL. Default http://<Addr>.
	PublicURL string
	// DataDir holds the SQLite database, the audit log and the generated keys and secrets.
	// Default ./.mcpgate/demo.
	DataDir string
	// Executable is how the printed snippets invoke mcpgate (default: this binary when it
	// is installed, else "mcpgate").
	Executable string
	// Out receives the welcome text; Logger the logs.
	Out    io.Writer
	Logger *slog.Logger
	// Ready, when set, is called once the gateway is listening.
	Ready func(Info)
	// TLS serves the demo over https with a self-signed certificate (see demoTLS).
	TLS bool
	// WebChatDir is the dist folder of the botframework-webchat npm package: the web canvas
	// then renders the real Bot Framework Web Chat (canvas.Options.WebChatDir). Empty: its
	// stand-in chat.
	WebChatDir string
}

// DemoUser is a demo account.
type DemoUser struct {
	Username, Password, Email, Name string
	Groups                          []string
}

// Info describes a running demo.
type Info struct {
	BaseURL string
	// WebChat: the web canvas renders the real Bot Framework Web Chat (RunOptions.WebChatDir).
	WebChat bool
	// Routes maps route name to its MCP URL.
	Routes map[string]string
	Users  []DemoUser
	// XAASecret is the enterprise agent's client secret (xaa.go).
	XAASecret string
}

// The demo's users: alice is in engineering and finance, bob only in engineering, so the
// policy lets alice see and call get_quote and hides it from bob.
var demoUsers = []DemoUser{
	{Username: "alice", Email: "alice@example.com", Name: "Alice Example", Groups: []string{"engineering", "finance"}},
	{Username: "bob", Email: "bob@example.com", Name: "Bob Example", Groups: []string{"engineering"}},
}

// Config returns the demo's configuration for the given listen address, public URL, data
// folder, demo upstream URLs (by name: weather, stocks, whoami, files, tasks), users and
// generated secrets.
func Config(addr, publicURL, dataDir string, upstreams map[string]string, users []DemoUser, secrets Secrets) *config.Config {
	if publicURL == "" {
		publicURL = "http://" + addr
	}
	cfg := &config.Config{
		Listen:    addr,
		PublicURL: publicURL,
		Log:       config.Log{Format: "text", Level: "info"},
		// No admin listener: a demo should not take port 9090 from a real mcpgate.
		Admin: config.Admin{Listen: "off"},
		Store: config.Store{SQLite: &config.SQLiteStore{Path: filepath.Join(dataDir, "mcpgate.db")}},
		// Plain http is accepted for a loopback demo only; put TLS in front (--public-url
		// https://…) to share it.
		AuthServer: &config.AuthServer{AllowInsecureHTTP: strings.HasPrefix(publicURL, "http://")},
		Audit:      &config.Audit{File: &config.AuditFile{Path: filepath.Join(dataDir, "audit.jsonl")}},
		Routes: []config.Route{
			{
				Name: "weather", Path: "/weather/mcp",
				Upstream: config.Upstream{URL: upstreams["weather"]},
				Auth:     config.Auth{Mode: "strict"},
			},
			{
				Name: "stocks", Path: "/stocks/mcp",
				Upstream: config.Upstream{URL: upstreams["stocks"]},
				Auth:     config.Auth{Mode: "strict"},
				Policy: &config.RoutePolicy{
					Rules: []config.Rule{
						{Name: "finance-only-quotes", Description: "only the finance group may see and call get_quote",
							Allow: `mcp.tool != "get_quote" || "finance" in user.groups`},
					},
					Refusal: "mask",
				},
			},
			{
				Name: "whoami", Path: "/whoami/mcp",
				Upstream:        config.Upstream{URL: upstreams["whoami"]},
				Auth:            config.Auth{Mode: "strict"},
				ForwardIdentity: &config.ForwardIdentity{Subject: "X-Mcp-User-Sub", Email: "X-Mcp-User-Email", Groups: "X-Mcp-User-Groups"},
				UpstreamAuth:    &config.UpstreamAuth{GatewayJWT: &config.GatewayJWTAuth{Audience: "urn:mcpgate:demo:whoami"}},
			},
		},
		UpstreamCredentials: &config.UpstreamCredentials{
			GatewayJWT: &config.GatewayJWTSigning{KeyFiles: []string{filepath.Join(dataDir, "gateway-jwt.pem")}},
		},
	}
	addContoso(cfg, upstreams, users, secrets)
	addCanvas(cfg, upstreams, secrets)
	addEnterprise(cfg, secrets) // xaa.go
	cfg.SetDefaults()
	return cfg
}

// Run starts the demo and blocks until ctx ends.
func Run(ctx context.Context, o RunOptions) error {
	if o.Addr == "" {
		o.Addr = "127.0.0.1:8080"
	}
	if o.DataDir == "" {
		o.DataDir = filepath.Join(".mcpgate", "demo")
	}
	if o.Out == nil {
		o.Out = os.Stdout
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(o.DataDir, 0o700); err != nil {
		return fmt.Errorf("creating the data folder %s: %w", o.DataDir, err)
	}

	// Listen first so that a busy port is reported before anything else starts.
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w (choose another address with --addr, e.g. --addr 127.0.0.1:8090)", o.Addr, err)
	}
	defer ln.Close()
	addr := ln.Addr().String()
	caPath := ""
	if o.TLS {
		tc, ca, err := demoTLS(o.DataDir)
		if err != nil {
			return err
		}
		ln, caPath = tls.NewListener(ln, tc), ca
		if o.PublicURL == "" {
			o.PublicURL = "https://" + addr
		}
	}

	upstreams, stop, err := startUpstreams(ctx)
	if err != nil {
		return err
	}
	defer stop()

	if err := ensureSigningKey(filepath.Join(o.DataDir, "gateway-jwt.pem")); err != nil {
		return err
	}
	secrets, err := ensureSecrets(o.DataDir)
	if err != nil {
		return err
	}
	users := newDemoUsers()
	cfg := Config(addr, o.PublicURL, o.DataDir, upstreams, users, secrets)
	if _, err := cfg.Validate(); err != nil {
		return fmt.Errorf("demo configuration: %w", err)
	}
	st, err := store.Open(ctx, app.StoreBackend(cfg.Store), log)
	if err != nil {
		return fmt.Errorf("opening the demo database: %w", err)
	}
	defer func() {
		if c, ok := st.(io.Closer); ok {
			c.Close()
		}
	}()
	if err := ensureUsers(ctx, st, users); err != nil {
		return err
	}
	cv, err := newCanvas(cfg, secrets, o.WebChatDir, log)
	if err != nil {
		return err
	}
	a, err := app.New(ctx, cfg, app.Options{Logger: log, Store: st, Mount: canvasMount(cv)})
	if err != nil {
		return err
	}
	info := Info{BaseURL: cfg.BaseURL(), Routes: map[string]string{}, Users: users, XAASecret: XAASecret(secrets)}
	for _, r := range cfg.Routes {
		info.Routes[r.Name] = info.BaseURL + r.Path
	}
	info.WebChat = o.WebChatDir != ""
	printWelcome(o.Out, info, o.Executable, o.DataDir)
	if caPath != "" {
		printTLS(o.Out, info, caPath)
	}
	if o.Ready != nil {
		o.Ready(info)
	}
	err = a.Serve(ctx, ln)
	fmt.Fprintln(o.Out, "\nmcpgate demo stopped.")
	return err
}

// startUpstreams serves the demo MCP servers on loopback ports.
func startUpstreams(ctx context.Context) (map[string]string, func(), error) {
	urls := map[string]string{}
	var servers []*http.Server
	stop := func() {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		for _, s := range servers {
			s.Shutdown(sctx)
		}
	}
	handlers := Handlers(nil)
	// The files (OBO) and tasks (connection) routes show what their upstream receives.
	handlers["files"], handlers["tasks"] = Whoami(nil), Whoami(nil)
	for name, h := range handlers {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			stop()
			return nil, nil, fmt.Errorf("starting the demo %s server: %w", name, err)
		}
		s := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
		servers = append(servers, s)
		go s.Serve(ln)
		urls[name] = "http://" + ln.Addr().String() + "/mcp"
	}
	return urls, stop, nil
}

// newDemoUsers returns the demo users with fresh random passwords (the same for the local
// account and the Contoso one), so that the printed passwords are always the valid ones.
func newDemoUsers() []DemoUser {
	var out []DemoUser
	for _, u := range demoUsers {
		u.Password = randomPassword()
		out = append(out, u)
	}
	return out
}

// ensureUsers creates the demo users (or resets their passwords).
func ensureUsers(ctx context.Context, st store.Store, users []DemoUser) error {
	for _, u := range users {
		hash, err := authserver.HashPassword(u.Password)
		if err != nil {
			return err
		}
		existing, err := st.GetUserByUsername(ctx, u.Username)
		switch {
		case errors.Is(err, store.ErrNotFound):
			err = st.CreateUser(ctx, store.User{ID: "demo-" + u.Username, Username: u.Username, Email: u.Email, Name: u.Name,
				Groups: u.Groups, PasswordHash: hash, CreatedAt: time.Now()})
		case err == nil:
			_, err = st.UpdateUser(ctx, existing.ID, func(x *store.User) error {
				x.PasswordHash, x.Groups, x.Email, x.Name = hash, u.Groups, u.Email, u.Name
				return nil
			})
		}
		if err != nil {
			return fmt.Errorf("creating demo user %s: %w", u.Username, err)
		}
	}
	return nil
}

// ensureSigningKey creates the demo's gatewayJWT signing key on first start, so that the
// whoami upstream's view of the key set survives restarts.
func ensureSigningKey(path string) error {
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return err
	}
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	if err := os.WriteFile(path, pemBytes, 0o600); err != nil {
		return fmt.Errorf("writing the demo signing key: %w", err)
	}
	return nil
}

func randomPassword() string {
	const alphabet = "abcdefghijkmnpqrstuvwxyz23456789"
	b := make([]byte, 12)
	rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b[:4]) + "-" + string(b[4:8]) + "-" + string(b[8:])
}

func printWelcome(w io.Writer, info Info, exe, dataDir string) {
	if exe == "" {
		exe = "mcpgate"
	}
	names := []string{"weather", "stocks", "whoami", "files", "tasks"}
	fmt.Fprintf(w, "\nmcpgate demo is running at %s (data in %s)\n\n", info.BaseURL, dataDir)
	fmt.Fprintln(w, "MCP servers behind the gateway (sign-in required):")
	for _, n := range names {
		fmt.Fprintf(w, "  %-8s %s\n", n, info.Routes[n])
	}
	fmt.Fprintln(w, "\nDemo users (passwords are new each start):")
	for _, u := range info.Users {
		fmt.Fprintf(w, "  %-6s password %s   groups %s\n", u.Username, u.Password, strings.Join(u.Groups, ", "))
	}
	fmt.Fprintln(w, "\nPolicy: only the finance group may use stocks/get_quote, so bob does not even see it.")
	fmt.Fprintln(w, "whoami shows what its upstream received: a gateway-signed token for the user, never the client's token.")
	printContoso(w, info)
	printCanvas(w, info)
	printEnterprise(w, info, exe)

	vscode := map[string]any{"servers": map[string]any{}}
	for _, n := range names {
		vscode["servers"].(map[string]any)["mcpgate-"+n] = map[string]any{"type": "http", "url": info.Routes[n]}
	}
	b, _ := json.MarshalIndent(vscode, "  ", "  ")
	fmt.Fprintf(w, "\nVS Code (.vscode/mcp.json):\n  %s\n", b)

	type stdioServer struct {
		Command string   `json:"command"`
		Args    []string `json:"args"`
	}
	claude := map[string]map[string]stdioServer{"mcpServers": {}}
	for _, n := range names {
		claude["mcpServers"]["mcpgate-"+n] = stdioServer{Command: exe, Args: []string{"stdio", info.Routes[n]}}
	}
	b, _ = json.MarshalIndent(claude, "  ", "  ")
	fmt.Fprintf(w, "\nClaude Desktop (claude_desktop_config.json), through the stdio bridge:\n  %s\n", b)

	fmt.Fprintf(w, "\nMCP Inspector (2.x, Node >= 22.19):\n  npx @modelcontextprotocol/inspector   # Add Servers > Add manually: Transport streamable-http, URL %s; switch it on and sign in\n", info.Routes["weather"])
	fmt.Fprintf(w, "  npx @modelcontextprotocol/inspector --cli %s --transport http --method tools/list --header \"Authorization: Bearer $TOKEN\"\n"+
		"    # CLI mode does not sign in: get TOKEN with `%s login URL`, then `%s token show --raw URL`\n",
		info.Routes["weather"], exe, exe)
	fmt.Fprintf(w, "\nFrom this terminal:\n  %s tools %s\n  %s call %s get_forecast --arg city=Paris\n", exe, info.Routes["weather"], exe, info.Routes["weather"])
	fmt.Fprintln(w, "\nPress Ctrl+C to stop.")
}
