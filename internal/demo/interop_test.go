package demo_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/internal/client"
	"github.com/mcpgate/mcpgate/internal/testutil"
)

// TestDemoInterop connects real third-party MCP clients (npm packages in test/node) to the
// gateway of one `mcpgate demo` subprocess, with tokens from the demo's authorization server.
func TestDemoInterop(t *testing.T) {
	if testing.Short() {
		t.Skip("interop: starts the demo and Node clients; skipped with -short")
	}
	node := testutil.NodeModules(t)
	mcpRemote := testutil.NodeBin(t, "mcp-remote")
	inspector := testutil.NodeBin(t, "mcp-inspector-cli")
	d := startDemo(t)

	t.Run("mcp-remote", func(t *testing.T) { testMcpRemote(t, d, node, mcpRemote) })
	t.Run("inspector-cli", func(t *testing.T) { testInspectorCLI(t, d, inspector) })
}

// testMcpRemote runs mcp-remote (the stdio ↔ HTTP bridge with its own OAuth client) under the
// official TypeScript SDK's StdioClientTransport. mcp-remote discovers the demo's
// authorization server, registers itself (DCR), and opens the authorization URL with the
// system opener; the "browser" is internal/testutil/cmd/signin-browser, which signs in as
// alice over HTTP and delivers the code to mcp-remote's loopback callback.
func testMcpRemote(t *testing.T, d *demoProcess, node, mcpRemote string) {
	route := d.routes["weather"]
	shim, signinLog := signinBrowser(t)
	home, configDir := t.TempDir(), t.TempDir()
	port := freePort(t)

	env := []string{
		"PATH=" + shim + string(os.PathListSeparator) + os.Getenv("PATH"),
		// open's bundled xdg-open script ends in $BROWSER when no desktop is detected.
		"BROWSER=" + filepath.Join(shim, "xdg-open"),
		"HOME=" + home,
		"MCP_REMOTE_CONFIG_DIR=" + configDir,
		"MCPGATE_SIGNIN_USERNAME=alice",
		"MCPGATE_SIGNIN_PASSWORD=" + d.passwords["alice"],
		"MCPGATE_SIGNIN_LOG=" + signinLog,
		`TOOL_CALLS=[{"name":"get_forecast","arguments":{"city":"Paris","days":2}}]`,
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	driver := filepath.Join(testutil.RepoRoot(t), "internal", "demo", "testdata", "stdio_client.mjs")
	cmd := exec.CommandContext(ctx, "node", driver, node, mcpRemote, route, strconv.Itoa(port))
	cmd.Env = append(desktopFreeEnv(), env...)
	cmd.WaitDelay = 5 * time.Second
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, runErr := cmd.Output()

	var res struct {
		OK     bool     `json:"ok"`
		Error  string   `json:"error"`
		Tools  []string `json:"tools"`
		Stderr string   `json:"stderr"`
		Calls  []struct {
			Name       string          `json:"name"`
			IsError    bool            `json:"isError"`
			Text       string          `json:"text"`
			Structured json.RawMessage `json:"structured"`
		} `json:"calls"`
	}
	if err := json.Unmarshal(stdout, &res); err != nil || !res.OK {
		t.Fatalf("mcp-remote via the TS SDK failed: %v / %v / %s\nsign-ins: %s\nmcp-remote stderr:\n%s\ndriver stderr:\n%s",
			runErr, err, res.Error, readFile(signinLog), res.Stderr, stderr.String())
	}
	if !slices.Contains(res.Tools, "get_forecast") {
		t.Errorf("tools through mcp-remote = %v, want get_forecast", res.Tools)
	}
	if len(res.Calls) != 1 || res.Calls[0].IsError || !strings.Contains(res.Calls[0].Text, "Forecast for Paris") {
		t.Fatalf("get_forecast through mcp-remote: %+v", res.Calls)
	}
	var f struct {
		City string `json:"city"`
		Days []any  `json:"days"`
	}
	if err := json.Unmarshal(res.Calls[0].Structured, &f); err != nil || f.City != "Paris" || len(f.Days) != 2 {
		t.Errorf("structured forecast = %s (%v), want Paris with 2 days", res.Calls[0].Structured, err)
	}

	// The sign-in really happened: one browser run that went through the login page and
	// ended on mcp-remote's loopback callback with a code.
	runs := signinRuns(t, signinLog)
	if len(runs) != 1 {
		t.Fatalf("the browser was opened %d times, want once: %+v", len(runs), runs)
	}
	r := runs[0]
	if r.Error != "" {
		t.Fatalf("sign-in failed: %s (pages: %v)", r.Error, r.Seen)
	}
	if !slices.ContainsFunc(r.Seen, func(s string) bool { return strings.Contains(s, "/login") }) {
		t.Errorf("the browser never saw the login page: %v", r.Seen)
	}
	au, _ := url.Parse(r.URL)
	if q := au.Query(); q.Get("code_challenge_method") != "S256" || q.Get("resource") == "" || q.Get("client_id") == "" {
		t.Errorf("authorization request lacks PKCE S256, resource or client_id: %s", r.URL)
	}
	cb, _ := url.Parse(r.Redirect)
	if cb == nil || !slices.Contains([]string{"127.0.0.1", "localhost"}, cb.Hostname()) || cb.Port() != strconv.Itoa(port) ||
		cb.Query().Get("code") == "" || cb.Query().Get("state") == "" {
		t.Errorf("sign-in did not end on mcp-remote's loopback callback (port %d) with a code and state: %s://%s%s",
			port, cb.Scheme, cb.Host, cb.Path)
	}

	// mcp-remote registered itself (DCR) and stored the tokens in MCP_REMOTE_CONFIG_DIR, not
	// in the real home folder.
	var info struct {
		ClientID     string   `json:"client_id"`
		RedirectURIs []string `json:"redirect_uris"`
	}
	readJSONGlob(t, filepath.Join(configDir, "*", "*_client_info.json"), &info)
	if info.ClientID == "" || info.ClientID != au.Query().Get("client_id") {
		t.Errorf("client_info.json client_id = %q, authorization used %q", info.ClientID, au.Query().Get("client_id"))
	}
	var tok struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
	}
	readJSONGlob(t, filepath.Join(configDir, "*", "*_tokens.json"), &tok)
	if tok.AccessToken == "" || !strings.EqualFold(tok.TokenType, "bearer") {
		t.Fatalf("tokens.json has no bearer access token (token_type %q)", tok.TokenType)
	}
	if m, _ := filepath.Glob(filepath.Join(home, ".mcp-auth", "*")); len(m) > 0 {
		t.Errorf("mcp-remote wrote into HOME despite MCP_REMOTE_CONFIG_DIR: %v", m)
	}
	// The token is the demo's, bound to the weather route: the gateway accepts it there and
	// refuses it on another route.
	if got := probeStatus(t, ctx, route, tok.AccessToken); got != http.StatusOK {
		t.Errorf("mcp-remote's token on %s: status %d, want 200", route, got)
	}
	if got := probeStatus(t, ctx, d.routes["stocks"], tok.AccessToken); got != http.StatusUnauthorized {
		t.Errorf("mcp-remote's weather token on %s: status %d, want 401 (audience)", d.routes["stocks"], got)
	}
}

