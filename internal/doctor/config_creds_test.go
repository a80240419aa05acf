package doctor_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mcpgate/mcpgate/internal/config"
	"github.com/mcpgate/mcpgate/internal/doctor"
)

const (
	signinID   = "3f6c0a5e-0000-4000-8000-0000000000a1" // mcpgate's app: the connector and the OBO middle tier
	forecastID = "3f6c0a5e-0000-4000-8000-0000000000f1" // the downstream API of OBO
)

// bridgeGateway is mcpgate serving the Entra emulator under /entra and its own
// authorization server with an Entra connector to that emulator (bridge mode), and a
// forecast route whose upstream credential is an On-Behalf-Of token for the Forecast API,
// as docs/entra.md sets it up. The doctor checks the same file the gateway serves. edits
// replace text of the file (old, new, old, new …).
func bridgeGateway(t *testing.T, edits ...string) *gateway {
	t.Helper()
	t.Setenv("MCPGATE_SECRET_KEYS", "k1:QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE=")
	t.Setenv("MCPGATE_ENTRA_SECRET", "signin-secret")
	t.Setenv("MCPGATE_OBO_SECRET", "obo-secret")
	yaml := strings.NewReplacer(edits...).Replace(bridgeYAML)
	return startGateway(t, yaml)
}

const bridgeYAML = `
listen: $ADDR
publicURL: http://$ADDR
log: {level: error}
store: {memory: {}}
entra:
  tenants:
    - id: ` + tenantID + `
      domains: [contoso.onmicrosoft.com]
      users:
        - {objectId: 4b1d9c1e-0000-4000-8000-00000000a11c, userPrincipalName: ` + aliceUPN + `, displayName: Alice, password: ` + alicePass + `}
      adminConsent: [mcpgate]
  apps:
    - name: mcpgate
      clientId: ` + signinID + `
      identifierUris: [api://mcpgate]
      accessTokenAcceptedVersion: 2
      redirectUris: [http://$ADDR/login/callback]
      secrets:
        - {value: signin-secret}
        - {value: obo-secret}
      scopes:
        - {value: access_as_user}
      requiredResourceAccess:
        - {resource: api://forecast, scopes: [forecast.read]}
    - name: Forecast API
      clientId: ` + forecastID + `
      identifierUris: [api://forecast]
      accessTokenAcceptedVersion: 2
      scopes:
        - {value: forecast.read}
authServer:
  allowInsecureHTTP: true
  connectors:
    - id: entra
      type: entra
      name: Contoso
      clientId: ` + signinID + `
      clientSecret: ${MCPGATE_ENTRA_SECRET}
      scopes: [access_as_user]
      entra: {tenant: ` + tenantID + `, appIdUri: api://mcpgate, authority: http://$ADDR/entra}
      allowPrivateAddresses: true
routes:
  - name: forecast
    path: /forecast/mcp
    upstream: {url: $UP}
    upstreamAuth:
      obo: {tenant: ` + tenantID + `, authority: http://$ADDR/entra, clientId: ` + signinID + `, clientSecret: "${MCPGATE_OBO_SECRET}", scope: api://forecast/.default}
`

// TestCheckConfigConnectors checks authServer connectors against the live Entra emulator.
func TestCheckConfigConnectors(t *testing.T) {
	ctx := context.Background()
	t.Run("healthy Entra connector", func(t *testing.T) {
		g := bridgeGateway(t)
		r := doctor.CheckConfig(ctx, g.File, doctor.Options{})
		golden(t, r, g.Base)
		if code := oboExchange(t, g); code != 0 {
			t.Errorf("the real OBO exchange answered AADSTS%d", code)
		}
		for _, s := range r.Steps {
			if s.Status != doctor.StatusOK && s.ID != doctor.StepConfig { // the config warns: http on loopback
				t.Errorf("step %s = %s: %s", s.ID, s.Status, s.Finding)
			}
		}
	})
	t.Run("wrong redirect URI registered", func(t *testing.T) {
		g := bridgeGateway(t, "redirectUris: [http://$ADDR/login/callback]", "redirectUris: [http://$ADDR/callback]")
		r := doctor.CheckConfig(ctx, g.File, doctor.Options{})
		golden(t, r, g.Base)
		expect(t, r, "connector-redirect/entra", doctor.StatusFail, doctor.StepConfig)
	})
	t.Run("expired client secret", func(t *testing.T) {
		g := bridgeGateway(t, "{value: signin-secret}", "{value: signin-secret, expires: 2024-01-31}")
		r := doctor.CheckConfig(ctx, g.File, doctor.Options{})
		golden(t, r, g.Base)
		expect(t, r, "connector-secret/entra", doctor.StatusFail, doctor.StepConfig)
		if s := r.Step("connector-secret/entra"); s != nil && !strings.Contains(s.Finding, "AADSTS7000222") {
			t.Errorf("finding does not name AADSTS7000222: %s", s.Finding)
		}
	})
	t.Run("wrong client secret", func(t *testing.T) {
		g := bridgeGateway(t, "{value: signin-secret}", "{value: rotated-secret}")
		r := doctor.CheckConfig(ctx, g.File, doctor.Options{})
		golden(t, r, g.Base)
		expect(t, r, "connector-secret/entra", doctor.StatusFail, doctor.StepConfig)
	})
	t.Run("discovery unreachable", func(t *testing.T) {
		g := bridgeGateway(t, "authority: http://$ADDR/entra}", "authority: http://127.0.0.1:1/entra}")
		r := doctor.CheckConfig(ctx, g.File, doctor.Options{})
		golden(t, r, g.Base)
		expect(t, r, "connector/entra", doctor.StatusFail, doctor.StepConfig)
	})
}

