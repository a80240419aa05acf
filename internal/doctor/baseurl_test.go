package doctor_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/mcpgate/mcpgate/internal/config"
	"github.com/mcpgate/mcpgate/internal/doctor"
)

// TestTargetResourceMatchesApp: the resource doctor derives from a configuration is the
// gateway's (config.BaseURL plus the route path).
func TestTargetResourceMatchesApp(t *testing.T) {
	for _, head := range []string{
		"publicURL: https://mcp.example.com/\n",
		"listen: \":8080\"\n",
		"listen: 0.0.0.0:8080\n",
		"listen: 10.0.0.5:80\n",
	} {
		f := filepath.Join(t.TempDir(), "mcpgate.yaml")
		yaml := head + `store: {memory: {}}
issuers:
  - {name: corp, issuer: https://idp.example.com, jwks: '{"keys":[]}'}
routes:
  - {name: r, path: /r/mcp, upstream: {url: http://127.0.0.1:9/mcp}, auth: {issuers: [corp]}}
`
		if err := os.WriteFile(f, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, _, err := config.Load(f)
		if err != nil {
			t.Fatalf("%s: %v", head, err)
		}
		target, err := doctor.TargetFromConfig(context.Background(), f, "", nil, doctor.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if want := cfg.BaseURL() + "/r/mcp"; target.Resource != want {
			t.Errorf("%s: resource %q, the gateway's is %q", head, target.Resource, want)
		}
	}
}
