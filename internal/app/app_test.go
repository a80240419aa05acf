package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpgate/mcpgate/internal/authserver"
	"github.com/mcpgate/mcpgate/internal/cli"
	"github.com/mcpgate/mcpgate/internal/client"
	"github.com/mcpgate/mcpgate/internal/config"
	"github.com/mcpgate/mcpgate/internal/demo"
	"github.com/mcpgate/mcpgate/internal/testutil"
)

// upstream serves the demo weather MCP server on loopback and returns its URL.
func upstream(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: demo.Weather(nil)}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String() + "/mcp"
}

// serve runs `mcpgate serve --config FILE` in-process through the CLI, on a port chosen
// first so that the config's publicURL matches it. It returns the base URL.
func serve(t *testing.T, yaml string, env map[string]string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	base := "http://" + addr
	dir := t.TempDir()
	yaml = strings.ReplaceAll(yaml, "$ADDR", addr)
	yaml = strings.ReplaceAll(yaml, "$DIR", dir)
	if !strings.Contains(yaml, "\nadmin:") && !strings.HasPrefix(yaml, "admin:") {
		yaml = "admin: {listen: 127.0.0.1:0, drainDelay: 0s}\n" + yaml // parallel tests: no fixed port, no drain wait
	}
	file := filepath.Join(dir, "mcpgate.yaml")
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	for k, v := range env {
		t.Setenv(k, v)
	}
	ctx, cancel := context.WithCancel(context.Background())
	root := cli.NewRoot(strings.NewReader(""), io.Discard, io.Discard)
	root.SetArgs([]string{"serve", "--config", file})
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve returned %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("serve did not stop within 15s of its context ending")
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-done:
			t.Fatalf("serve exited early: %v", err)
		default:
		}
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return base
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("serve did not start listening")
	return ""
}

