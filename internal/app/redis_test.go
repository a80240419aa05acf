package app_test

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/mcpgate/mcpgate/internal/cli"
	"github.com/mcpgate/mcpgate/internal/testutil"
)

// TestReplicasShareRateLimitThroughRedis: two `mcpgate serve` replicas with the same
// store.redis admit, together, exactly the route's limit; without Redis each would admit
// its own.
func TestReplicasShareRateLimitThroughRedis(t *testing.T) {
	addr := testutil.RedisAddr(t)
	up := upstream(t)
	var b [6]byte
	_, _ = rand.Read(b[:])
	route := "shared-" + hex.EncodeToString(b[:]) // a bucket of its own in a Redis other runs share
	cfg := `
listen: $ADDR
publicURL: http://$ADDR
store: {memory: {}, redis: {addr: "` + addr + `"}}
log: {level: error}
routes:
  - name: ` + route + `
    path: /weather/mcp
    upstream: {url: ` + up + `}
    auth: {mode: permissive}
    rateLimit: {perRoute: {requests: 5, per: 1h}}
`
	replicas := []string{serve(t, cfg, nil), serve(t, cfg, nil)}
	ok, limited := 0, 0
	for i := range 12 {
		resp, _ := ping(t, replicas[i%2]+"/weather/mcp")
		switch resp.StatusCode {
		case http.StatusOK:
			ok++
		case http.StatusTooManyRequests:
			limited++
			if resp.Header.Get("Retry-After") == "" {
				t.Fatal("429 without Retry-After")
			}
		default:
			t.Fatalf("request %d on replica %d: status %d", i, i%2, resp.StatusCode)
		}
	}
	if ok != 5 || limited != 7 {
		t.Fatalf("admitted %d and limited %d of 12 across two replicas; want 5 and 7 (one shared bucket of 5)", ok, limited)
	}
}

// TestReplicasShareExchangedTokensThroughRedis: a client-credentials token obtained by
// one replica is reused by another through store.redis (sealed), so the upstream sees the
// same token from both; without keys to seal it, such a configuration is refused.
func TestReplicasShareExchangedTokensThroughRedis(t *testing.T) {
	addr := testutil.RedisAddr(t)
	const tenant = "7a1e5f00-0000-4000-8000-00000000c0de"
	var mu sync.Mutex
	var seen []string
	rec := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Get("Authorization"))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"jsonrpc":"2.0","id":1,"result":{}}`)
	}))
	defer rec.Close()
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	env := map[string]string{"DAEMON_SECRET": "s3cret-daemon-value", "MCPGATE_SECRET_KEYS": "k1:" + base64.StdEncoding.EncodeToString(key)}
	entraYAML := `
entra:
  tenants: [{id: ` + tenant + `, adminConsent: [Daemon]}]
  apps:
    - {name: Files API, clientId: 6e5d1a7a-0000-4000-8000-0000000000a1, identifierUris: ["api://files"], accessTokenAcceptedVersion: 2,
       appRoles: [{value: Files.Read, allowedMemberTypes: [Application]}]}
    - {name: Daemon, clientId: 0c11e470-0000-4000-8000-0000000000d1, secrets: [{value: "${DAEMON_SECRET}"}],
       requiredResourceAccess: [{resource: "api://files", roles: [Files.Read]}]}
`
	route := func(tokenURL string) string {
		return `
store: {memory: {}, redis: {addr: "` + addr + `"}}
log: {level: error}
routes:
  - name: files
    path: /files/mcp
    upstream: {url: ` + rec.URL + `}
    auth: {mode: permissive}
    upstreamAuth:
      clientCredentials: {tokenURL: "` + tokenURL + `", clientId: 0c11e470-0000-4000-8000-0000000000d1, clientSecret: "${DAEMON_SECRET}", scopes: ["api://files/.default"]}
`
	}
	a := serve(t, "listen: $ADDR\npublicURL: http://$ADDR\n"+entraYAML+route("http://$ADDR/entra/"+tenant+"/oauth2/v2.0/token"), env)
	b := serve(t, "listen: $ADDR\npublicURL: http://$ADDR\n"+route(a+"/entra/"+tenant+"/oauth2/v2.0/token"), env)
	for _, base := range []string{a, b, a} {
		resp, body := ping(t, base+"/files/mcp")
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", base, resp.StatusCode, body)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 3 || !strings.HasPrefix(seen[0], "Bearer ey") || seen[1] != seen[0] || seen[2] != seen[0] {
		t.Fatalf("the upstream saw %d requests; replica B should have sent replica A's cached token (same value every time)", len(seen))
	}

	// Without keys, exchanged tokens would sit in Redis in clear: refused at start.
	t.Setenv("MCPGATE_SECRET_KEYS", "")
	dir := t.TempDir()
	file := filepath.Join(dir, "mcpgate.yaml")
	if err := os.WriteFile(file, []byte("listen: 127.0.0.1:0\n"+route(a+"/entra/"+tenant+"/oauth2/v2.0/token")), 0o600); err != nil {
		t.Fatal(err)
	}
	var errOut strings.Builder
	root := cli.NewRoot(strings.NewReader(""), io.Discard, &errOut)
	root.SetArgs([]string{"serve", "--config", file})
	err := root.ExecuteContext(t.Context())
	if err == nil || !strings.Contains(err.Error(), "store.redis") || !strings.Contains(err.Error(), "MCPGATE_SECRET_KEYS") {
		t.Fatalf("serve without keys: %v (stderr %q); want an error naming store.redis and MCPGATE_SECRET_KEYS", err, errOut.String())
	}
}

// ping posts a JSON-RPC ping to an MCP URL and returns the response and its body.
func ping(t *testing.T, mcpURL string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, mcpURL, strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"ping"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}
