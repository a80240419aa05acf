package doctor_test

import (
	"context"
	"strings"
	"testing"

	"github.com/mcpgate/mcpgate/internal/doctor"
)

// TestCheckURLMatrix builds deliberately broken setups on loopback and checks that the doctor
// names the right step, with a fix, and nothing else.
func TestCheckURLMatrix(t *testing.T) {
	ctx := context.Background()
	o := doctor.Options{}

	t.Run("healthy mcpgate with its own authorization server", func(t *testing.T) {
		g := startGateway(t, ownASConfig(t, "http://$ADDR"))
		r, d := doctor.CheckURL(ctx, g.Base+"/weather/mcp", o)
		golden(t, r, g.Base)
		for _, s := range r.Steps {
			if s.Status != doctor.StatusOK {
				t.Errorf("step %s = %s: %s", s.ID, s.Status, s.Finding)
			}
		}
		if r.Failed() || d.Server == nil || d.Resource == nil {
			t.Fatalf("healthy setup: %s", dump(r))
		}
	})

	t.Run("PRM resource is not the URL (publicURL names another host)", func(t *testing.T) {
		g := startGateway(t, ownASConfig(t, "http://localhost:$PORT"))
		r, _ := doctor.CheckURL(ctx, g.Base+"/weather/mcp", o)
		golden(t, r, g.Base)
		expect(t, r, doctor.StepPRMResource, doctor.StatusFail)
		if s := r.Step(doctor.StepPRMResource); !strings.Contains(s.Fix, "publicURL") {
			t.Errorf("fix should point at publicURL: %s", s.Fix)
		}
	})

	t.Run("no protected resource metadata", func(t *testing.T) {
		base := fakeServer(t, func(string) string { return `Bearer realm="mcp"` }, func(string) map[string]any { return nil })
		r, _ := doctor.CheckURL(ctx, base+"/mcp", o)
		golden(t, r, base)
		expect(t, r, doctor.StepPRM, doctor.StatusFail, doctor.StepChallenge)
		if !strings.Contains(r.Step(doctor.StepPRM).Fix, base+"/.well-known/oauth-protected-resource/mcp") {
			t.Errorf("fix should name the path-inserted URL: %s", r.Step(doctor.StepPRM).Fix)
		}
	})

	t.Run("authorization server without S256", func(t *testing.T) {
		base := fakeServer(t, func(b string) string {
			return `Bearer resource_metadata="` + b + `/.well-known/oauth-protected-resource/mcp"`
		},
			func(b string) map[string]any {
				return map[string]any{
					"/.well-known/oauth-protected-resource/mcp": prmDoc(b+"/mcp", b),
					"/.well-known/oauth-authorization-server":   asMetadata(b, func(m map[string]any) { delete(m, "code_challenge_methods_supported") }),
				}
			})
		r, _ := doctor.CheckURL(ctx, base+"/mcp", o)
		golden(t, r, base)
		expect(t, r, doctor.StepPKCE, doctor.StatusFail)
	})

	t.Run("no registration option", func(t *testing.T) {
		base := fakeServer(t, func(b string) string {
			return `Bearer resource_metadata="` + b + `/.well-known/oauth-protected-resource/mcp"`
		},
			func(b string) map[string]any {
				return map[string]any{
					"/.well-known/oauth-protected-resource/mcp": prmDoc(b+"/mcp", b),
					"/.well-known/openid-configuration":         asMetadata(b, func(m map[string]any) { delete(m, "registration_endpoint") }),
				}
			})
		r, _ := doctor.CheckURL(ctx, base+"/mcp", o)
		golden(t, r, base)
		expect(t, r, doctor.StepRegistration, doctor.StatusWarn)
		if !strings.Contains(r.Step(doctor.StepASMetadata).Finding, "OpenID Connect") {
			t.Errorf("metadata found through OIDC discovery should say so: %s", r.Step(doctor.StepASMetadata).Finding)
		}
	})

	t.Run("Entra ID authorization server refuses the resource", func(t *testing.T) {
		g := startGateway(t, entraGateway("", ""))
		r, _ := doctor.CheckURL(ctx, g.Base+"/weather/mcp", o)
		golden(t, r, g.Base)
		expect(t, r, doctor.StepResourceIndicator, doctor.StatusWarn, doctor.StepRegistration, doctor.StepScopes)
		if s := r.Step(doctor.StepResourceIndicator); !strings.Contains(s.Finding, "AADSTS9010010") || !strings.Contains(s.Fix, "identifierUris") {
			t.Errorf("resource-indicator should name AADSTS9010010 and identifierUris: %+v", *s)
		}
	})

	// The gateway publishes a plain v1 issuer (sts.windows.net, which serves no sign-in) as
	// the v2 authority of its tenant, on the host of its keys (the emulator here).
	t.Run("v1 token issuer published as the v2 authority", func(t *testing.T) {
		g := startGateway(t, entraGateway(`
  - name: v1
    issuer: https://sts.windows.net/`+tenantID+`/
    jwksURL: http://$ADDR/entra/`+tenantID+`/discovery/keys
    audiences: [api://weather-mcp]`, "v1"))
		r, _ := doctor.CheckURL(ctx, g.Base+"/weather/mcp", o)
		golden(t, r, g.Base)
		expect(t, r, doctor.StepResourceIndicator, doctor.StatusWarn, doctor.StepRegistration)
		if s := r.Step(doctor.StepPRMServers); s.Status != doctor.StatusOK || !strings.HasSuffix(s.Finding, "/entra/"+tenantID+"/v2.0") {
			t.Errorf("prm-servers: %+v", *s)
		}
	})

	t.Run("unreachable server", func(t *testing.T) {
		r, _ := doctor.CheckURL(ctx, "http://127.0.0.1:1/mcp", o)
		golden(t, r, "http://127.0.0.1:1")
		expect(t, r, doctor.StepReach, doctor.StatusFail)
	})

	t.Run("not an MCP endpoint", func(t *testing.T) {
		base := fakeServer(t, func(string) string { return "" }, func(string) map[string]any { return nil })
		r, _ := doctor.CheckURL(ctx, base+"/elsewhere", o)
		golden(t, r, base)
		expect(t, r, doctor.StepChallenge, doctor.StatusFail)
	})
}
