package authserver

import (
	"context"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/mcpgate/mcpgate/internal/store"
)

const idpAgentSecret = "idp-agent-secret-0123456789"

// newEmbeddedIdP is a testEnv whose server also acts as an enterprise IdP: client agent
// (confidential, token exchange) may get ID-JAGs for rasIssuer / rasResource.
func newEmbeddedIdP(t *testing.T, logs *logBuffer) *testEnv {
	return newTestEnv(t, func(o *Options) {
		if logs != nil {
			o.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		}
		o.Clients = append(o.Clients,
			StaticClient{ID: "agent", Secret: idpAgentSecret, RedirectURIs: []string{"http://127.0.0.1:5555/callback"},
				GrantTypes: []string{"authorization_code", "refresh_token", string(oidc.GrantTypeTokenExchange)}, Trusted: true},
			StaticClient{ID: "plain", Secret: "plain-secret-0123456789", RedirectURIs: []string{"http://127.0.0.1:5555/callback"},
				GrantTypes: []string{"authorization_code", "refresh_token", string(oidc.GrantTypeTokenExchange)}, Trusted: true})
		o.IDJAG = &IDJAGIssuance{Claims: []string{"email", "groups"}, Grants: []IDJAGGrant{
			{Client: "agent", Audience: rasIssuer, Resources: []string{rasResource}, Scopes: []string{"mcp:tools"}},
		}}
	})
}

// signInAgent signs alice in at the IdP with client agent and returns the token response
// (ID token and refresh token).
func (e *testEnv) signInAgent(client, secret string) tokenResponse {
	e.t.Helper()
	redirect := "http://127.0.0.1:5555/callback"
	p := newPKCE()
	loc := e.browser(redirect).signIn(e.authorizeURL(client, redirect, p, url.Values{"scope": {"openid email offline_access"}, "resource": nil}), "alice", testPassword, true)
	tr := e.token(url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")}, "redirect_uri": {redirect},
		"code_verifier": {p.verifier}}, client, secret)
	if tr.status != 200 || tr.IDToken == "" {
		e.t.Fatalf("sign-in at the IdP: %+v", tr)
	}
	return tr
}

func idjagExchange(subject, subjectType, audience, resource, scope string) url.Values {
	f := url.Values{"grant_type": {string(oidc.GrantTypeTokenExchange)}, "requested_token_type": {TokenTypeIDJAG},
		"subject_token": {subject}, "subject_token_type": {subjectType}, "audience": {audience}}
	if resource != "" {
		f.Set("resource", resource)
	}
	if scope != "" {
		f.Set("scope", scope)
	}
	return f
}

// TestIDJAGIssueAndExchange: the embedded IdP exchanges alice's ID token (and her refresh
// token) for an ID-JAG with the profile's claims; a resource AS that trusts it (keys by
// OpenID Connect discovery) exchanges the ID-JAG for an access token for the resource.
func TestIDJAGIssueAndExchange(t *testing.T) {
	idp := newEmbeddedIdP(t, nil)
	tr := idp.signInAgent("agent", idpAgentSecret)

	resp := idp.token(idjagExchange(tr.IDToken, TokenTypeIDToken, rasIssuer, rasResource, "mcp:tools openid"), "agent", idpAgentSecret)
	if resp.status != 200 || resp.Scope != "mcp:tools" {
		t.Fatalf("ID-JAG by ID token: %+v", resp)
	}
	c := jwtClaims(t, resp.AccessToken)
	for k, want := range map[string]any{"iss": idp.issuer, "sub": "u-alice", "aud": rasIssuer, "client_id": "agent", "resource": rasResource,
		"scope": "mcp:tools", "email": "alice@example.com"} {
		if c[k] != want {
			t.Errorf("ID-JAG %s = %v, want %v", k, c[k], want)
		}
	}
	if c["jti"] == "" || c["exp"] == nil || c["iat"] == nil || c["name"] != nil {
		t.Errorf("ID-JAG claims = %v", c)
	}

	// The resource AS trusts the embedded IdP through discovery.
	st := store.NewMemory()
	ras, err := New(context.Background(), Options{Issuer: rasIssuer, Store: st, Logger: slog.New(slog.NewTextHandler(t.Output(), nil)),
		Resources: func() []string { return []string{rasResource} }, Scopes: []string{"mcp:tools"},
		Clients:        []StaticClient{{ID: "agent", Secret: agentSecret, GrantTypes: []string{GrantTypeJWTBearer}}},
		EnterpriseIdPs: []EnterpriseIdP{{Name: "corp", Issuer: idp.issuer, Algorithms: []string{"ES256"}}}})
	if err != nil {
		t.Fatal(err)
	}
	code, body := postForm(ras.Handler(), PathToken, jwtBearer(resp.AccessToken, nil), "agent", agentSecret)
	if code != 200 {
		t.Fatalf("jwt-bearer at the resource AS: %d %v", code, body)
	}
	ac, _, err := ras.VerifyAccessToken(context.Background(), body["access_token"].(string), rasResource)
	if err != nil || ac.Subject != "corp:u-alice" || !slices.Equal(ac.Groups, []string{"eng", "admins"}) || ac.Scope != "mcp:tools" {
		t.Fatalf("access token: %+v %v", ac, err)
	}

	// The refresh token works as the subject too (without rotating it).
	resp = idp.token(idjagExchange(tr.RefreshToken, TokenTypeRefreshToken, rasIssuer, rasResource, ""), "agent", idpAgentSecret)
	if resp.status != 200 || jwtClaims(t, resp.AccessToken)["sub"] != "u-alice" {
		t.Fatalf("ID-JAG by refresh token: %+v", resp)
	}
	if r := idp.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tr.RefreshToken}}, "agent", idpAgentSecret); r.status != 200 {
		t.Fatalf("the refresh token was consumed by the exchange: %+v", r)
	}
}

