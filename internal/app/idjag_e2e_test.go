package app_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpgate/mcpgate/internal/authserver"
	"github.com/mcpgate/mcpgate/internal/cli"
	"github.com/mcpgate/mcpgate/internal/client"
	"github.com/mcpgate/mcpgate/internal/testutil"
	"github.com/mcpgate/mcpgate/internal/xaa"
)

// serveOn is serve on a given address (for two servers that name each other in their
// configurations).
func serveOn(t *testing.T, addr, yaml string) string {
	t.Helper()
	dir := t.TempDir()
	yaml = strings.ReplaceAll(strings.ReplaceAll(yaml, "$ADDR", addr), "$DIR", dir)
	yaml = "admin: {listen: 127.0.0.1:0, drainDelay: 0s}\n" + yaml
	file := filepath.Join(dir, "mcpgate.yaml")
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
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
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		select {
		case err := <-done:
			t.Fatalf("serve exited early: %v", err)
		default:
		}
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return "http://" + addr
		}
	}
	t.Fatal("serve did not start listening")
	return ""
}

// idpSignIn signs username in at the IdP with the confidential client agent (authorization
// code + PKCE) and returns the ID token.
func idpSignIn(t *testing.T, idp, username string, port int) string {
	t.Helper()
	verifier := "verifier-" + strings.Repeat("x", 40) + username
	sum := sha256.Sum256([]byte(verifier))
	challenge := base64.RawURLEncoding.EncodeToString(sum[:])
	redirect := "http://127.0.0.1:" + strconv.Itoa(port) + "/callback"
	q := url.Values{"response_type": {"code"}, "client_id": {"agent"}, "redirect_uri": {redirect}, "state": {"s1"},
		"scope": {"openid email"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}}
	person := &testutil.Person{Username: username, Password: "correct horse"}
	loc, err := person.Authorize(context.Background(), idp+"/authorize?"+q.Encode())
	if err != nil {
		t.Fatalf("sign-in at the IdP: %v", err)
	}
	u, _ := url.Parse(loc)
	form := url.Values{"grant_type": {"authorization_code"}, "code": {u.Query().Get("code")}, "redirect_uri": {redirect}, "code_verifier": {verifier}}
	req, _ := http.NewRequest(http.MethodPost, idp+"/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("agent", "idp-agent-secret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tr struct {
		IDToken string `json:"id_token"`
		Error   string `json:"error"`
	}
	json.NewDecoder(resp.Body).Decode(&tr)
	if tr.IDToken == "" {
		t.Fatalf("no ID token from the IdP: %d %s", resp.StatusCode, tr.Error)
	}
	return tr.IDToken
}

type bearer struct{ token string }

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return http.DefaultTransport.RoundTrip(r)
}

// TestEnterpriseManagedAuthorization is issue 16's end-to-end test: one mcpgate is the
// enterprise IdP (local users, ID-JAGs for one client and one resource), a second mcpgate
// is the MCP server's authorization server and gateway, trusting the first by discovery.
// alice signs in once at the IdP; the xaa client gets an ID-JAG and exchanges it at the
// second mcpgate without a browser; her tool call through the gateway is allowed by a
// policy on her IdP groups and the token's origin; bob (not in eng) is refused by policy;
// a client the IdP has no mapping for gets no ID-JAG.
// emaEnv is the two-mcpgate setup of enterprise-managed authorization.
type emaEnv struct {
	idp, ras, mcpURL, auditFile string
	redirectPort                int
}

