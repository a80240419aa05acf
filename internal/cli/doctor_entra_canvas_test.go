package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mcpgate/mcpgate/internal/authserver/entraemulator"
	"github.com/mcpgate/mcpgate/internal/demo"
)

// TestDoctorEntraCanvas: the web-canvas scenario's two registrations, as `mcpgate demo`
// builds them and the emulator exports them (Microsoft Graph JSON), diagnosed by mcpgate
// doctor entra --app <canvas> --api <agent>. With the canvas an authorized client of the
// agent's scope, consent is fine; without (the demo's fallback case), the doctor names the
// missing api.preAuthorizedApplications entry and says the canvas falls back to the card.
func TestDoctorEntraCanvas(t *testing.T) {
	for _, tc := range []struct {
		name       string
		authorized bool
		want       []string
	}{
		{name: "authorized", authorized: true, want: []string{"✓ consent", "is pre-authorized for agent.chat"}},
		{name: "not authorized", want: []string{"! consent", "(a single-page app) is not an authorized client application of \"mcpgate demo agent\" for agent.chat",
			"falls back to the sign-in card", `{"appId":"` + demo.CanvasAppID + `","delegatedPermissionIds":["`, "api.preAuthorizedApplications"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := "1"
			if tc.authorized {
				v = ""
			}
			t.Setenv(demo.CanvasUnauthorizedEnv, v)
			dir := t.TempDir()
			cfg := demo.Config("127.0.0.1:8443", "https://127.0.0.1:8443", dir, map[string]string{"whoami": "http://127.0.0.1:9001/mcp"}, nil, demo.Secrets{})
			apps, err := entraemulator.ExportApplications(cfg.Entra)
			if err != nil {
				t.Fatal(err)
			}
			files := map[string]string{}
			for _, a := range apps {
				b, _ := json.Marshal(a)
				f := filepath.Join(dir, a.AppID+".json")
				os.WriteFile(f, b, 0o600)
				files[a.DisplayName] = f
			}
			out, _ := runDoctor("", "entra", "--app", files["Contoso web canvas"], "--api", files["mcpgate demo agent"])
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}
