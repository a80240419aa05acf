package authn

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/internal/testutil"
)

// TestInteropOIDCProvider verifies access tokens issued by a real OpenID Connect provider
// (panva/oidc-provider, npm) through OIDC discovery: client credentials with a resource
// indicator (RFC 8707) gives a JWT access token whose aud is the route's resource.
func TestInteropOIDCProvider(t *testing.T) {
	if testing.Short() {
		t.Skip("interop test")
	}
	nodeDir := testutil.NodeModules(t)
	lib := filepath.Join(nodeDir, "node_modules", "oidc-provider", "lib", "index.js")
	for _, alg := range []string{"RS256", "ES256"} {
		t.Run(alg, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, "node", filepath.Join("testdata", "oidc-provider.mjs"), lib, testAud, alg)
			cmd.Stderr = t.Output()
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				testutil.Unavailable(t, "starting node: %v", err)
			}
			t.Cleanup(func() { cancel(); _ = cmd.Wait() })
			line, err := bufio.NewReader(stdout).ReadString('\n')
			if err != nil {
				t.Fatalf("oidc-provider did not start: %v", err)
			}
			var hello struct{ Issuer string }
			if err := json.Unmarshal([]byte(line), &hello); err != nil || !strings.HasPrefix(hello.Issuer, "http://127.0.0.1:") {
				t.Fatalf("oidc-provider said %q", line)
			}

			form := url.Values{"grant_type": {"client_credentials"}, "scope": {"mcp.tools"}, "resource": {testAud}}
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, hello.Issuer+"/token", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth("gw-test", "gw-test-secret")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var tr struct {
				AccessToken string `json:"access_token"`
				Error       string `json:"error"`
				Description string `json:"error_description"`
			}
			_ = json.NewDecoder(resp.Body).Decode(&tr)
			resp.Body.Close()
			if tr.AccessToken == "" {
				t.Fatalf("no access token: %s %s", tr.Error, tr.Description)
			}

			reg := newTestRegistry(t, []Issuer{{Name: "op", Issuer: hello.Issuer}}, Options{})
			if err := reg.WaitReady(ctx); err != nil {
				t.Fatalf("discovery + JWKS: %v", err)
			}
			v := mustVerifier(t, reg, []string{"op"}, []string{testAud})
			p, err := v.Verify(ctx, tr.AccessToken)
			if err != nil {
				t.Fatalf("token from oidc-provider rejected: %v", err)
			}
			if p.ClientID != "gw-test" || !slices.Contains(p.Scopes, "mcp.tools") || p.Issuer != hello.Issuer {
				t.Fatalf("principal: client %q scopes %q iss %q", p.ClientID, p.Scopes, p.Issuer)
			}
			other := mustVerifier(t, reg, []string{"op"}, []string{"https://gw.example.com/other/mcp"})
			_, err = other.Verify(ctx, tr.AccessToken)
			wantReject(t, err, ReasonWrongAudience, tr.AccessToken)
		})
	}
}
