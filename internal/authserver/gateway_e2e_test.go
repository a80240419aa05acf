package authserver

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"

	"github.com/mcpgate/mcpgate/internal/gateway"
	"github.com/mcpgate/mcpgate/internal/store"
)

// TestGatewayFlow is issue 3's done-when test through the real gateway: gateway and
// authorization server on one listener (the AS as the gateway's fallback handler, tokens
// verified in-process with Server.Verifier), an upstream MCP server behind it, and the
// official go-sdk client doing 401 → PRM → AS metadata → DCR → authorize (login + consent
// over HTTP) → code + PKCE → token → tools/call; then refresh, and the old refresh token
// refused.
func TestGatewayFlow(t *testing.T) {
	ctx := context.Background()
	env := newGatewayEnv(t)
	resource, as := env.resource, env.as
	redirect := "http://127.0.0.1:5555/callback"
	b := env.browser(redirect)
	h, err := auth.NewAuthorizationCodeHandler(&auth.AuthorizationCodeHandlerConfig{
		DynamicClientRegistrationConfig: &auth.DynamicClientRegistrationConfig{Metadata: &oauthex.ClientRegistrationMetadata{
			RedirectURIs: []string{redirect}, ClientName: "go-sdk via gateway", GrantTypes: []string{"authorization_code", "refresh_token"},
			TokenEndpointAuthMethod: "none",
		}},
		RedirectURL:         redirect,
		RequestRefreshToken: true,
		AuthorizationCodeFetcher: func(ctx context.Context, args *auth.AuthorizationArgs) (*auth.AuthorizationResult, error) {
			loc := b.signIn(args.URL, "alice", testPassword, true)
			return &auth.AuthorizationResult{Code: loc.Query().Get("code"), State: loc.Query().Get("state"), Iss: loc.Query().Get("iss")}, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	sess, err := mcp.NewClient(&mcp.Implementation{Name: "e2e", Version: "1"}, nil).Connect(ctx,
		&mcp.StreamableClientTransport{Endpoint: resource, OAuthHandler: h, DisableStandaloneSSE: true}, nil)
	if err != nil {
		t.Fatalf("connect through the gateway: %v", err)
	}
	defer sess.Close()
	res, err := sess.CallTool(ctx, &mcp.CallToolParams{Name: "whoami"})
	if err != nil {
		t.Fatalf("tools/call: %v", err)
	}
	text := res.Content[0].(*mcp.TextContent).Text
	if !strings.Contains(text, "sub=u-alice email=alice@example.com") || strings.Contains(text, "Bearer") {
		t.Fatalf("upstream saw %q (want the identity headers and no passthrough token)", text)
	}

	ts, _ := h.TokenSource(ctx)
	tok, err := ts.Token()
	if err != nil || tok.RefreshToken == "" {
		t.Fatalf("token source: %v", err)
	}
	c, _, _ := as.VerifyAccessToken(ctx, tok.AccessToken, resource)
	refresh := func(rt string) tokenResponse {
		return env.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {c.ClientID}, "resource": {resource}}, "", "")
	}
	next := refresh(tok.RefreshToken)
	if next.status != 200 {
		t.Fatalf("refresh: %+v", next)
	}
	// The refreshed token works through the gateway.
	req, _ := http.NewRequest(http.MethodPost, resource, strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`))
	req.Header.Set("Authorization", "Bearer "+next.AccessToken)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("refreshed token through the gateway: %d", resp.StatusCode)
	}
	if r := refresh(tok.RefreshToken); r.status != 400 || r.Error != "invalid_grant" {
		t.Fatalf("old refresh token: %+v", r)
	}
}

// newGatewayEnv: the real gateway and the authorization server on one listener (the AS as
// the gateway's fallback handler, tokens verified in-process with Server.Verifier), and an
// upstream MCP server (official go-sdk) that reports the identity headers it receives.
func newGatewayEnv(t *testing.T) *testEnv { return newGatewayEnvWith(t, nil) }

// newGatewayEnvWith is newGatewayEnv with the authorization server's options changed by
// mutate (nil: none).
func newGatewayEnvWith(t *testing.T, mutate func(*Options)) *testEnv {
	ctx := context.Background()
	// Upstream MCP server: reports the identity headers the gateway sets.
	up := mcp.NewServer(&mcp.Implementation{Name: "upstream", Version: "1"}, nil)
	mcp.AddTool(up, &mcp.Tool{Name: "whoami"}, func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
		h := req.Extra.Header
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: fmt.Sprintf("sub=%s email=%s auth=%q", h.Get("X-User-Sub"), h.Get("X-User-Email"), h.Get("Authorization"))}}}, nil, nil
	})
	upstream := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return up }, nil))
	t.Cleanup(upstream.Close)

	var handler http.Handler
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handler.ServeHTTP(w, r) }))
	t.Cleanup(front.Close)
	resource := front.URL + "/weather/mcp"
	st := store.NewMemory()
	logger := slog.New(slog.NewTextHandler(t.Output(), nil))
	opts := Options{Issuer: front.URL, Store: st, Logger: logger, AllowInsecureHTTP: true,
		Resources: func() []string { return []string{resource} }, Scopes: []string{"mcp:tools"}}
	if mutate != nil {
		mutate(&opts)
	}
	as, err := New(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	env := &testEnv{t: t, srv: front, as: as, store: st, issuer: front.URL, resource: resource}
	env.addUser("alice", "Alice", "alice@example.com", []string{"eng"})
	gw, err := gateway.New(gateway.Options{
		Logger:   logger,
		Fallback: as.Handler(),
		Routes: []gateway.RouteOptions{{
			Name: "weather", Path: "/weather/mcp", Upstream: upstream.URL,
			Verifier: as.Verifier(resource), Scopes: []string{"mcp:tools"}, AuthorizationServers: []string{as.Issuer()},
			Identity: gateway.IdentityHeaders{Subject: "X-User-Sub", Email: "X-User-Email"},
		}},
	})
	if err != nil {
		t.Fatalf("gateway: %v", err)
	}
	handler = gw.Handler()

	return env
}
