package doctor_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mcpgate/mcpgate/internal/doctor"
)

// TestCheckConfigMatrix checks configuration files against a live Entra emulator: a healthy
// one, and one broken setting each.
func TestCheckConfigMatrix(t *testing.T) {
	ctx := context.Background()
	g := startGateway(t, entraGateway("", ""))
	addr := strings.TrimPrefix(g.Base, "http://")
	write := func(t *testing.T, issuers, routes, extra string) string {
		t.Helper()
		yaml := "publicURL: https://mcp.example.com\nstore: {memory: {}}\n" + extra + "issuers:\n" + issuers + "routes:\n" + routes
		yaml = strings.NewReplacer("$ADDR", addr, "$TENANT", tenantID, "$API", apiID).Replace(yaml)
		f := filepath.Join(t.TempDir(), "mcpgate.yaml")
		if err := os.WriteFile(f, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		return f
	}
	const preset = "  - name: contoso\n    entra: {tenant: $TENANT, clientId: $API, appIdUri: api://weather-mcp, authority: http://$ADDR/entra}\n"
	const route = "  - {name: weather, path: /weather/mcp, upstream: {url: http://127.0.0.1:9/mcp}, auth: {issuers: [%s]%s}}\n"
	rt := func(issuer, more string) string {
		return strings.Replace(strings.Replace(route, "%s", issuer, 1), "%s", more, 1)
	}

	t.Run("healthy Entra preset", func(t *testing.T) {
		r := doctor.CheckConfig(ctx, write(t, preset, rt("contoso", ", scopes: [access_as_user], scopesSupported: [api://weather-mcp/access_as_user]"), ""), doctor.Options{})
		golden(t, r, g.Base)
		for _, s := range r.Steps {
			if s.Status != doctor.StatusOK {
				t.Errorf("step %s = %s: %s", s.ID, s.Status, s.Finding)
			}
		}
	})
	t.Run("v1 issuer configured", func(t *testing.T) {
		r := doctor.CheckConfig(ctx, write(t, "  - {name: v1, issuer: https://sts.windows.net/$TENANT/, jwksURL: http://$ADDR/entra/$TENANT/discovery/keys, audiences: [$API]}\n", rt("v1", ""), ""), doctor.Options{})
		golden(t, r, g.Base)
		expect(t, r, "issuer/v1", doctor.StatusWarn, doctor.StepConfig) // config validate warns too
	})
	t.Run("issuer string off by a trailing slash", func(t *testing.T) {
		r := doctor.CheckConfig(ctx, write(t, "  - {name: v2, issuer: http://$ADDR/entra/$TENANT/v2.0/, audiences: [$API]}\n", rt("v2", ""), ""), doctor.Options{})
		golden(t, r, g.Base)
		expect(t, r, "issuer/v2", doctor.StatusFail)
	})
	t.Run("JWKS unreachable", func(t *testing.T) {
		r := doctor.CheckConfig(ctx, write(t, "  - {name: v2, issuer: http://$ADDR/entra/$TENANT/v2.0, jwksURL: http://127.0.0.1:1/keys, audiences: [$API]}\n", rt("v2", ""), ""), doctor.Options{})
		golden(t, r, g.Base)
		expect(t, r, "jwks/v2", doctor.StatusFail)
	})
	t.Run("Entra issuer, route URL as the only audience", func(t *testing.T) {
		r := doctor.CheckConfig(ctx, write(t, "  - {name: v2, issuer: http://$ADDR/entra/$TENANT/v2.0}\n", rt("v2", ""), ""), doctor.Options{})
		golden(t, r, g.Base)
		expect(t, r, "audience/weather", doctor.StatusFail)
	})
	t.Run("api:// audience only, v2 tokens", func(t *testing.T) {
		r := doctor.CheckConfig(ctx, write(t, "  - name: contoso\n    entra: {tenant: $TENANT, appIdUri: api://weather-mcp, authority: http://$ADDR/entra}\n", rt("contoso", ""), ""), doctor.Options{})
		golden(t, r, g.Base)
		expect(t, r, "audience/weather", doctor.StatusFail)
	})
	t.Run("bare scopes advertised to Entra clients", func(t *testing.T) {
		r := doctor.CheckConfig(ctx, write(t, preset, rt("contoso", ", scopes: [access_as_user], scopesSupported: [access_as_user]"), ""), doctor.Options{})
		golden(t, r, g.Base)
		expect(t, r, "route-scopes/weather", doctor.StatusWarn)
	})
	t.Run("scopes qualified with the App ID URI", func(t *testing.T) {
		r := doctor.CheckConfig(ctx, write(t, preset, rt("contoso", ", scopes: [access_as_user]"), ""), doctor.Options{})
		expect(t, r, "route-scopes/weather", doctor.StatusOK)
	})
	t.Run("Redis unreachable", func(t *testing.T) {
		f := write(t, preset, rt("contoso", ""), "")
		b, _ := os.ReadFile(f)
		os.WriteFile(f, []byte(strings.Replace(string(b), "store: {memory: {}}", "store: {memory: {}, redis: {addr: \"127.0.0.1:1\"}}", 1)), 0o600)
		r := doctor.CheckConfig(ctx, f, doctor.Options{})
		golden(t, r, g.Base)
		expect(t, r, doctor.StepRedis, doctor.StatusFail)
	})
	t.Run("config does not load", func(t *testing.T) {
		r := doctor.CheckConfig(ctx, write(t, preset, "  - {name: weather, path: weather, upstream: {url: http://127.0.0.1:9/mcp}, auth: {issuers: [nobody]}}\n", ""), doctor.Options{})
		expect(t, r, doctor.StepConfig, doctor.StatusFail)
	})
}
