package doctor_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/internal/authserver/entraemulator"
	"github.com/mcpgate/mcpgate/internal/config"
	"github.com/mcpgate/mcpgate/internal/doctor"
)

// entraNow is the clock of the app registration checks, so that expiry findings are stable.
var entraNow = time.Date(2027, 3, 1, 12, 0, 0, 0, time.UTC)

const connectorID = "c0ec7000-0000-4000-8000-0000000000c5"

// healthyDirectory is an API app (v2 tokens, api://weather-mcp, access_as_user for users,
// the CLI pre-authorized) and a public client CLI (loopback redirect on Mobile and desktop)
// that asks for access_as_user.
func healthyDirectory() *config.Entra {
	return &config.Entra{
		Tenants: []config.EntraTenant{{ID: tenantID, Domains: []string{"contoso.onmicrosoft.com"}}},
		Apps: []config.EntraApp{
			{
				Name: "Weather MCP API", ClientID: apiID, IdentifierURIs: []string{"api://weather-mcp"},
				AccessTokenAcceptedVersion: 2,
				Scopes:                     []config.EntraScope{{Value: "access_as_user", Description: "Use the weather tools as you"}},
				PreAuthorizedApplications:  []config.EntraPreAuthorized{{AppID: cliID, Scopes: []string{"access_as_user"}}},
			},
			{
				Name: "Weather CLI", ClientID: cliID, PublicClient: true, RedirectURIs: []string{"http://localhost"},
				RequiredResourceAccess: []config.EntraRequiredAccess{{Resource: "api://weather-mcp", Scopes: []string{"access_as_user"}}},
			},
		},
	}
}

// connectorDirectory is a Copilot Studio custom connector's app registration: it exposes
// access_as_user, has a secret and the Power Platform redirect URL, and pre-authorizes
// Azure API Connections.
func connectorDirectory() *config.Entra {
	return &config.Entra{
		Tenants: []config.EntraTenant{{ID: tenantID}},
		Apps: []config.EntraApp{{
			Name: "Weather connector", ClientID: connectorID, IdentifierURIs: []string{"api://" + connectorID},
			AccessTokenAcceptedVersion: 2,
			RedirectURIs:               []string{doctor.PowerPlatformRedirectURI},
			Secrets:                    []config.EntraSecret{{Value: "s3cret", Expires: "2028-01-31"}},
			Scopes:                     []config.EntraScope{{Value: "access_as_user"}},
			PreAuthorizedApplications:  []config.EntraPreAuthorized{{AppID: doctor.AzureAPIConnectionsAppID, Scopes: []string{"access_as_user"}}},
			RequiredResourceAccess:     []config.EntraRequiredAccess{{Resource: "Microsoft Graph", Scopes: []string{"User.Read"}}},
		}},
	}
}

