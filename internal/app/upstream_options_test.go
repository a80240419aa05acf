package app

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/mcpgate/mcpgate/internal/authn"
	"github.com/mcpgate/mcpgate/internal/config"
	"github.com/mcpgate/mcpgate/internal/metrics"
	"github.com/mcpgate/mcpgate/internal/store"
	"github.com/mcpgate/mcpgate/internal/upstream"
)

const upstreamCallerToken = "eyJ.caller-user-token.sig"

var callerReq = upstream.Request{Principal: &authn.Principal{Subject: "alice", TokenHash: authn.HashToken(upstreamCallerToken)}, Token: upstreamCallerToken, Route: "weather"}

// tokenServer answers every token request with access token tok.
func tokenServer(t *testing.T, tok string) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"token_type": "Bearer", "access_token": tok, "expires_in": 3600, "ext_expires_in": 3600, "scope": "api://weather/.default"})
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestBuildFromConfig: upstreamCredentials and upstreamAuth sections, mapped by
// UpstreamOptions, build a provider per route (moved from internal/upstream with the
// mapping).
func TestBuildFromConfig(t *testing.T) {
	ts := tokenServer(t, "tok")
	key := make([]byte, 32)
	rand.Read(key)
	t.Setenv("TEST_UPSTREAM_KEYS", "k1:"+base64.StdEncoding.EncodeToString(key))
	doc := `
publicURL: https://mcp.example.com
issuers: [{name: idp, issuer: https://idp.example.com}]
upstreamCredentials:
  secrets: {keysEnv: TEST_UPSTREAM_KEYS}
  connections:
    - {name: gh, authorizeURL: https://gh.example/authorize, tokenURL: https://gh.example/token, clientId: c, clientSecret: s, scopes: [repo]}
routes:
  - {name: obo, path: /obo/mcp, upstream: {url: http://127.0.0.1:1/mcp}, auth: {issuers: [idp]}, upstreamAuth: {obo: {tokenURL: "` + ts.URL + `", clientId: app, clientSecret: s, scope: api://w/.default}}}
  - {name: te, path: /te/mcp, upstream: {url: http://127.0.0.1:1/mcp}, auth: {issuers: [idp]}, upstreamAuth: {tokenExchange: {tokenURL: "` + ts.URL + `", audience: a}}}
  - {name: jwt, path: /jwt/mcp, upstream: {url: http://127.0.0.1:1/mcp}, auth: {issuers: [idp]}, upstreamAuth: {gatewayJWT: {}}}
  - {name: st, path: /st/mcp, upstream: {url: http://127.0.0.1:1/mcp}, auth: {issuers: [idp]}, upstreamAuth: {static: {value: k, header: X-Key}}}
  - {name: conn, path: /conn/mcp, upstream: {url: http://127.0.0.1:1/mcp}, auth: {issuers: [idp]}, upstreamAuth: {connection: {provider: gh}}}
  - {name: none, path: /none/mcp, upstream: {url: http://127.0.0.1:1/mcp}, auth: {issuers: [idp]}}
`
	cfg, _, err := config.Parse("t.yaml", []byte(doc), func(k string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	set, err := upstream.Build(UpstreamOptions(cfg), upstream.BuildOptions{Store: store.NewMemory(), CurrentUser: func(*http.Request) (string, bool) { return "alice", true }, Logger: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	for route, mode := range map[string]string{"obo": "obo", "te": "tokenExchange", "jwt": "gatewayJWT", "st": "static", "conn": "connection"} {
		if _, ok := set.For(route); !ok || set.Mode(route) != mode {
			t.Errorf("route %s: provider missing or mode %q", route, set.Mode(route))
		}
	}
	if _, ok := set.For("none"); ok {
		t.Error("route without upstreamAuth got a provider")
	}
	p, _ := set.For("obo")
	if c, err := p.Credential(context.Background(), callerReq); err != nil || c.Header.Get("Authorization") != "Bearer tok" {
		t.Fatalf("obo: %v", err)
	}
	p, _ = set.For("te") // the token server gives no issued_token_type
	if _, err := p.Credential(context.Background(), callerReq); upstream.Reason(err) != upstream.ReasonInvalidResponse {
		t.Fatalf("te: %v", err)
	}
	p, _ = set.For("conn")
	_, err = p.Credential(context.Background(), callerReq)
	if nua, ok := err.(*upstream.NeedsUserAction); !ok || nua.URL != "https://mcp.example.com/connections/gh/connect" {
		t.Fatalf("conn: %v", err)
	}
	mux := http.NewServeMux()
	set.Mount(mux)
	for path, want := range map[string]string{"/.well-known/mcpgate-upstream-jwks.json": `"keys"`, "/connections/": "My connections"} {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != 200 || !strings.Contains(rec.Body.String(), want) {
			t.Errorf("GET %s = %d %s", path, rec.Code, rec.Body.String())
		}
	}
	// Each credential request is counted: mode, result, and whether the cache answered.
	m := metrics.New()
	observed, err := upstream.Build(UpstreamOptions(cfg), upstream.BuildOptions{Store: store.NewMemory(), Observer: m,
		CurrentUser: func(*http.Request) (string, bool) { return "alice", true }})
	if err != nil {
		t.Fatal(err)
	}
	in := httptest.NewRequest(http.MethodPost, "/obo/mcp", nil)
	in.Header.Set("Authorization", "Bearer "+upstreamCallerToken)
	for _, route := range []string{"obo", "obo", "te", "conn"} {
		rc, _ := observed.Gateway(route)
		_, _ = rc.UpstreamHeaders(context.Background(), callerReq.Principal, in)
	}
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	for _, want := range []string{
		`mcpgate_upstream_credentials_total{cache="miss",mode="obo",result="ok",route="obo"} 1`,
		`mcpgate_upstream_credentials_total{cache="hit",mode="obo",result="ok",route="obo"} 1`,
		`mcpgate_upstream_credentials_total{cache="miss",mode="tokenExchange",result="invalid_response",route="te"} 1`,
		`mcpgate_upstream_credentials_total{cache="miss",mode="connection",result="connection_missing",route="conn"} 1`,
	} {
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	// Connections without keys fail at startup with a clear message.
	t.Setenv("TEST_UPSTREAM_KEYS", "")
	if _, err := upstream.Build(UpstreamOptions(cfg), upstream.BuildOptions{Store: store.NewMemory()}); err == nil || !strings.Contains(err.Error(), "TEST_UPSTREAM_KEYS") {
		t.Fatalf("missing keys: %v", err)
	}
}

// A connection discovered from its MCP server, with its metadata hosts and groups, is
// mapped onto the upstream options as configured.
func TestUpstreamOptionsDiscoveredConnection(t *testing.T) {
	cfg, _, err := config.Parse("t.yaml", []byte(`
publicURL: https://mcp.example.com
issuers: [{name: idp, issuer: https://idp.example.com}]
upstreamCredentials:
  connections:
    - {name: notes, mcpServer: https://mcp.notes.example/mcp, metadataHosts: [mcp.notes.example, auth.notes.example], offerTo: [eng, ops], requiredFor: [ops]}
routes:
  - name: work
    path: /work/mcp
    auth: {issuers: [idp]}
    upstreams: [{name: notes, url: https://mcp.notes.example/mcp, upstreamAuth: {connection: {provider: notes}}}]
`), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	o := UpstreamOptions(cfg)
	if len(o.Connections) != 1 {
		t.Fatalf("connections = %+v", o.Connections)
	}
	c := o.Connections[0]
	if c.MCPServer != "https://mcp.notes.example/mcp" || strings.Join(c.MetadataHosts, ",") != "mcp.notes.example,auth.notes.example" ||
		strings.Join(c.OfferTo, ",") != "eng,ops" || strings.Join(c.RequiredFor, ",") != "ops" {
		t.Fatalf("connection = %+v", c)
	}
	if len(o.Routes) != 1 || o.Routes[0].Route != "work/notes" || o.Routes[0].Connection != "notes" {
		t.Fatalf("routes = %+v", o.Routes)
	}
}