// newEMAEnv starts one mcpgate as the enterprise IdP (users alice in eng and bob in sales;
// client agent with redirect http://127.0.0.1:<redirectPort>/callback may get ID-JAGs for the
// second mcpgate's weather route) and a second mcpgate as the resource AS and gateway, whose
// route allows tool calls only to eng users whose token came from the IdP corp.
func newEMAEnv(t *testing.T) *emaEnv {
	up := upstream(t)
	hash, err := authserver.HashPassword("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("USER_HASH", hash)
	idpAddr, rasAddr := freeAddr(t), freeAddr(t)
	_, portStr, _ := net.SplitHostPort(freeAddr(t))
	port, _ := strconv.Atoi(portStr)
	auditFile := filepath.Join(t.TempDir(), "audit.jsonl")
	idp := serveOn(t, idpAddr, `
listen: $ADDR
publicURL: http://$ADDR
store: {memory: {}}
log: {level: warn}
routes:
  - {name: idp-own, path: /own/mcp, upstream: {url: `+up+`}}
authServer:
  allowInsecureHTTP: true
  users:
    - {username: alice, email: alice@example.com, passwordHash: "${USER_HASH}", groups: [eng]}
    - {username: bob, email: bob@example.com, passwordHash: "${USER_HASH}", groups: [sales]}
  clients:
    - id: agent
      secret: idp-agent-secret
      redirectURIs: [http://127.0.0.1:`+portStr+`/callback]
      grantTypes: [authorization_code, refresh_token, "urn:ietf:params:oauth:grant-type:token-exchange"]
      trusted: true
  idJag:
    claims: [email, groups]
    grants:
      - client: agent
        audience: http://`+rasAddr+`
        resources: [http://`+rasAddr+`/weather/mcp]
        scopes: [weather.read]
`)
	ras := serveOn(t, rasAddr, `
listen: $ADDR
publicURL: http://$ADDR
store: {sqlite: {path: $DIR/mcpgate.db}}
log: {level: warn}
audit: {file: {path: `+auditFile+`}}
authServer:
  allowInsecureHTTP: true
  clients:
    - id: agent
      secret: ras-agent-secret
      grantTypes: ["urn:ietf:params:oauth:grant-type:jwt-bearer"]
  enterpriseIdPs:
    - name: corp
      issuer: `+idp+`
      algorithms: [ES256]
      allowPrivateAddresses: true
routes:
  - name: weather
    path: /weather/mcp
    upstream: {url: `+up+`}
    auth: {scopes: [weather.read]}
    policy:
      rules:
        - name: corp-engineers
          allow: '"eng" in user.groups && user.claims.?idjag_idp.orValue("") == "corp"'
`)
	return &emaEnv{idp: idp, ras: ras, mcpURL: ras + "/weather/mcp", auditFile: auditFile, redirectPort: port}
}

func TestEnterpriseManagedAuthorization(t *testing.T) {
	env := newEMAEnv(t)
	idp, ras, auditFile := env.idp, env.ras, env.auditFile
	mcpURL := ras + "/weather/mcp"
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	xc := &xaa.Client{
		IdP:             xaa.Credentials{TokenURL: idp + "/token", ClientID: "agent", ClientSecret: "idp-agent-secret"},
		ResourceClients: map[string]xaa.Credentials{ras: {ClientID: "agent", ClientSecret: "ras-agent-secret"}},
		Scopes:          []string{"weather.read"},
	}
	call := func(token string) (*mcp.CallToolResult, error) {
		cs, err := mcp.NewClient(&mcp.Implementation{Name: "xaa", Version: "1"}, nil).Connect(ctx,
			&mcp.StreamableClientTransport{Endpoint: mcpURL, HTTPClient: &http.Client{Transport: bearer{token}}, DisableStandaloneSSE: true}, nil)
		if err != nil {
			return nil, err
		}
		defer cs.Close()
		return cs.CallTool(ctx, &mcp.CallToolParams{Name: "get_forecast", Arguments: map[string]any{"city": "Oslo"}})
	}

	// alice: one sign-in at the IdP, then no browser.
	var tok *xaa.Token
	var err error
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		// The resource AS loads the IdP's keys in the background after it starts.
		tok, err = xc.Token(ctx, mcpURL, idpSignIn(t, idp, "alice", env.redirectPort), xaa.SubjectIDToken)
		if err == nil || time.Now().After(deadline) || !strings.Contains(err.Error(), "server_error") {
			break
		}
	}
	if err != nil {
		t.Fatalf("enterprise-managed token for alice: %v", err)
	}
	claims := decodeClaims(t, tok.AccessToken)
	if claims["aud"] != mcpURL && !containsAny(claims["aud"], mcpURL) || claims["idjag_iss"] != idp || claims["sub"] != "corp:config:alice" {
		t.Fatalf("access token claims = %v", claims)
	}
	res, err := call(tok.AccessToken)
	if err != nil || res.IsError {
		t.Fatalf("alice's tool call through the gateway: %v %+v", err, res)
	}
	// The audit event says where the token came from.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		b, _ := os.ReadFile(auditFile)
		if strings.Contains(string(b), `"tokenOrigin":"id-jag:corp"`) && strings.Contains(string(b), `"tool":"get_forecast"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no audit event with tokenOrigin id-jag:corp:\n%s", b)
		}
	}

	// bob gets a token (the IdP allows the client), but the route's policy refuses him.
	tok, err = xc.Token(ctx, mcpURL, idpSignIn(t, idp, "bob", env.redirectPort), xaa.SubjectIDToken)
	if err != nil {
		t.Fatalf("enterprise-managed token for bob: %v", err)
	}
	res, err = call(tok.AccessToken)
	if err == nil && !res.IsError {
		t.Fatal("bob's call was allowed; the policy requires the eng group")
	}
	if err != nil && !strings.Contains(err.Error(), "denied by policy") {
		t.Fatalf("bob's call: %v", err)
	}

	// A resource the IdP has no mapping for: no ID-JAG (invalid_target from the IdP).
	_, err = xaa.RequestIDJAG(ctx, nil, xaa.IDJAGRequest{IdP: xc.IdP, SubjectToken: idpSignIn(t, idp, "alice", env.redirectPort),
		Audience: ras, Resource: ras + "/other/mcp"})
	var oe *xaa.Error
	if !errors.As(err, &oe) || oe.Code != "invalid_target" {
		t.Fatalf("unmapped resource: %v", err)
	}
}

// TestEnterpriseLogin: the client package (mcpgate login/tools/call --enterprise) signs
// alice in once at the IdP (browser), then gets the MCP server's token through an ID-JAG;
// a second client for the same server, sharing the token cache, needs no browser at all.
func TestEnterpriseLogin(t *testing.T) {
	env := newEMAEnv(t)
	cache := t.TempDir()
	browser := 0
	newClient := func() *client.Client {
		person := &testutil.Person{Username: "alice", Password: "correct horse"}
		c, err := client.New(client.Options{ServerURL: env.mcpURL, CacheDir: cache, Prompt: io.Discard,
			ClientID: "agent", ClientSecret: "ras-agent-secret", Scopes: []string{"weather.read"},
			Enterprise: &client.Enterprise{IdP: env.idp, ClientID: "agent", ClientSecret: "idp-agent-secret", RedirectPort: env.redirectPort},
			OpenURL:    func(ctx context.Context, u string) error { browser++; _, err := person.Authorize(ctx, u); return err }})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	call := func(c *client.Client) {
		t.Helper()
		cs, err := mcp.NewClient(&mcp.Implementation{Name: "t", Version: "1"}, nil).Connect(ctx,
			&mcp.StreamableClientTransport{Endpoint: env.mcpURL, HTTPClient: c.HTTPClient(), DisableStandaloneSSE: true}, nil)
		if err != nil {
			t.Fatalf("connect: %v", err)
		}
		defer cs.Close()
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "get_forecast", Arguments: map[string]any{"city": "Oslo"}})
		if err != nil || res.IsError {
			t.Fatalf("get_forecast: %v %+v", err, res)
		}
	}
	var err error
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		// The resource AS loads the IdP's keys in the background after it starts.
		_, err = newClient().Login(ctx, client.Challenge{}, "", true)
		if err == nil || time.Now().After(deadline) || !strings.Contains(err.Error(), "server_error") {
			break
		}
	}
	if err != nil {
		t.Fatalf("enterprise login: %v", err)
	}
	c := newClient()
	tok, err := c.Token(ctx)
	if err != nil || tok == nil {
		t.Fatalf("cached token: %v", err)
	}
	if claims := decodeClaims(t, tok.AccessToken); claims["idjag_idp"] != "corp" || claims["sub"] != "corp:config:alice" {
		t.Fatalf("token claims = %v", claims)
	}
	call(c)
	// A new ID-JAG for a forced login: the IdP sign-in is reused, no browser.
	if _, err := newClient().Login(ctx, client.Challenge{}, "", true); err != nil {
		t.Fatalf("second enterprise login: %v", err)
	}
	if browser != 1 {
		t.Fatalf("the browser was opened %d times, want once", browser)
	}
}

// TestEnterpriseManagedAuthorizationEntra: the Entra emulator is the enterprise IdP. An app
// of the tenant exchanges alice's id_token (password grant here) for an ID-JAG, mcpgate's
// authorization server in the same process trusts the tenant's v2 issuer and exchanges it,
// and her tool call through the gateway is allowed by policy on her mapped Entra group. An
// unmapped resource gets an AADSTS error.
func TestEnterpriseManagedAuthorizationEntra(t *testing.T) {
	up := upstream(t)
	const (
		tenant = "7a1e5f00-0000-4000-8000-00000000c0de"
		agent  = "0c11e470-0000-4000-8000-0000000000e1"
		engGrp = "11111111-0000-4000-8000-0000000000e9"
	)
	base := serve(t, `
listen: $ADDR
publicURL: http://$ADDR
store: {memory: {}}
log: {level: warn}
entra:
  tenants:
    - id: `+tenant+`
      domains: [contoso.onmicrosoft.com]
      groups: [{id: `+engGrp+`, displayName: Engineering}]
      users:
        - {objectId: aaaaaaaa-0000-4000-8000-00000000a11c, userPrincipalName: alice@contoso.onmicrosoft.com, password: "${ALICE_PW}", groups: [Engineering], mail: alice@contoso.com}
        - {objectId: bbbbbbbb-0000-4000-8000-00000000b0b0, userPrincipalName: bob@contoso.onmicrosoft.com, password: "${ALICE_PW}"}
      idJagGrants:
        - {client: XAA Agent, audience: http://$ADDR, resources: [http://$ADDR/weather/mcp], scopes: [weather.read]}
  apps:
    - name: XAA Agent
      clientId: `+agent+`
      secrets: [{value: "${AGENT_SECRET}"}]
      publicClient: false
authServer:
  allowInsecureHTTP: true
  clients:
    - id: `+agent+`
      secret: ras-agent-secret
      grantTypes: ["urn:ietf:params:oauth:grant-type:jwt-bearer"]
  enterpriseIdPs:
    - name: contoso
      issuer: http://$ADDR/entra/`+tenant+`/v2.0
      allowPrivateAddresses: true
      groupMapping: {`+engGrp+`: [eng]}
routes:
  - name: weather
    path: /weather/mcp
    upstream: {url: `+up+`}
    auth: {scopes: [weather.read]}
    policy:
      rules:
        - name: contoso-engineers
          allow: '"eng" in user.groups && user.claims.?idjag_idp.orValue("") == "contoso"'
`, map[string]string{"ALICE_PW": "alice-pw-1", "AGENT_SECRET": "agent-secret-entra"})
	mcpURL := base + "/weather/mcp"
	tokenURL := base + "/entra/" + tenant + "/oauth2/v2.0/token"
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	idToken := func(upn string) string {
		resp, err := http.PostForm(tokenURL, url.Values{"grant_type": {"password"}, "client_id": {agent}, "client_secret": {"agent-secret-entra"},
			"username": {upn}, "password": {"alice-pw-1"}, "scope": {"openid profile"}})
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var tr struct {
			IDToken     string `json:"id_token"`
			Description string `json:"error_description"`
		}
		json.NewDecoder(resp.Body).Decode(&tr)
		if tr.IDToken == "" {
			t.Fatalf("no id_token from the emulator: %s", tr.Description)
		}
		return tr.IDToken
	}
	xc := &xaa.Client{
		IdP:             xaa.Credentials{TokenURL: tokenURL, ClientID: agent, ClientSecret: "agent-secret-entra"},
		ResourceClients: map[string]xaa.Credentials{base: {ClientID: agent, ClientSecret: "ras-agent-secret"}},
		Scopes:          []string{"weather.read"},
	}
	var tok *xaa.Token
	var err error
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		tok, err = xc.Token(ctx, mcpURL, idToken("alice@contoso.onmicrosoft.com"), xaa.SubjectIDToken)
		if err == nil || time.Now().After(deadline) || !strings.Contains(err.Error(), "server_error") {
			break
		}
	}
	if err != nil {
		t.Fatalf("token through the Entra emulator: %v", err)
	}
	claims := decodeClaims(t, tok.AccessToken)
	if claims["sub"] != "contoso:aaaaaaaa-0000-4000-8000-00000000a11c" || !containsAny(claims["groups"], "eng") || claims["idjag_idp"] != "contoso" {
		t.Fatalf("access token claims = %v", claims)
	}
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "xaa", Version: "1"}, nil).Connect(ctx,
		&mcp.StreamableClientTransport{Endpoint: mcpURL, HTTPClient: &http.Client{Transport: bearer{tok.AccessToken}}, DisableStandaloneSSE: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "get_forecast", Arguments: map[string]any{"city": "Oslo"}})
	cs.Close()
	if err != nil || res.IsError {
		t.Fatalf("alice's tool call: %v %+v", err, res)
	}

	// No mapping for this resource: AADSTS500011.
	_, err = xaa.RequestIDJAG(ctx, nil, xaa.IDJAGRequest{IdP: xc.IdP, SubjectToken: idToken("alice@contoso.onmicrosoft.com"),
		Audience: base, Resource: base + "/other/mcp"})
	var oe *xaa.Error
	if !errors.As(err, &oe) || oe.Code != "invalid_target" || !strings.HasPrefix(oe.Description, "AADSTS500011:") {
		t.Fatalf("unmapped resource: %v", err)
	}
}