// export returns the Graph JSON of the app named name, as the emulator exports it.
func export(t *testing.T, c *config.Entra, name string) []byte {
	t.Helper()
	apps, err := entraemulator.ExportApplications(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range apps {
		if a.DisplayName == name {
			b, err := json.MarshalIndent(a, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
	}
	t.Fatalf("no app %q", name)
	return nil
}

func appOf(c *config.Entra, name string) *config.EntraApp {
	for i := range c.Apps {
		if c.Apps[i].Name == name {
			return &c.Apps[i]
		}
	}
	panic("no app " + name)
}

func TestCheckEntraAppsMatrix(t *testing.T) {
	cases := []struct {
		name string
		// build changes the healthy directory (nil: connector is used instead).
		build     func(c *config.Entra)
		connector bool
		versions  []int
		fail      []string // steps that must fail, the others not
		warn      []string // steps that must warn, the others not
		fix       string   // a fix of a failed (else warned) step contains this
	}{
		{name: "healthy API and client", build: func(*config.Entra) {}, versions: []int{2}},
		{name: "v1 tokens with a v2-configured gateway", build: func(c *config.Entra) {
			appOf(c, "Weather MCP API").AccessTokenAcceptedVersion = 0
		}, versions: []int{2}, fail: []string{doctor.StepAccessTokenVersion}, fix: "api.requestedAccessTokenVersion to 2"},
		{name: "admin-only scope and a client that is not pre-authorized (second user)", build: func(c *config.Entra) {
			a := appOf(c, "Weather MCP API")
			a.Scopes[0].AdminConsentRequired = true
			a.PreAuthorizedApplications = nil
		}, fail: []string{doctor.StepConsent}, fix: "knownClientApplications"},
		{name: "expired client secret", build: func(c *config.Entra) {
			cl := appOf(c, "Weather CLI")
			cl.PublicClient = false
			cl.RedirectURIs = []string{"https://weather.example.com/callback"}
			cl.Secrets = []config.EntraSecret{{Value: "old", Expires: "2027-02-01"}}
		}, fail: []string{doctor.StepCredentials + "/app"}, fix: "New client secret"},
		{name: "client secret expiring in 12 days", build: func(c *config.Entra) {
			cl := appOf(c, "Weather CLI")
			cl.PublicClient = false
			cl.RedirectURIs = []string{"https://weather.example.com/callback"}
			cl.Secrets = []config.EntraSecret{{Value: "soon", Expires: "2027-03-13T12:00:00Z"}}
		}, warn: []string{doctor.StepCredentials + "/app"}, fix: "before then"},
		{name: "loopback redirect URI on the web platform", build: func(c *config.Entra) {
			appOf(c, "Weather CLI").PublicClient = false
		}, fail: []string{doctor.StepRedirectURIs}, fix: "--public-client-redirect-uris http://localhost"},
		{name: "scope requested by the client not exposed by the API", build: func(c *config.Entra) {
			appOf(c, "Weather CLI").RequiredResourceAccess[0].Scopes = []string{"access_as_user", "Forecast.Write"}
		}, fail: []string{doctor.StepRequiredAccess}, fix: "Add a scope"},
		{name: "implicit grant on", build: func(c *config.Entra) {
			cl := appOf(c, "Weather CLI")
			cl.SPARedirectURIs = []string{"https://weather.example.com/spa"}
			cl.ImplicitGrant = []string{"accessToken", "idToken"}
		}, warn: []string{doctor.StepImplicitGrant}, fix: "Implicit grant"},
		{name: "healthy Copilot Studio connector", connector: true},
		{name: "Copilot Studio connector without Azure API Connections authorized", connector: true, build: func(c *config.Entra) {
			c.Apps[0].PreAuthorizedApplications = nil
		}, fail: []string{doctor.StepCopilotConnector}, fix: doctor.AzureAPIConnectionsAppID},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var r *doctor.Report
			if tc.connector {
				c := connectorDirectory()
				if tc.build != nil {
					tc.build(c)
				}
				r = doctor.CheckEntraApps("connector.json", export(t, c, "Weather connector"), "", nil, doctor.EntraAppOptions{Now: entraNow})
			} else {
				c := healthyDirectory()
				tc.build(c)
				r = doctor.CheckEntraApps("app.json", export(t, c, "Weather CLI"), "api.json", export(t, c, "Weather MCP API"),
					doctor.EntraAppOptions{Now: entraNow, Versions: tc.versions})
			}
			out := dump(r)
			for _, s := range r.Steps {
				wantFail, wantWarn := contains(tc.fail, s.ID), contains(tc.warn, s.ID)
				switch {
				case s.Status == doctor.StatusFail && !wantFail, s.Status == doctor.StatusWarn && !wantWarn:
					t.Errorf("step %s is %s, want it ok:\n%s", s.ID, s.Status, out)
				case wantFail && s.Status != doctor.StatusFail, wantWarn && s.Status != doctor.StatusWarn:
					t.Errorf("step %s is %s, want it %s:\n%s", s.ID, s.Status, map[bool]string{true: "failed", false: "warned"}[wantFail], out)
				}
				if (wantFail || wantWarn) && !strings.Contains(s.Fix, tc.fix) {
					t.Errorf("step %s: fix %q does not contain %q", s.ID, s.Fix, tc.fix)
				}
			}
			for _, id := range append(append([]string{}, tc.fail...), tc.warn...) {
				if r.Step(id) == nil {
					t.Errorf("no step %s:\n%s", id, out)
				}
			}
			if r.Failed() != (len(tc.fail) > 0) {
				t.Errorf("Failed() = %v:\n%s", r.Failed(), out)
			}
			golden(t, r, "")
		})
	}
}

// The second-user case names all three fixes.
func TestCheckEntraAppsSecondUserFixes(t *testing.T) {
	c := healthyDirectory()
	a := appOf(c, "Weather MCP API")
	a.Scopes[0].AdminConsentRequired = true
	a.PreAuthorizedApplications = nil
	r := doctor.CheckEntraApps("app.json", export(t, c, "Weather CLI"), "api.json", export(t, c, "Weather MCP API"), doctor.EntraAppOptions{Now: entraNow})
	s := r.Step(doctor.StepConsent)
	if s == nil || s.Status != doctor.StatusFail {
		t.Fatalf("consent: %+v\n%s", s, dump(r))
	}
	for _, want := range []string{"admin consent", "Add a client application: " + cliID, "knownClientApplications", "api://weather-mcp/.default", "second user"} {
		if !strings.Contains(s.Finding+" "+s.Fix, want) {
			t.Errorf("consent step lacks %q: %+v", want, s)
		}
	}
}

// --json of a broken setup, compared with testdata.
func TestCheckEntraAppsJSON(t *testing.T) {
	c := healthyDirectory()
	appOf(c, "Weather MCP API").AccessTokenAcceptedVersion = 0
	appOf(c, "Weather CLI").PublicClient = false
	r := doctor.CheckEntraApps("app.json", export(t, c, "Weather CLI"), "api.json", export(t, c, "Weather MCP API"),
		doctor.EntraAppOptions{Now: entraNow, Versions: []int{2}})
	var b strings.Builder
	if err := r.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join("testdata", "testcheckentraappsjson.json")
	if *update {
		if err := os.WriteFile(file, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/doctor -update)", err)
	}
	if b.String() != string(want) {
		t.Errorf("--json differs from %s:\n%s", file, b.String())
	}
}

// The legacy (Azure AD Graph) manifest form reads the same: accessTokenAcceptedVersion,
// oauth2Permissions, preAuthorizedApplications.permissionIds, replyUrlsWithType,
// oauth2AllowImplicitFlow, passwordCredentials.endDate.
func TestCheckEntraAppsLegacyManifest(t *testing.T) {
	const scopeID = "3a1b0000-0000-4000-8000-000000000001"
	api := `{"appId":"` + apiID + `","name":"Legacy API","identifierUris":["api://legacy"],"accessTokenAcceptedVersion":1,
	  "oauth2Permissions":[{"id":"` + scopeID + `","value":"access_as_user","type":"User","isEnabled":true}],
	  "preAuthorizedApplications":[{"appId":"` + cliID + `","permissionIds":["` + scopeID + `"]}]}`
	cli := `{"appId":"` + cliID + `","name":"Legacy CLI","replyUrlsWithType":[{"url":"http://localhost","type":"Web"}],
	  "oauth2AllowImplicitFlow":true,
	  "requiredResourceAccess":[{"resourceAppId":"` + apiID + `","resourceAccess":[{"id":"` + scopeID + `","type":"Scope"}]}],
	  "passwordCredentials":[{"customKeyIdentifier":null,"endDate":"2027-01-01T00:00:00Z","keyId":"k"}]}`
	r := doctor.CheckEntraApps("app.json", []byte(cli), "api.json", []byte(`{"value":[`+api+`]}`), doctor.EntraAppOptions{Now: entraNow, Versions: []int{2}})
	want := map[string]doctor.Status{
		doctor.StepAccessTokenVersion: doctor.StatusFail, doctor.StepConsent: doctor.StatusOK,
		doctor.StepRequiredAccess: doctor.StatusOK, doctor.StepImplicitGrant: doctor.StatusWarn,
		doctor.StepCredentials + "/app": doctor.StatusFail, doctor.StepRedirectURIs: doctor.StatusOK,
	}
	for id, st := range want {
		if s := r.Step(id); s == nil || s.Status != st {
			t.Errorf("step %s = %+v, want %s\n%s", id, s, st, dump(r))
		}
	}
}
