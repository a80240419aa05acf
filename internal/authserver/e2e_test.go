package authserver

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
)

// TestMCPClientFlow is the done-when flow with the official go-sdk client: 401 → PRM →
// AS metadata → DCR → authorize (login + consent over HTTP) → code + PKCE → token →
// tools/call; then refresh rotation with the old refresh token refused.
func TestMCPClientFlow(t *testing.T) {
	env := newTestEnv(t, nil)
	ctx := context.Background()
	redirect := "http://127.0.0.1:5555/callback"
	b := env.browser(redirect)
	var authURLs []string
	h, err := auth.NewAuthorizationCodeHandler(&auth.AuthorizationCodeHandlerConfig{
		DynamicClientRegistrationConfig: &auth.DynamicClientRegistrationConfig{Metadata: &oauthex.ClientRegistrationMetadata{
			RedirectURIs: []string{redirect}, ClientName: "go-sdk e2e", GrantTypes: []string{"authorization_code", "refresh_token"},
			TokenEndpointAuthMethod: "none",
		}},
		RedirectURL:         redirect,
		RequestRefreshToken: true,
		AuthorizationCodeFetcher: func(ctx context.Context, args *auth.AuthorizationArgs) (*auth.AuthorizationResult, error) {
			authURLs = append(authURLs, args.URL)
			loc := b.signIn(args.URL, "alice", testPassword, true)
			return &auth.AuthorizationResult{Code: loc.Query().Get("code"), State: loc.Query().Get("state"), Iss: loc.Query().Get("iss")}, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	client := mcp.NewClient(&mcp.Implementation{Name: "e2e", Version: "1"}, nil)
	sess, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: env.resource, OAuthHandler: h, DisableStandaloneSSE: true}, nil)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer sess.Close()
	res, err := sess.CallTool(ctx, &mcp.CallToolParams{Name: "whoami"})
	if err != nil {
		t.Fatalf("tools/call: %v", err)
	}
	text := res.Content[0].(*mcp.TextContent).Text
	if !strings.Contains(text, "hello u-alice (alice@example.com)") {
		t.Fatalf("tool result = %q", text)
	}
	if len(authURLs) != 1 {
		t.Fatalf("authorization ran %d times, want 1", len(authURLs))
	}
	au, _ := url.Parse(authURLs[0])
	if got := au.Query().Get("resource"); got != env.resource {
		t.Fatalf("client sent resource %q, want %q", got, env.resource)
	}
	if au.Query().Get("code_challenge_method") != "S256" {
		t.Fatalf("client did not use S256: %s", au)
	}

	ts, err := h.TokenSource(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := ts.Token()
	if err != nil {
		t.Fatal(err)
	}
	if tok.RefreshToken == "" {
		t.Fatal("no refresh token issued")
	}
	claims, _, err := env.as.VerifyAccessToken(ctx, tok.AccessToken, env.resource)
	if err != nil {
		t.Fatal(err)
	}
	if claims.Subject != "u-alice" || claims.Email != "alice@example.com" || claims.Name != "Alice Liddell" ||
		strings.Join(claims.Groups, ",") != "eng,admins" || !strings.Contains(claims.Scope, "mcp:tools") || claims.ClientID == "" ||
		claims.ID == "" || claims.Issuer != env.issuer || strings.Join(claims.Audience, ",") != env.resource {
		t.Fatalf("access token claims = %+v", claims)
	}

	// Refresh: rotated; the old refresh token is refused and revokes the family.
	refresh := func(rt string) tokenResponse {
		return env.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {claims.ClientID}, "resource": {env.resource}}, "", "")
	}
	r1 := refresh(tok.RefreshToken)
	if r1.status != 200 || r1.AccessToken == "" || r1.RefreshToken == "" || r1.RefreshToken == tok.RefreshToken {
		t.Fatalf("refresh: %+v", r1)
	}
	if _, _, err := env.as.VerifyAccessToken(ctx, r1.AccessToken, env.resource); err != nil {
		t.Fatalf("refreshed access token: %v", err)
	}
	old := refresh(tok.RefreshToken)
	if old.status != 400 || old.Error != "invalid_grant" {
		t.Fatalf("old refresh token: %+v", old)
	}
	// The replay revoked the family: the newest refresh token is dead too.
	if r2 := refresh(r1.RefreshToken); r2.Error != "invalid_grant" {
		t.Fatalf("refresh after replay: %+v", r2)
	}
}