// testInspectorCLI signs in as bob with mcpgate's own OAuth client (internal/client) and
// hands the access token to the MCP Inspector CLI as an Authorization header (Streamable HTTP
// transport), the way a user pastes a token into Inspector.
func testInspectorCLI(t *testing.T, d *demoProcess, inspector string) {
	route := d.routes["weather"]
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	c, person := signInClient(t, route, "bob", d.passwords["bob"])
	ch, err := client.Probe(ctx, nil, route)
	if err != nil || ch.Status != http.StatusUnauthorized {
		t.Fatalf("probing %s: status %d, %v (want a 401 challenge)", route, ch.Status, err)
	}
	tok, err := c.Login(ctx, ch, "", false)
	if err != nil {
		t.Fatalf("signing in as bob: %v (pages: %v)", err, person.Seen)
	}
	if !slices.ContainsFunc(person.Seen, func(s string) bool { return strings.Contains(s, "/login") }) {
		t.Errorf("bob never saw the login page: %v", person.Seen)
	}

	// The command line `mcpgate demo` prints for the Inspector CLI, with $TOKEN filled in.
	printed := printedInspectorCommand(t, d)
	for i := range printed {
		printed[i] = strings.ReplaceAll(printed[i], "$TOKEN", tok.AccessToken)
	}
	cwd := inspectorCwd(t)
	bearer := []string{"--header", "Authorization: Bearer " + tok.AccessToken}
	tests := []struct {
		name string
		args []string
		want []string
		fail bool
	}{
		{"tools/list (printed command)", printed, []string{`"get_forecast"`}, false},
		{"tools/call", append([]string{"--cli", route, "--transport", "http", "--method", "tools/call", "--tool-name", "get_forecast",
			"--tool-arg", "city=Lima", "days=1"}, bearer...), []string{"Forecast for Lima", `"city": "Lima"`}, false},
		{"no token", []string{"--cli", route, "--transport", "http", "--method", "tools/list"}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.args
			cctx, ccancel := context.WithTimeout(ctx, 60*time.Second)
			defer ccancel()
			cmd := exec.CommandContext(cctx, inspector, args...)
			cmd.Dir = cwd
			cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
			out, err := cmd.CombinedOutput()
			if tt.fail {
				if err == nil {
					t.Fatalf("inspector without a token succeeded:\n%s", out)
				}
				// The gateway's refusal says what is wrong and where to sign in.
				for _, w := range []string{"requires a bearer token", "oauth-protected-resource/weather/mcp"} {
					if !strings.Contains(string(out), w) {
						t.Errorf("inspector without a token should show the gateway's refusal (%q):\n%s", w, out)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("inspector %s: %v\n%s", tt.name, err, out)
			}
			for _, w := range tt.want {
				if !strings.Contains(string(out), w) {
					t.Errorf("inspector %s output lacks %q:\n%s", tt.name, w, out)
				}
			}
		})
	}
}

// printedInspectorCommand returns the arguments of the Inspector CLI command line that
// `mcpgate demo` printed (after `npx @modelcontextprotocol/inspector`), split like a shell
// would split them (the snippet uses only double quotes).
func printedInspectorCommand(t *testing.T, d *demoProcess) []string {
	t.Helper()
	const prefix = "npx @modelcontextprotocol/inspector --cli "
	for _, line := range strings.Split(d.out.String(), "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, prefix) {
			continue
		}
		var args []string
		var cur strings.Builder
		inQuote, started := false, false
		for _, r := range strings.TrimPrefix(line, "npx @modelcontextprotocol/inspector ") {
			switch {
			case r == '"':
				inQuote, started = !inQuote, true
			case r == ' ' && !inQuote:
				if started {
					args = append(args, cur.String())
					cur.Reset()
					started = false
				}
			default:
				cur.WriteRune(r)
				started = true
			}
		}
		if started {
			args = append(args, cur.String())
		}
		if inQuote || !slices.ContainsFunc(args, func(a string) bool { return strings.Contains(a, "$TOKEN") }) {
			t.Fatalf("the printed Inspector command is malformed or lacks $TOKEN: %s", line)
		}
		return args
	}
	t.Fatalf("mcpgate demo printed no Inspector CLI command (%q…); output:\n%s", prefix, d.out.String())
	return nil
}