// TestCheckConfigUpstreamAuth checks routes' upstream credentials (On-Behalf-Of here)
// against the live Entra emulator and its registrations.
func TestCheckConfigUpstreamAuth(t *testing.T) {
	ctx := context.Background()
	// real is the AADSTS code the emulator answers to a real On-Behalf-Of exchange for
	// alice in the same setup: the doctor's finding must name it (0: no OBO exchange).
	cases := []struct {
		name, step string
		real       int
		edits      []string
	}{
		{"admin consent missing for OBO", "upstream-consent/forecast", 65001, []string{"adminConsent: [mcpgate]", "adminConsent: []"}},
		{"OBO scope not in the API permissions", "upstream-consent/forecast", 65001, []string{"scope: api://forecast/.default", "scope: api://forecast/forecast.read",
			"{resource: api://forecast, scopes: [forecast.read]}", "{resource: api://mcpgate, scopes: [access_as_user]}"}},
		{"expired OBO client secret", "upstream-token/forecast", 7000222, []string{"{value: obo-secret}", "{value: obo-secret, expires: 2024-01-31}"}},
		{"scope not exposed", "upstream-scope/forecast", 70011, []string{"scope: api://forecast/.default", "scope: api://forecast/forecast.write"}},
		{"client credentials refused", "upstream-token/reports", 0, []string{"routes:\n", "routes:\n" + reportsRoute}},
		{"OBO resource not in the tenant", "upstream-scope/forecast", 500011, []string{"scope: api://forecast/.default", "scope: api://forcast/.default"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := bridgeGateway(t, c.edits...)
			r := doctor.CheckConfig(ctx, g.File, doctor.Options{})
			golden(t, r, g.Base)
			expect(t, r, c.step, doctor.StatusFail, doctor.StepConfig)
			if c.real == 0 {
				return
			}
			code := oboExchange(t, g)
			if code != c.real {
				t.Errorf("the real OBO exchange answered AADSTS%d, want %d", code, c.real)
			}
			if s := r.Step(c.step); s != nil && !strings.Contains(s.Finding, fmt.Sprintf("AADSTS%d", c.real)) {
				t.Errorf("the finding does not name AADSTS%d, which the real exchange answers: %s", c.real, s.Finding)
			}
		})
	}
}

// oboExchange signs alice in for mcpgate's app (password grant, with the secret that is
// valid in every case) and exchanges her token On-Behalf-Of with the route's own obo
// settings, as the gateway does; it returns the AADSTS code of the answer (0: a token).
func oboExchange(t *testing.T, g *gateway) int {
	t.Helper()
	cfg, _, err := config.Load(g.File)
	if err != nil {
		t.Fatal(err)
	}
	ob := cfg.Routes[len(cfg.Routes)-1].UpstreamAuth.OBO
	tokenURL := g.Base + "/entra/" + tenantID + "/oauth2/v2.0/token"
	post := func(form url.Values) (string, int) {
		resp, err := http.PostForm(tokenURL, form)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var tr struct {
			AccessToken string `json:"access_token"`
			ErrorCodes  []int  `json:"error_codes"`
		}
		json.NewDecoder(resp.Body).Decode(&tr)
		if tr.AccessToken != "" {
			return tr.AccessToken, 0
		}
		if len(tr.ErrorCodes) == 0 {
			t.Fatalf("HTTP %d without a token or an error code", resp.StatusCode)
		}
		return "", tr.ErrorCodes[0]
	}
	user, code := post(url.Values{"grant_type": {"password"}, "client_id": {signinID}, "client_secret": {"signin-secret"},
		"username": {aliceUPN}, "password": {alicePass}, "scope": {"openid api://mcpgate/access_as_user"}})
	if code != 0 {
		t.Fatalf("alice's sign-in: AADSTS%d", code)
	}
	_, code = post(url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"}, "requested_token_use": {"on_behalf_of"},
		"client_id": {ob.ClientID}, "client_secret": {ob.ClientSecret}, "assertion": {user}, "scope": {ob.Scope}})
	return code
}

// reportsRoute calls its upstream as mcpgate's own app, with a secret the emulator does not know.
const reportsRoute = `  - name: reports
    path: /reports/mcp
    upstream: {url: $UP}
    upstreamAuth:
      clientCredentials: {tokenURL: http://$ADDR/entra/` + tenantID + `/oauth2/v2.0/token, clientId: ` + signinID + `, clientSecret: "${MCPGATE_OBO_SECRET}x", scopes: [api://forecast/.default]}
`

