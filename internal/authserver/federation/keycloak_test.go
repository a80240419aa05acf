package federation_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/internal/authn"
	"github.com/mcpgate/mcpgate/internal/config"
	"github.com/mcpgate/mcpgate/internal/testutil"
)

const (
	kcSecret  = "kc-mcpgate-secret-51f0"
	kcCarol   = "6f1c2a8e-5b1d-4c1e-9a77-0000000ca201"
	kcWeather = "https://weather.example.test"
)

// startKeycloakLike runs testdata/keycloak-like.mjs (oidc-provider from npm, set up with
// Keycloak's paths and claims) and returns its issuer.
func startKeycloakLike(t *testing.T, redirectURI string) string {
	t.Helper()
	return startNodeIdP(t, "keycloak-like.mjs", redirectURI)
}

// startNodeIdP runs an oidc-provider script of testdata and returns the issuer it announces.
func startNodeIdP(t *testing.T, script, redirectURI string) string {
	t.Helper()
	nm := filepath.Join(testutil.NodeModules(t), "node_modules")
	if _, err := os.Stat(filepath.Join(nm, "oidc-provider")); err != nil {
		testutil.Unavailable(t, "oidc-provider is not installed in test/node")
	}
	cmd := exec.Command("node", filepath.Join("testdata", script))
	cmd.Env = append(os.Environ(), "NODE_MODULES_DIR="+nm, "REDIRECT_URI="+redirectURI, "WEATHER="+kcWeather, "AT_TTL=300")
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = t.Output()
	if err := cmd.Start(); err != nil {
		testutil.Unavailable(t, "starting node: %v", err)
	}
	t.Cleanup(func() {
		stdin.Close()
		cmd.Process.Kill()
		cmd.Wait()
	})
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		io.Copy(io.Discard, stdout)
	}()
	select {
	case l, ok := <-lines:
		if !ok {
			t.Fatal("oidc-provider exited before announcing its issuer")
		}
		var v struct{ Issuer string }
		if err := json.Unmarshal([]byte(l), &v); err != nil || !strings.HasPrefix(v.Issuer, "http://127.0.0.1:") {
			t.Fatalf("oidc-provider said %q", l)
		}
		return v.Issuer
	case <-time.After(30 * time.Second):
		t.Fatal("oidc-provider did not start within 30s")
	}
	return ""
}

// TestBridgeKeycloakLike is issue 8's done-when (b): the go-sdk MCP client signs in through
// mcpgate bridged to an OpenID provider mcpgate did not write (oidc-provider, configured
// like a Keycloak realm), with discovery, a confidential client, PKCE, Keycloak-shaped
// claims and group/role mapping; then calls a tool whose upstream gets a token exchanged
// (RFC 8693, as Keycloak does it) from the user's upstream token.
func TestBridgeKeycloakLike(t *testing.T) {
	logs := &syncBuffer{}
	front := newLazyServer(t)
	issuer := startKeycloakLike(t, front.URL+"/login/callback")
	reg, err := authn.NewRegistry(context.Background(), []config.Issuer{{Name: "kc", Issuer: issuer, JWKSURL: issuer + "/protocol/openid-connect/certs"}}, authn.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	wv, _ := reg.Verifier([]string{"kc"}, []string{kcWeather})
	e := newMCPGate(t, front, "testdata/mcpgate-keycloak.yaml", map[string]string{"KC_ISSUER": issuer, "KC_CLIENT_SECRET": kcSecret,
		"WEATHER_URL": weatherServer(t, wv)}, logs, nil)

	b := newBrowser(t, "http://127.0.0.1:5555/callback")
	sess, h := mcpClient(t, e.resource, b, "keycloak e2e")
	text := callWhoami(t, sess)
	if !strings.Contains(text, "aud="+kcWeather+" ") || !strings.Contains(text, "sub="+kcCarol+" ") || !strings.Contains(text, "scp=weather.read") {
		t.Fatalf("upstream saw %q; want a Weather API token for carol (%s)", text, kcCarol)
	}
	ts, _ := h.TokenSource(context.Background())
	tok, err := ts.Token()
	if err != nil {
		t.Fatal(err)
	}
	c, _, err := e.as.VerifyAccessToken(context.Background(), tok.AccessToken, e.resource)
	if err != nil {
		t.Fatal(err)
	}
	groups := slices.Clone(c.Groups)
	slices.Sort(groups)
	if c.Subject != "keycloak:"+kcCarol || c.Email != "carol@example.org" || c.Name != "Carol Keycloak" || strings.Join(groups, ",") != "admins,mcp-users" {
		t.Fatalf("mcpgate token: sub=%q email=%q name=%q groups=%v; want keycloak:%s, carol@example.org, mapped groups [admins mcp-users]",
			c.Subject, c.Email, c.Name, c.Groups, kcCarol)
	}

	// The stored refresh token renews the upstream token once it is about to expire.
	conn := e.fed.For(c.Subject)
	before, err := conn.UpstreamToken(context.Background(), c.Subject)
	if err != nil {
		t.Fatal(err)
	}
	e.clock.advance(10 * time.Minute)
	after, err := conn.UpstreamToken(context.Background(), c.Subject)
	if err != nil || after == before {
		t.Fatalf("refresh at oidc-provider: err=%v same=%v", err, after == before)
	}
}
