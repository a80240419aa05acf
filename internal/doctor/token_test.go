package doctor_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/internal/client"
	"github.com/mcpgate/mcpgate/internal/doctor"
	"github.com/mcpgate/mcpgate/internal/testutil"
)

// tokenRoutes: one Entra emulator, and a route per way a gateway can be set up to refuse
// its v2 tokens.
const tokenRoutes = `
issuers:
  - name: contoso
    entra: {tenant: ` + tenantID + `, clientId: ` + apiID + `, appIdUri: api://weather-mcp, authority: http://$ADDR/entra, versions: [2]}
  - name: v1-form
    issuer: https://sts.windows.net/` + tenantID + `/
    jwksURL: http://$ADDR/entra/` + tenantID + `/discovery/keys
    audiences: [` + apiID + `]
  - name: plain-v2
    issuer: http://$ADDR/entra/` + tenantID + `/v2.0
    jwksURL: http://$ADDR/entra/` + tenantID + `/discovery/v2.0/keys
  - name: dead-keys
    issuer: http://$ADDR/entra/` + tenantID + `/v2.0
    jwksURL: http://127.0.0.1:1/keys
    audiences: [` + apiID + `]
routes:
  - {name: weather, path: /weather/mcp, upstream: {url: $UP}, auth: {issuers: [contoso], scopes: [access_as_user]}}
  - {name: v1-issuer, path: /v1/mcp, upstream: {url: $UP}, auth: {issuers: [v1-form]}}
  - {name: app-id-uri, path: /uri/mcp, upstream: {url: $UP}, auth: {issuers: [plain-v2], audiences: [api://weather-mcp]}}
  - {name: dead-keys, path: /dead/mcp, upstream: {url: $UP}, auth: {issuers: [dead-keys]}}
  - {name: write, path: /write/mcp, upstream: {url: $UP}, auth: {issuers: [contoso], scopes: [Forecast.Write]}}
`

