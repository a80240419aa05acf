package doctor_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mcpgate/mcpgate/internal/app"
	"github.com/mcpgate/mcpgate/internal/authserver"
	"github.com/mcpgate/mcpgate/internal/config"
	"github.com/mcpgate/mcpgate/internal/demo"
	"github.com/mcpgate/mcpgate/internal/doctor"
)

// upstream serves the demo weather MCP server on loopback.
func upstream(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(demo.Weather(nil))
	t.Cleanup(srv.Close)
	return srv.URL + "/mcp"
}

// gateway is an mcpgate assembled from a configuration file, served on loopback.
type gateway struct {
	Base string // http://127.0.0.1:PORT
	File string // the configuration file
}

// startGateway writes yaml (with $ADDR, $DIR and $UP replaced) to a file, loads it with the
// loader mcpgate serve uses, and serves the assembled app.
func startGateway(t *testing.T, yaml string) *gateway {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	dir := t.TempDir()
	_, port, _ := net.SplitHostPort(addr)
	yaml = strings.NewReplacer("$ADDR", addr, "$PORT", port, "$DIR", dir, "$UP", upstream(t)).Replace(yaml)
	file := filepath.Join(dir, "mcpgate.yaml")
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, _, err := config.Load(file)
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.New(ctx, cfg, app.Options{})
	if err != nil {
		cancel()
		t.Fatalf("app: %v", err)
	}
	srv := &http.Server{Handler: a.Handler()}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close(); cancel(); a.Close() })
	return &gateway{Base: "http://" + addr, File: file}
}

// ownAS is a gateway with mcpgate's own authorization server and one user, carol.
const ownAS = `
listen: $ADDR
publicURL: $PUBLIC
store: {sqlite: {path: $DIR/mcpgate.db}}
log: {level: error}
authServer:
  allowInsecureHTTP: true
  users:
    - {username: carol, email: carol@example.com, passwordHash: "$HASH", groups: [ops]}
routes:
  - name: weather
    path: /weather/mcp
    upstream: {url: $UP}
    auth: {scopes: [weather.read]}
  - name: calendar
    path: /calendar/mcp
    upstream: {url: $UP}
  - name: forecasts
    path: /forecasts/mcp
    upstream: {url: $UP}
    policy:
      explainHidden: true
      rules:
        - {name: forecasts-for-admins, deny: 'mcp.tool == "get_forecast" && !("admins" in user.groups)', description: forecasts are for administrators}
        - {name: everyone, allow: "true"}
`

var carolHash string

func ownASConfig(t *testing.T, public string) string {
	t.Helper()
	if carolHash == "" {
		h, err := authserver.HashPassword("correct horse")
		if err != nil {
			t.Fatal(err)
		}
		carolHash = h
	}
	return strings.NewReplacer("$PUBLIC", public, "$HASH", carolHash).Replace(ownAS)
}

// fakeServer is a small MCP server with hand-written metadata: it answers every POST to
// /mcp with 401 and the given challenge, and serves docs at their paths.
func fakeServer(t *testing.T, challenge func(base string) string, docs func(base string) map[string]any) string {
	t.Helper()
	var base string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/mcp" {
			if c := challenge(base); c != "" {
				w.Header().Set("WWW-Authenticate", c)
			}
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		doc, ok := docs(base)[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(doc)
	}))
	t.Cleanup(srv.Close)
	base = srv.URL
	return base
}

// asMetadata is RFC 8414 metadata for issuer base, edited by edit.
func asMetadata(base string, edit func(m map[string]any)) map[string]any {
	m := map[string]any{
		"issuer":                           base,
		"authorization_endpoint":           base + "/authorize",
		"token_endpoint":                   base + "/token",
		"registration_endpoint":            base + "/register",
		"jwks_uri":                         base + "/keys",
		"code_challenge_methods_supported": []string{"S256"},
		"response_types_supported":         []string{"code"},
	}
	if edit != nil {
		edit(m)
	}
	return m
}

func prmDoc(resource, as string) map[string]any {
	return map[string]any{"resource": resource, "authorization_servers": []string{as}, "scopes_supported": []string{"mcp.read"}}
}

// expect checks that step id has status want, and that no other step failed (nor warned,
// unless listed in alsoWarn).
func expect(t *testing.T, r *doctor.Report, id string, want doctor.Status, alsoWarn ...string) {
	t.Helper()
	s := r.Step(id)
	if s == nil {
		t.Fatalf("no step %s in %s", id, dump(r))
	}
	if s.Status != want {
		t.Errorf("step %s = %s, want %s\n%s", id, s.Status, want, dump(r))
	}
	if want != doctor.StatusOK && (s.Finding == "" || s.Fix == "") {
		t.Errorf("step %s has no finding or fix: %+v", id, *s)
	}
	for _, o := range r.Steps {
		if o.ID == id {
			continue
		}
		if o.Status == doctor.StatusFail {
			t.Errorf("step %s failed too: %s\n%s", o.ID, o.Finding, dump(r))
		}
		if o.Status == doctor.StatusWarn && !contains(alsoWarn, o.ID) {
			t.Errorf("step %s warned too: %s", o.ID, o.Finding)
		}
	}
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func dump(r *doctor.Report) string {
	var b strings.Builder
	r.WriteText(&b)
	return b.String()
}

const (
	tenantID  = "7a1e5f00-0000-4000-8000-00000000c0de"
	apiID     = "6e5d1a7a-0000-4000-8000-0000000000a1"
	cliID     = "0c11e470-0000-4000-8000-0000000000c1"
	aliceUPN  = "alice@contoso.onmicrosoft.com"
	alicePass = "alice-password"
)

// entraGateway is mcpgate serving the Entra ID emulator under /entra and a weather route
// that accepts its tokens. extraIssuers is appended under issuers:, and routeIssuer (default
// contoso, the entra: preset) is the issuer the route trusts; routeAuth is added to its auth.
func entraGateway(extraIssuers, routeIssuer string, routeAuth ...string) string {
	if routeIssuer == "" {
		routeIssuer = "contoso"
	}
	auth := "issuers: [" + routeIssuer + "]"
	for _, a := range routeAuth {
		auth += ", " + a
	}
	return entraHead + `
issuers:
  - name: contoso
    entra:
      tenant: ` + tenantID + `
      clientId: ` + apiID + `
      appIdUri: api://weather-mcp
      authority: http://$ADDR/entra
      versions: [2]` + extraIssuers + `
routes:
  - name: weather
    path: /weather/mcp
    upstream: {url: $UP}
    auth: {` + auth + `}
`
}

// entraHead serves the Entra ID emulator under /entra with one tenant, an API app (v2
// tokens) and a public client, both consented by the administrator.
const entraHead = `
listen: $ADDR
publicURL: http://$ADDR
log: {level: error}
entra:
  tenants:
    - id: ` + tenantID + `
      domains: [contoso.onmicrosoft.com]
      users:
        - {objectId: 4b1d9c1e-0000-4000-8000-00000000a11c, userPrincipalName: ` + aliceUPN + `, displayName: Alice, password: ` + alicePass + `}
      adminConsent: [Weather CLI, Weather MCP API]
  apps:
    - name: Weather MCP API
      clientId: ` + apiID + `
      identifierUris: [api://weather-mcp]
      accessTokenAcceptedVersion: 2
      scopes:
        - {value: access_as_user}
    - name: Weather CLI
      clientId: ` + cliID + `
      publicClient: true
      redirectUris: [http://localhost]
      requiredResourceAccess:
        - {resource: api://weather-mcp, scopes: [access_as_user]}
`