// TestCheckConfigPolicyScopes compares what routes' require rules demand with what their
// metadata advertises, on mcpgate with its own authorization server.
func TestCheckConfigPolicyScopes(t *testing.T) {
	ctx := context.Background()
	const policy = "    auth: {scopes: [weather.read]}\n" +
		"    policy:\n      rules:\n" +
		"        - {name: alerts-need-write, require: 'mcp.tool == \"set_alert\"', scopes: [weather.write]}\n" +
		"        - {name: everyone, allow: 'true'}\n"
	cases := []struct {
		name   string
		edits  []string
		status doctor.Status
	}{
		{"required scope advertised", []string{"    auth: {scopes: [weather.read]}\n", strings.Replace(policy, "scopes: [weather.read]}", "scopes: [weather.read], scopesSupported: [weather.read, weather.write]}", 1)}, doctor.StatusOK},
		{"required scope not advertised", []string{"    auth: {scopes: [weather.read]}\n", policy}, doctor.StatusWarn},
		{"required scope unknown to the authorization server", []string{"    auth: {scopes: [weather.read]}\n", policy, "  allowInsecureHTTP: true\n", "  allowInsecureHTTP: true\n  scopes: [weather.read]\n"}, doctor.StatusFail},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := startGateway(t, strings.NewReplacer(c.edits...).Replace(ownASConfig(t, "http://$ADDR")))
			r := doctor.CheckConfig(ctx, g.File, doctor.Options{})
			golden(t, r, g.Base)
			expect(t, r, "policy-scopes/weather", c.status, doctor.StepConfig, "policy-scopes/weather")
		})
	}
}

// TestCheckConfigOIDCConnector checks a generic OpenID Connect connector whose provider is
// another mcpgate (its embedded authorization server, a pre-registered confidential client).
// The gateway under check is not started: the doctor reads its file and talks to the provider.
func TestCheckConfigOIDCConnector(t *testing.T) {
	ctx := context.Background()
	const front = "https://mcp.example.com"
	cases := []struct {
		name, step               string
		status                   doctor.Status
		redirect, secr, te, conn string
	}{
		{"healthy", "", doctor.StatusOK, front + "/login/callback", "front-secret", "front-secret", "front-secret"},
		{"redirect URI not registered", "connector-redirect/corp", doctor.StatusFail, front + "/callback", "front-secret", "front-secret", "front-secret"},
		{"wrong client secret", "connector-secret/corp", doctor.StatusFail, front + "/login/callback", "old-secret", "front-secret", "front-secret"},
		{"token exchange client refused", "upstream-token/exchange", doctor.StatusFail, front + "/login/callback", "front-secret", "old-secret", "front-secret"},
		{"connection client refused", "upstream-token/linked", doctor.StatusFail, front + "/login/callback", "front-secret", "front-secret", "old-secret"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			provider := startGateway(t, strings.Replace(ownASConfig(t, "http://$ADDR"), "  users:\n",
				"  clients:\n    - {id: mcpgate-front, secret: front-secret, redirectURIs: ["+c.redirect+"]}\n  users:\n", 1))
			t.Setenv("MCPGATE_SECRET_KEYS", "k1:QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE=")
			t.Setenv("FRONT_SECRET", c.secr)
			t.Setenv("TE_SECRET", c.te)
			t.Setenv("CONN_SECRET", c.conn)
			f := filepath.Join(t.TempDir(), "mcpgate.yaml")
			yaml := "publicURL: " + front + "\nstore: {memory: {}}\nauthServer:\n  connectors:\n" +
				"    - {id: corp, type: oidc, issuer: " + provider.Base + ", clientId: mcpgate-front, clientSecret: \"${FRONT_SECRET}\", allowPrivateAddresses: true}\n" +
				"upstreamCredentials:\n  connections:\n" +
				"    - {name: corp, authorizeURL: " + provider.Base + "/authorize, tokenURL: " + provider.Base + "/token, clientId: mcpgate-front, clientSecret: \"${CONN_SECRET}\"}\n" +
				"routes:\n  - {name: weather, path: /weather/mcp, upstream: {url: http://127.0.0.1:9/mcp}}\n" +
				"  - {name: exchange, path: /exchange/mcp, upstream: {url: http://127.0.0.1:9/mcp}, upstreamAuth: {tokenExchange: {tokenURL: " + provider.Base + "/token, clientId: mcpgate-front, clientSecret: \"${TE_SECRET}\", audience: reports}}}\n" +
				"  - {name: linked, path: /linked/mcp, upstream: {url: http://127.0.0.1:9/mcp}, upstreamAuth: {connection: {provider: corp}}}\n"
			if err := os.WriteFile(f, []byte(yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			r := doctor.CheckConfig(ctx, f, doctor.Options{})
			golden(t, r, provider.Base)
			if c.step == "" {
				for _, s := range r.Steps {
					if s.Status != doctor.StatusOK && s.ID != doctor.StepConfig {
						t.Errorf("step %s = %s: %s", s.ID, s.Status, s.Finding)
					}
				}
				return
			}
			expect(t, r, c.step, c.status, doctor.StepConfig)
		})
	}
}