// entraTokens signs alice in at the emulator with the password grant, as the Weather CLI,
// and returns the access token and the ID token.
func entraTokens(t *testing.T, base string) (access, id string) {
	t.Helper()
	form := url.Values{"grant_type": {"password"}, "client_id": {cliID}, "username": {aliceUPN}, "password": {alicePass},
		"scope": {"openid profile api://weather-mcp/access_as_user"}}
	resp, err := http.PostForm(base+"/entra/"+tenantID+"/oauth2/v2.0/token", form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tr struct {
		AccessToken string `json:"access_token"`
		IDToken     string `json:"id_token"`
	}
	b, _ := io.ReadAll(resp.Body)
	if json.Unmarshal(b, &tr); tr.AccessToken == "" || tr.IDToken == "" {
		t.Fatalf("no tokens from the emulator: %s", b)
	}
	return tr.AccessToken, tr.IDToken
}

// TestCheckTokenMatrix checks real tokens (the Entra emulator's, mcpgate's own) against
// gateway setups that refuse them for one reason each.
func TestCheckTokenMatrix(t *testing.T) {
	ctx := context.Background()
	g := startGateway(t, entraHead+tokenRoutes)
	access, id := entraTokens(t, g.Base)
	claims, _ := client.DecodeClaims(access)

	check := func(t *testing.T, token, route string, o doctor.Options) *doctor.Report {
		t.Helper()
		target, err := doctor.TargetFromConfig(ctx, g.File, route, claims, o)
		if err != nil {
			t.Fatal(err)
		}
		r := doctor.CheckToken(ctx, token, target, o)
		golden(t, r, g.Base)
		return r
	}

	t.Run("healthy Entra v2 token", func(t *testing.T) {
		r := check(t, access, "weather", doctor.Options{})
		for _, s := range r.Steps {
			if s.Status != doctor.StatusOK {
				t.Errorf("step %s = %s: %s", s.ID, s.Status, s.Finding)
			}
		}
	})
	t.Run("expired token", func(t *testing.T) {
		r := check(t, access, "weather", doctor.Options{Now: func() time.Time { return time.Now().Add(3 * time.Hour) }})
		expect(t, r, doctor.StepTokenExpiry, doctor.StatusFail)
	})
	t.Run("clock skew, iat in the future", func(t *testing.T) {
		r := check(t, access, "weather", doctor.Options{Now: func() time.Time { return time.Now().Add(-10 * time.Minute) }})
		expect(t, r, doctor.StepTokenClock, doctor.StatusFail)
	})
	t.Run("id_token instead of the access token", func(t *testing.T) {
		r := check(t, id, "weather", doctor.Options{})
		expect(t, r, doctor.StepTokenType, doctor.StatusFail)
	})
	t.Run("v1 issuer configured for v2 tokens", func(t *testing.T) {
		r := check(t, access, "v1-issuer", doctor.Options{})
		expect(t, r, doctor.StepTokenIssuer, doctor.StatusFail)
	})
	t.Run("audience GUID vs api://", func(t *testing.T) {
		r := check(t, access, "app-id-uri", doctor.Options{})
		expect(t, r, doctor.StepTokenAudience, doctor.StatusFail)
	})
	t.Run("JWKS unreachable", func(t *testing.T) {
		r := check(t, access, "dead-keys", doctor.Options{})
		expect(t, r, doctor.StepTokenSignature, doctor.StatusFail)
	})
	t.Run("scope the route requires is missing", func(t *testing.T) {
		r := check(t, access, "write", doctor.Options{})
		expect(t, r, doctor.StepTokenScopes, doctor.StatusFail)
	})
	t.Run("opaque token", func(t *testing.T) {
		r := check(t, "3f1b6c0d9e8a7", "weather", doctor.Options{})
		expect(t, r, doctor.StepTokenForm, doctor.StatusFail)
	})
	t.Run("signature altered", func(t *testing.T) {
		r := check(t, access[:len(access)-4]+"AAAA", "weather", doctor.Options{})
		expect(t, r, doctor.StepTokenSignature, doctor.StatusFail)
	})
}

// TestCheckTokenOwnAS signs carol in at mcpgate's own authorization server and checks her
// token against the server's metadata: accepted where it was requested, refused by another
// route.
func TestCheckTokenOwnAS(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	g := startGateway(t, ownASConfig(t, "http://$ADDR"))
	person := &testutil.Person{Username: "carol", Password: "correct horse"}
	c, err := client.New(client.Options{ServerURL: g.Base + "/weather/mcp", CacheDir: t.TempDir(), Prompt: io.Discard,
		OpenURL: func(ctx context.Context, u string) error { _, err := person.Authorize(ctx, u); return err }})
	if err != nil {
		t.Fatal(err)
	}
	ch, err := client.Probe(ctx, nil, g.Base+"/weather/mcp")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := c.Login(ctx, ch, "", true)
	if err != nil {
		t.Fatalf("login: %v (visited %v)", err, person.Seen)
	}

	t.Run("healthy", func(t *testing.T) {
		target, err := doctor.TargetFromURL(ctx, g.Base+"/weather/mcp", doctor.Options{})
		if err != nil {
			t.Fatal(err)
		}
		r := doctor.CheckToken(ctx, tok.AccessToken, target, doctor.Options{})
		golden(t, r, g.Base)
		for _, s := range r.Steps {
			if s.Status != doctor.StatusOK && !(s.ID == doctor.StepTokenVersion && s.Status == doctor.StatusSkip) {
				t.Errorf("step %s = %s: %s", s.ID, s.Status, s.Finding)
			}
		}
	})
	t.Run("token for another route", func(t *testing.T) {
		target, err := doctor.TargetFromURL(ctx, g.Base+"/calendar/mcp", doctor.Options{})
		if err != nil {
			t.Fatal(err)
		}
		r := doctor.CheckToken(ctx, tok.AccessToken, target, doctor.Options{})
		golden(t, r, g.Base)
		expect(t, r, doctor.StepTokenAudience, doctor.StatusFail)
	})
}