func TestServeWithOwnAuthorizationServer(t *testing.T) {
	up := upstream(t)
	hash, err := authserver.HashPassword("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	base := serve(t, `
listen: $ADDR
publicURL: http://$ADDR
store: {sqlite: {path: $DIR/mcpgate.db}}
log: {level: warn}
authServer:
  allowInsecureHTTP: true
  users:
    - {username: carol, email: carol@example.com, passwordHash: "${CAROL_HASH}", groups: [ops]}
routes:
  - name: weather
    path: /weather/mcp
    upstream: {url: `+up+`}
    auth: {scopes: [weather.read]}
`, map[string]string{"CAROL_HASH": hash})
	mcpURL := base + "/weather/mcp"

	// What an MCP client sees first: 401 with the metadata URL and the scope to ask for.
	resp, err := http.Post(mcpURL, "application/json", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"ping"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	wantChallenge := `Bearer resource_metadata="` + base + `/.well-known/oauth-protected-resource/weather/mcp", scope="weather.read"`
	if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") != wantChallenge {
		t.Fatalf("challenge = %d %q, want 401 %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), wantChallenge)
	}
	var prm struct {
		Resource             string   `json:"resource"`
		AuthorizationServers []string `json:"authorization_servers"`
	}
	getJSON(t, base+"/.well-known/oauth-protected-resource/weather/mcp", &prm)
	if prm.Resource != mcpURL || len(prm.AuthorizationServers) != 1 || prm.AuthorizationServers[0] != base {
		t.Fatalf("PRM = %+v", prm)
	}

	// A real MCP client signs in (DCR, login, consent, PKCE, resource) and calls a tool.
	person := &testutil.Person{Username: "carol", Password: "correct horse"}
	c, err := client.New(client.Options{ServerURL: mcpURL, CacheDir: t.TempDir(), Prompt: io.Discard,
		OpenURL: func(ctx context.Context, u string) error { _, err := person.Authorize(ctx, u); return err }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "t", Version: "1"}, nil).Connect(ctx,
		&mcp.StreamableClientTransport{Endpoint: mcpURL, HTTPClient: c.HTTPClient()}, nil)
	if err != nil {
		t.Fatalf("connect: %v (visited %v)", err, person.Seen)
	}
	defer cs.Close()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "get_forecast", Arguments: map[string]any{"city": "Oslo"}})
	if err != nil || res.IsError {
		t.Fatalf("get_forecast: %v", err)
	}
	tok, err := c.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	claims := decodeClaims(t, tok.AccessToken)
	if claims["aud"] != mcpURL && !containsAny(claims["aud"], mcpURL) {
		t.Errorf("token audience = %v, want the route URL %s", claims["aud"], mcpURL)
	}
	if claims["email"] != "carol@example.com" || !strings.Contains(fmt.Sprint(claims["scope"]), "weather.read") {
		t.Errorf("token claims = %v", claims)
	}
}

// TestServeWithEntraProfile serves the Entra profile and a route that accepts its tokens
// through the gateway's Entra preset, all from one configuration file.
func TestServeWithEntraProfile(t *testing.T) {
	up := upstream(t)
	const tenant = "7a1e5f00-0000-4000-8000-00000000c0de"
	base := serve(t, `
listen: $ADDR
publicURL: http://$ADDR
log: {level: warn}
entra:
  tenants:
    - id: `+tenant+`
      domains: [contoso.onmicrosoft.com]
      adminConsent: [Weather Daemon]
  apps:
    - name: Weather MCP API
      clientId: 6e5d1a7a-0000-4000-8000-0000000000a1
      identifierUris: [api://weather-mcp]
      accessTokenAcceptedVersion: 2
      appRoles:
        - {value: Forecast.Read, allowedMemberTypes: [Application]}
    - name: Weather Daemon
      clientId: 0c11e470-0000-4000-8000-0000000000d1
      secrets: [{value: "${DAEMON_SECRET}"}]
      requiredResourceAccess:
        - {resource: api://weather-mcp, roles: [Forecast.Read]}
issuers:
  - name: contoso
    entra:
      tenant: `+tenant+`
      clientId: 6e5d1a7a-0000-4000-8000-0000000000a1
      appIdUri: api://weather-mcp
      authority: http://$ADDR/entra
      versions: [2]
routes:
  - name: weather
    path: /weather/mcp
    upstream: {url: `+up+`}
    auth: {issuers: [contoso]}
`, map[string]string{"DAEMON_SECRET": "s3cret-daemon-value"})

	// Client credentials at the Entra profile, exactly as a daemon would do against Entra.
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {"0c11e470-0000-4000-8000-0000000000d1"},
		"client_secret": {"s3cret-daemon-value"}, "scope": {"api://weather-mcp/.default"}}
	resp, err := http.PostForm(base+"/entra/"+tenant+"/oauth2/v2.0/token", form)
	if err != nil {
		t.Fatal(err)
	}
	var tr struct {
		AccessToken string `json:"access_token"`
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	json.NewDecoder(resp.Body).Decode(&tr)
	resp.Body.Close()
	if tr.AccessToken == "" {
		t.Fatalf("no token from the Entra profile: %s %s", tr.Error, tr.Description)
	}
	claims := decodeClaims(t, tr.AccessToken)
	if claims["iss"] != "http://"+strings.TrimPrefix(base, "http://")+"/entra/"+tenant+"/v2.0" || claims["ver"] != "2.0" {
		t.Fatalf("unexpected v2 token: iss=%v ver=%v", claims["iss"], claims["ver"])
	}

	// The gateway accepts it (its preset fetched the profile's keys over HTTP)...
	call := func(token string) *http.Response {
		req, _ := http.NewRequest(http.MethodPost, base+"/weather/mcp", strings.NewReader(
			`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	var r *http.Response
	for i := 0; i < 50; i++ { // the key set loads in the background at start
		r = call(tr.AccessToken)
		if r.StatusCode != http.StatusServiceUnavailable {
			break
		}
		r.Body.Close()
		time.Sleep(100 * time.Millisecond)
	}
	body, _ := io.ReadAll(r.Body)
	r.Body.Close()
	if r.StatusCode != http.StatusOK || !strings.Contains(string(body), "serverInfo") {
		t.Fatalf("initialize with an Entra token: %d %s", r.StatusCode, body)
	}
	// ...and refuses a token signed by the profile for another audience, saying why.
	form.Set("scope", "https://graph.microsoft.com/.default")
	resp, err = http.PostForm(base+"/entra/"+tenant+"/oauth2/v2.0/token", form)
	if err != nil {
		t.Fatal(err)
	}
	var graph struct {
		AccessToken string `json:"access_token"`
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	json.NewDecoder(resp.Body).Decode(&graph)
	resp.Body.Close()
	if graph.AccessToken == "" {
		t.Fatalf("no Graph token from the Entra profile: %s %s", graph.Error, graph.Description)
	}
	r = call(graph.AccessToken)
	r.Body.Close()
	if wa := r.Header.Get("WWW-Authenticate"); r.StatusCode != http.StatusUnauthorized || !strings.Contains(wa, `error="invalid_token"`) || !strings.Contains(wa, "error_description=") {
		t.Fatalf("a Graph token must be refused with a reason: %d %q", r.StatusCode, wa)
	}
}

func TestBaseURL(t *testing.T) {
	tests := []struct {
		cfg  config.Config
		want string
	}{
		{config.Config{Listen: "127.0.0.1:8080"}, "http://127.0.0.1:8080"},
		{config.Config{Listen: ":8443", TLS: &config.TLS{}}, "https://127.0.0.1:8443"},
		{config.Config{Listen: "0.0.0.0:80"}, "http://127.0.0.1:80"},
		{config.Config{Listen: "[::1]:9000"}, "http://[::1]:9000"},
		{config.Config{Listen: ":8080", PublicURL: "https://mcp.example.com/"}, "https://mcp.example.com"},
	}
	for _, tt := range tests {
		if got := tt.cfg.BaseURL(); got != tt.want {
			t.Errorf("BaseURL(%+v) = %q, want %q", tt.cfg, got, tt.want)
		}
	}
}

func getJSON(t *testing.T, u string, v any) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %d %s", u, resp.StatusCode, b)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}

func decodeClaims(t *testing.T, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT")
	}
	b, err := decodeSegment(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func containsAny(v any, s string) bool {
	arr, ok := v.([]any)
	if !ok {
		return false
	}
	for _, x := range arr {
		if x == s {
			return true
		}
	}
	return false
}

// gcPercent reads GOGC as the runtime has it now.
func gcPercent() int {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return p
}

// TestServeSetsGCFloor: `mcpgate serve` raises the collector's heap floor while it serves
// (runtime.gcMinHeap) and puts the pacing back when it stops; 0 leaves it alone.
func TestServeSetsGCFloor(t *testing.T) {
	if v, ok := os.LookupEnv("GOGC"); ok { // GOGC in the environment turns the floor off
		os.Unsetenv("GOGC")
		t.Cleanup(func() { os.Setenv("GOGC", v) })
	}
	before := gcPercent()
	up := upstream(t)
	cfg := func(extra string) string {
		return `
listen: $ADDR
publicURL: http://$ADDR
log: {level: warn}
store: {sqlite: {path: $DIR/mcpgate.db}}
authServer: {allowInsecureHTTP: true}
` + extra + `
routes:
  - name: weather
    path: /weather/mcp
    upstream: {url: ` + up + `}
`
	}
	waitFor := func(t *testing.T, what string, ok func(int) bool) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for !ok(gcPercent()) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: GOGC is %d", what, gcPercent())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	// A floor well above this test process's heap (tens of MB: the authorization server
	// and SQLite), so that it must raise GOGC.
	t.Run("a floor", func(t *testing.T) {
		serve(t, cfg("runtime: {gcMinHeap: 2GiB}"), nil)
		waitFor(t, "while serving with a 2GiB floor", func(p int) bool { return p > before })
	})
	waitFor(t, "after serve stopped", func(p int) bool { return p == before })
	t.Run("floor off", func(t *testing.T) {
		serve(t, cfg("runtime: {gcMinHeap: 0}"), nil)
		time.Sleep(100 * time.Millisecond)
		if got := gcPercent(); got != before {
			t.Fatalf("with gcMinHeap 0, GOGC = %d, want %d untouched", got, before)
		}
	})
}