// TestIDJAGIssueRefusals: the IdP refuses unmapped (audience, resource) pairs, other
// clients, unauthenticated clients and bad subject tokens, and never logs a token.
func TestIDJAGIssueRefusals(t *testing.T) {
	logs := &logBuffer{t: t}
	idp := newEmbeddedIdP(t, logs)
	tr := idp.signInAgent("agent", idpAgentSecret)
	plain := idp.signInAgent("plain", "plain-secret-0123456789")
	// An access token, not an ID token.
	at := idp.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tr.RefreshToken}}, "agent", idpAgentSecret)
	if at.status != 200 {
		t.Fatalf("refresh: %+v", at)
	}
	tests := []struct {
		name         string
		form         func() url.Values
		user, secret string
		status       int
		err          string
	}{
		{"unmapped audience", func() url.Values {
			return idjagExchange(tr.IDToken, TokenTypeIDToken, "https://other-as.example", rasResource, "")
		}, "agent", idpAgentSecret, 400, "invalid_target"},
		{"unmapped resource", func() url.Values {
			return idjagExchange(tr.IDToken, TokenTypeIDToken, rasIssuer, rasIssuer+"/other/mcp", "")
		}, "agent", idpAgentSecret, 400, "invalid_target"},
		{"no resource where the grant lists resources", func() url.Values {
			return idjagExchange(tr.IDToken, TokenTypeIDToken, rasIssuer, "", "")
		}, "agent", idpAgentSecret, 400, "invalid_target"},
		{"client without a grant", func() url.Values {
			return idjagExchange(plain.IDToken, TokenTypeIDToken, rasIssuer, rasResource, "")
		}, "plain", "plain-secret-0123456789", 400, "invalid_target"},
		{"unauthenticated client", func() url.Values {
			f := idjagExchange(tr.IDToken, TokenTypeIDToken, rasIssuer, rasResource, "")
			f.Set("client_id", "agent")
			return f
		}, "", "", 401, "invalid_client"},
		{"wrong secret", func() url.Values {
			return idjagExchange(tr.IDToken, TokenTypeIDToken, rasIssuer, rasResource, "")
		}, "agent", "wrong", 401, "invalid_client"},
		{"ID token of another client", func() url.Values {
			return idjagExchange(plain.IDToken, TokenTypeIDToken, rasIssuer, rasResource, "")
		}, "agent", idpAgentSecret, 400, "invalid_grant"},
		{"access token as ID token", func() url.Values {
			return idjagExchange(at.AccessToken, TokenTypeIDToken, rasIssuer, rasResource, "")
		}, "agent", idpAgentSecret, 400, "invalid_grant"},
		{"rotated refresh token", func() url.Values {
			return idjagExchange(tr.RefreshToken, TokenTypeRefreshToken, rasIssuer, rasResource, "")
		}, "agent", idpAgentSecret, 400, "invalid_grant"},
		{"unsupported subject token type", func() url.Values {
			return idjagExchange(tr.IDToken, string(oidc.AccessTokenType), rasIssuer, rasResource, "")
		}, "agent", idpAgentSecret, 400, "invalid_request"},
		{"scope outside the grant", func() url.Values {
			return idjagExchange(tr.IDToken, TokenTypeIDToken, rasIssuer, rasResource, "admin:all")
		}, "agent", idpAgentSecret, 400, "invalid_scope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := idp.token(tt.form(), tt.user, tt.secret)
			if r.status != tt.status || r.Error != tt.err {
				t.Fatalf("got %d %s (%s), want %d %s", r.status, r.Error, r.ErrorDescription, tt.status, tt.err)
			}
		})
	}
	out := logs.String()
	for _, tok := range []string{tr.IDToken, tr.RefreshToken, plain.IDToken, at.AccessToken} {
		if strings.Contains(out, tok) {
			t.Fatal("a subject token was logged")
		}
	}
}