// signinBrowser builds internal/testutil/cmd/signin-browser as <dir>/xdg-open and returns the
// folder and the path of its JSON-lines log.
func signinBrowser(t *testing.T) (dir, logFile string) {
	t.Helper()
	dir = t.TempDir()
	cmd := exec.Command("go", "build", "-o", filepath.Join(dir, "xdg-open"), "./internal/testutil/cmd/signin-browser")
	cmd.Dir = testutil.RepoRoot(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building signin-browser: %v\n%s", err, out)
	}
	return dir, filepath.Join(t.TempDir(), "signin.jsonl")
}

type signinRun struct {
	URL      string   `json:"url"`
	Seen     []string `json:"seen"`
	Redirect string   `json:"redirect"`
	Error    string   `json:"error"`
}

func signinRuns(t *testing.T, path string) []signinRun {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("the stand-in browser was never run (no %s): %v", path, err)
	}
	defer f.Close()
	var out []signinRun
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r signinRun
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out = append(out, r)
	}
	return out
}

// desktopFreeEnv is the test's environment without the variables xdg-open uses to detect a
// desktop (which would make it hand the URL to a real browser instead of $BROWSER).
func desktopFreeEnv() []string {
	drop := []string{"DISPLAY", "WAYLAND_DISPLAY", "XDG_CURRENT_DESKTOP", "DESKTOP_SESSION", "KDE_FULL_SESSION",
		"KDE_SESSION_VERSION", "GNOME_DESKTOP_SESSION_ID", "MATE_DESKTOP_SESSION_ID", "XDG_SESSION_DESKTOP",
		"DBUS_SESSION_BUS_ADDRESS", "BROWSER", "HOME", "PATH", "MCP_REMOTE_CONFIG_DIR", "TOOL_CALLS"}
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if !slices.Contains(drop, k) && !strings.HasPrefix(k, "MCPGATE_SIGNIN_") {
			env = append(env, kv)
		}
	}
	return env
}

// probeStatus sends an MCP initialize with token to url and returns the HTTP status.
func probeStatus(t *testing.T, ctx context.Context, url, token string) int {
	t.Helper()
	body := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"probe","version":"1"}}}`
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func readJSONGlob(t *testing.T, pattern string, v any) {
	t.Helper()
	m, _ := filepath.Glob(pattern)
	if len(m) != 1 {
		t.Fatalf("want exactly one file matching %s, found %v", pattern, m)
	}
	b, err := os.ReadFile(m[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", m[0], err)
	}
}

func readFile(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

// freePort returns a loopback port that was free a moment ago (for mcp-remote's callback).
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// inspectorCwd works around inspector-cli 1.0.3 reading its package.json through
// fs.existsSync("../package.json"), relative to the working directory: it needs a working
// directory whose parent holds a package.json (docs/interop.md).
func inspectorCwd(t *testing.T) string {
	t.Helper()
	parent := t.TempDir()
	if err := os.WriteFile(filepath.Join(parent, "package.json"), []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	cwd := filepath.Join(parent, "run")
	if err := os.Mkdir(cwd, 0o755); err != nil {
		t.Fatal(err)
	}
	return cwd
}
