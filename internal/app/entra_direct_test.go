package app_test

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestEntraDirectChallengeScope replays the gateway article's direct mode: an MCP client
// that follows the specification (401 → protected resource metadata → the authorization
// server's metadata → authorization code with PKCE and resource) and asks for the
// challenge's scope verbatim signs in at Entra (the emulator) and calls the route. The route
// requires the bare scp value mcp_access; the challenge and scopes_supported carry the
// qualified api://weather-mcp/mcp_access (a bare one is AADSTS650053 at Entra).
func TestEntraDirectChallengeScope(t *testing.T) {
	up := upstream(t)
	const tenant = "7a1e5f00-0000-4000-8000-00000000c0de"
	const clientID = "aeb1c11e-0000-4000-8000-0000000000c1" // the MCP client's registration
	base := serve(t, `
listen: $ADDR
publicURL: http://$ADDR
log: {level: warn}
entra:
  autoLogin: alice@contoso.onmicrosoft.com
  tenants:
    - id: `+tenant+`
      domains: [contoso.onmicrosoft.com]
      users:
        - {objectId: 0a11ce00-0000-4000-8000-000000000001, userPrincipalName: alice@contoso.onmicrosoft.com, password: alice-pw}
  apps:
    - name: Weather MCP API
      clientId: 6e5d1a7a-0000-4000-8000-0000000000a1
      identifierUris: [api://weather-mcp, http://$ADDR/weather/mcp]
      accessTokenAcceptedVersion: 2
      scopes: [{value: mcp_access}]
      preAuthorizedApplications: [{appId: `+clientID+`, scopes: [mcp_access]}]
    - name: MCP client
      clientId: `+clientID+`
      publicClient: true
      redirectUris: [http://127.0.0.1:33418/callback]
issuers:
  - name: contoso
    entra:
      tenant: `+tenant+`
      clientId: 6e5d1a7a-0000-4000-8000-0000000000a1
      appIdUri: api://weather-mcp
      authority: http://$ADDR/entra
routes:
  - name: weather
    path: /weather/mcp
    upstream: {url: `+up+`}
    auth: {issuers: [contoso], scopes: [mcp_access]}
`, nil)
	signInDirect(t, base, base+"/weather/mcp", clientID, "http://127.0.0.1:33418/callback", "api://weather-mcp/mcp_access", base+"/entra/"+tenant+"/v2.0")
}

// signInDirect is the spec-following client: it checks that the challenge names scope and
// the metadata authorizationServer, then signs in with the challenge's scope verbatim
// (authorization code, PKCE, resource) and initializes a session with the token.
func signInDirect(t *testing.T, base, mcpURL, clientID, redirect, wantScope, authorizationServer string) {
	t.Helper()
	initialize := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`
	post := func(token string) *http.Response {
		req, _ := http.NewRequest(http.MethodPost, mcpURL, strings.NewReader(initialize))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}

	// 1. The challenge.
	resp := post("")
	resp.Body.Close()
	wa := resp.Header.Get("WWW-Authenticate")
	m := regexp.MustCompile(`scope="([^"]*)"`).FindStringSubmatch(wa)
	if resp.StatusCode != http.StatusUnauthorized || m == nil || m[1] != wantScope {
		t.Fatalf("challenge = %d %q, want scope %s", resp.StatusCode, wa, wantScope)
	}
	scope := m[1]
	md := regexp.MustCompile(`resource_metadata="([^"]*)"`).FindStringSubmatch(wa)[1]

	// 2. The protected resource metadata.
	var prm struct {
		Resource             string   `json:"resource"`
		AuthorizationServers []string `json:"authorization_servers"`
		ScopesSupported      []string `json:"scopes_supported"`
	}
	getJSON(t, md, &prm)
	if len(prm.AuthorizationServers) != 1 || prm.AuthorizationServers[0] != authorizationServer ||
		len(prm.ScopesSupported) != 1 || prm.ScopesSupported[0] != scope {
		t.Fatalf("PRM = %+v", prm)
	}

	// 3. The authorization server's metadata (OpenID Connect discovery: Entra has no RFC 8414 document).
	var as struct {
		AuthorizationEndpoint string `json:"authorization_endpoint"`
		TokenEndpoint         string `json:"token_endpoint"`
	}
	getJSON(t, prm.AuthorizationServers[0]+"/.well-known/openid-configuration", &as)

	// 4. Authorization code with PKCE, the challenge's scope verbatim, resource = the MCP URL.
	vb := make([]byte, 32)
	rand.Read(vb)
	verifier := base64.RawURLEncoding.EncodeToString(vb)
	sum := sha256.Sum256([]byte(verifier))
	q := url.Values{"response_type": {"code"}, "client_id": {clientID}, "redirect_uri": {redirect}, "scope": {scope},
		"state": {"s1"}, "code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"},
		"resource": {prm.Resource}}
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Timeout: 10 * time.Second, CheckRedirect: func(r *http.Request, _ []*http.Request) error {
		if strings.HasPrefix(r.URL.String(), redirect) {
			return http.ErrUseLastResponse
		}
		return nil
	}}
	r, err := browser.Get(as.AuthorizationEndpoint + "?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(r.Body)
	r.Body.Close()
	loc, _ := url.Parse(r.Header.Get("Location"))
	if loc == nil || loc.Query().Get("code") == "" {
		t.Fatalf("no code: %d %s %s", r.StatusCode, r.Header.Get("Location"), body)
	}
	r, err = http.PostForm(as.TokenEndpoint, url.Values{"grant_type": {"authorization_code"}, "client_id": {clientID},
		"code": {loc.Query().Get("code")}, "redirect_uri": {redirect}, "code_verifier": {verifier}, "scope": {scope}})
	if err != nil {
		t.Fatal(err)
	}
	var tr struct {
		AccessToken string `json:"access_token"`
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	json.NewDecoder(r.Body).Decode(&tr)
	r.Body.Close()
	if tr.AccessToken == "" {
		t.Fatalf("token: %s %s", tr.Error, tr.Description)
	}
	if c := decodeClaims(t, tr.AccessToken); c["scp"] != "mcp_access" {
		t.Fatalf("scp = %v", c["scp"])
	}

	// 5. The route accepts the token.
	for i := 0; ; i++ {
		resp = post(tr.AccessToken)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusServiceUnavailable && i < 50 { // keys load at start
			time.Sleep(100 * time.Millisecond)
			continue
		}
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), "serverInfo") {
			t.Fatalf("initialize: %d %s", resp.StatusCode, b)
		}
		break
	}
}

// TestRecipeEntraSSOGateway runs examples/recipe-entra-sso-gateway.yaml (docs/recipes/
// entra-sso-gateway.md) as a reader would: the article's registrations on the emulator, v1
// tokens (accessTokenAcceptedVersion unset), your own client using the challenge's scope.
func TestRecipeEntraSSOGateway(t *testing.T) {
	raw, err := os.ReadFile("../../examples/recipe-entra-sso-gateway.yaml")
	if err != nil {
		t.Fatal(err)
	}
	y := strings.NewReplacer("127.0.0.1:8080", "$ADDR", "http://127.0.0.1:9001/mcp", upstream(t)).Replace(string(raw))
	base := serve(t, y, nil)
	const tenant = "5e7d8166-7876-4755-a1a4-b476d4a344f6"
	signInDirect(t, base, base+"/mcp", "7c0f1a2b-0000-4000-8000-0000000000c1", "http://localhost:6274/oauth/callback/debug",
		"api://b92d6e60-86ff-4359-b971-04404fe079ec/mcp_access", base+"/entra/"+tenant+"/v2.0")
}
