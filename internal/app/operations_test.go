package app_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpgate/mcpgate/internal/app"
	"github.com/mcpgate/mcpgate/internal/authserver"
	"github.com/mcpgate/mcpgate/internal/cli"
	"github.com/mcpgate/mcpgate/internal/client"
	"github.com/mcpgate/mcpgate/internal/config"
	"github.com/mcpgate/mcpgate/internal/testutil"
)

// signIn signs a user in with mcpgate's client (DCR, login, consent, PKCE) and connects
// an MCP client session to mcpURL with the token.
func signIn(ctx context.Context, t *testing.T, mcpURL, user, password string) (*client.Client, *mcp.ClientSession) {
	t.Helper()
	person := &testutil.Person{Username: user, Password: password}
	c, err := client.New(client.Options{ServerURL: mcpURL, CacheDir: t.TempDir(), Prompt: io.Discard,
		OpenURL: func(ctx context.Context, u string) error { _, err := person.Authorize(ctx, u); return err }})
	if err != nil {
		t.Fatal(err)
	}
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "t", Version: "1"}, nil).Connect(ctx,
		&mcp.StreamableClientTransport{Endpoint: mcpURL, HTTPClient: c.HTTPClient(), DisableStandaloneSSE: true}, nil)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { cs.Close() })
	return c, cs
}

// freeAddr returns a loopback address nobody listens on right now.
func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func getText(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// metricValue sums the samples of a metric whose labels include every given pair.
func metricValue(text, name string, labels ...string) float64 {
	sum := 0.0
	re := regexp.MustCompile(`^` + regexp.QuoteMeta(name) + `(\{[^}]*\})? ([0-9.e+-]+)$`)
	for l := range strings.SplitSeq(text, "\n") {
		m := re.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		ok := true
		for _, lv := range labels {
			if !strings.Contains(m[1], lv) {
				ok = false
			}
		}
		if ok {
			v, _ := strconv.ParseFloat(m[2], 64)
			sum += v
		}
	}
	return sum
}

// A scripted sign-in, tool calls, a policy denial and an unauthenticated request move
// the counters on the admin listener's /metrics; /livez and /readyz answer there.
func TestAdminListenerAndMetrics(t *testing.T) {
	up := upstream(t)
	hash, err := authserver.HashPassword("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	admin := freeAddr(t)
	base := serve(t, `
listen: $ADDR
publicURL: http://$ADDR
admin: {listen: `+admin+`, drainDelay: 0s}
store: {sqlite: {path: $DIR/mcpgate.db}}
log: {level: warn}
authServer:
  allowInsecureHTTP: true
  users:
    - {username: carol, email: carol@example.com, passwordHash: "${CAROL_HASH}", groups: [ops]}
routes:
  - name: weather
    path: /weather/mcp
    upstream: {url: `+up+`}
    policy:
      rules:
        - {name: no-admin-tool, allow: 'mcp.tool != "admin_tool"'}
`, map[string]string{"CAROL_HASH": hash})
	adminURL := "http://" + admin
	// serve waits for the public port only; the admin listener starts beside it.
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if c, err := net.DialTimeout("tcp", admin, time.Second); err == nil {
			c.Close()
			break
		}
	}
	if code, _ := getText(t, adminURL+"/livez"); code != 200 {
		t.Fatalf("/livez = %d", code)
	}
	code, body := getText(t, adminURL+"/readyz")
	if code != 200 || !strings.Contains(body, `"name":"store","ok":true`) || !strings.Contains(body, `"name":"signing_keys","ok":true`) {
		t.Fatalf("/readyz = %d %s", code, body)
	}
	// The public port serves neither.
	if code, _ := getText(t, base+"/metrics"); code == 200 {
		t.Error("/metrics is served on the public port")
	}

	mcpURL := base + "/weather/mcp"
	resp, err := http.Post(mcpURL, "application/json", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"ping"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, cs := signIn(ctx, t, mcpURL, "carol", "correct horse")
	for range 2 {
		if res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "get_forecast", Arguments: map[string]any{"city": "Oslo"}}); err != nil || res.IsError {
			t.Fatalf("get_forecast: %v", err)
		}
	}
	if _, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "admin_tool", Arguments: map[string]any{}}); err == nil {
		t.Fatal("admin_tool was not denied")
	}
	tok, err := c.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}

	checks := []struct {
		name   string
		labels []string
		min    float64
	}{
		{"mcpgate_requests_total", []string{`route="weather"`, `method="POST"`, `code="200"`, `decision="allow"`}, 3},
		{"mcpgate_requests_total", []string{`route="weather"`, `code="401"`}, 1},
		{"mcpgate_token_verifications_total", []string{`route="weather"`, `result="valid"`}, 4},
		{"mcpgate_token_verifications_total", []string{`route="weather"`, `result="missing"`}, 1},
		{"mcpgate_policy_decisions_total", []string{`route="weather"`, `decision="deny"`}, 1},
		{"mcpgate_policy_decisions_total", []string{`route="weather"`, `decision="allow"`}, 3},
		{"mcpgate_upstream_duration_seconds_count", []string{`route="weather"`}, 3},
		{"mcpgate_request_duration_seconds_count", []string{`route="weather"`, `method="POST"`}, 4},
		{"mcpgate_signins_total", []string{`connector="local"`, `result="ok"`}, 1},
		{"mcpgate_token_responses_total", []string{`grant_type="authorization_code"`, `code="200"`}, 1},
		{"go_goroutines", nil, 1},
	}
	// Requests are counted when they end, after the client has its response: wait for the
	// last ones (a 2026-07-28 client sends no notifications/initialized to spare).
	var text string
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		_, text = getText(t, adminURL+"/metrics")
		short := false
		for _, c := range checks {
			short = short || metricValue(text, c.name, c.labels...) < c.min
		}
		if !short || time.Now().After(deadline) {
			break
		}
	}
	for _, c := range checks {
		if v := metricValue(text, c.name, c.labels...); v < c.min {
			t.Errorf("%s%v = %v, want at least %v", c.name, c.labels, v, c.min)
		}
	}
	for _, secret := range []string{"carol", tok.AccessToken[:20], "Oslo"} {
		if strings.Contains(text, secret) {
			t.Errorf("/metrics contains %q", secret)
		}
	}
}

// On shutdown, /readyz turns to 503 "draining" while the public port still serves, for
// admin.drainDelay; then the listener closes.
func TestDrainTurnsReadinessFirst(t *testing.T) {
	up := upstream(t)
	addr, admin := freeAddr(t), freeAddr(t)
	cfg, _, err := config.Parse("mcpgate.yaml", []byte(`
listen: `+addr+`
admin: {listen: `+admin+`, drainDelay: 1500ms}
log: {level: warn}
routes:
  - {name: weather, path: /weather/mcp, upstream: {url: `+up+`}, auth: {mode: permissive}}
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.New(context.Background(), cfg, app.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, ln) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if code, _ := tryGet("http://" + admin + "/readyz"); code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("never ready")
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	time.Sleep(200 * time.Millisecond)
	if code, body := tryGet("http://" + admin + "/readyz"); code != 503 || !strings.Contains(body, "draining") {
		t.Fatalf("/readyz after SIGTERM = %d %s", code, body)
	}
	resp, err := http.Post("http://"+addr+"/weather/mcp", "application/json", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"ping"}`))
	if err != nil {
		t.Fatalf("the public port stopped before the drain delay: %v", err)
	}
	resp.Body.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after the drain delay")
	}
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Error("the public port still accepts after shutdown")
	}
}

func tryGet(url string) (int, string) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// PostgreSQL goes away while serving: tool calls with tokens already issued keep working,
// /readyz names the store, and both recover without a restart.
func TestDatabaseOutageWhileServing(t *testing.T) {
	dsn := testutil.PostgresDSN(t)
	adminDB, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer adminDB.Close()
	role := fmt.Sprintf("mcpgate_ops_%d", time.Now().UnixNano()%1_000_000_000)
	for _, q := range []string{`CREATE ROLE ` + role + ` LOGIN`, `CREATE SCHEMA ` + role + ` AUTHORIZATION ` + role} {
		if _, err := adminDB.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		adminDB.Exec(`ALTER ROLE ` + role + ` LOGIN`)
		adminDB.Exec(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1`, role)
		adminDB.Exec(`DROP SCHEMA ` + role + ` CASCADE`)
		adminDB.Exec(`DROP ROLE ` + role)
	})
	u, _ := url.Parse(dsn)
	u.User = url.User(role)
	q := u.Query()
	q.Set("search_path", role)
	u.RawQuery = q.Encode()

	up := upstream(t)
	hash, err := authserver.HashPassword("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	adminAddr := freeAddr(t)
	base := serve(t, `
listen: $ADDR
publicURL: http://$ADDR
admin: {listen: `+adminAddr+`, drainDelay: 0s}
store: {postgres: {dsn: "${PG_DSN}"}}
log: {level: error}
authServer:
  allowInsecureHTTP: true
  users:
    - {username: carol, email: carol@example.com, passwordHash: "${CAROL_HASH}"}
routes:
  - {name: weather, path: /weather/mcp, upstream: {url: `+up+`}}
`, map[string]string{"CAROL_HASH": hash, "PG_DSN": u.String()})
	readyz := "http://" + adminAddr + "/readyz"
	if code, body := getText(t, readyz); code != 200 {
		t.Fatalf("/readyz before the outage = %d %s", code, body)
	}
	mcpURL := base + "/weather/mcp"
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, cs := signIn(ctx, t, mcpURL, "carol", "correct horse")
	call := func() error {
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "get_forecast", Arguments: map[string]any{"city": "Oslo"}})
		if err == nil && res.IsError {
			err = fmt.Errorf("tool error")
		}
		return err
	}
	if err := call(); err != nil {
		t.Fatal(err)
	}

	// The outage: the role may no longer log in, its connections are cut.
	if _, err := adminDB.Exec(`ALTER ROLE ` + role + ` NOLOGIN`); err != nil {
		t.Fatal(err)
	}
	if _, err := adminDB.Exec(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1`, role); err != nil {
		t.Fatal(err)
	}
	code, body := getText(t, readyz)
	if code != 503 || !strings.Contains(body, `"name":"store","ok":false`) {
		t.Errorf("/readyz during the outage = %d %s", code, body)
	}
	for i := range 5 {
		if err := call(); err != nil {
			t.Fatalf("tool call %d during the outage: %v", i, err)
		}
	}

	if _, err := adminDB.Exec(`ALTER ROLE ` + role + ` LOGIN`); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		code, body = getText(t, readyz)
		if code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz after recovery = %d %s", code, body)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err := call(); err != nil {
		t.Fatalf("tool call after recovery: %v", err)
	}
}

// TestHelperServe is not a test: TestAuditAfterKill runs this test binary again as a
// separate mcpgate serve process (MCPGATE_TEST_SERVE_CONFIG names its configuration), so
// that it can kill it.
func TestHelperServe(t *testing.T) {
	file := os.Getenv("MCPGATE_TEST_SERVE_CONFIG")
	if file == "" {
		t.Skip("helper process only")
	}
	root := cli.NewRoot(strings.NewReader(""), io.Discard, os.Stderr)
	root.SetArgs([]string{"serve", "--config", file})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
}

// A replica killed (SIGKILL) while a tool call is at the upstream leaves the call on
// record: the next start writes it to the audit trail as interrupted.
func TestAuditAfterKill(t *testing.T) {
	reached := make(chan string, 4)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if strings.Contains(string(b), `"tools/call"`) {
			reached <- string(b)
			<-r.Context().Done() // the call never finishes: the gateway dies first
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"jsonrpc":"2.0","id":1,"result":{}}`)
	}))
	defer up.Close()
	dir := t.TempDir()
	addr := freeAddr(t)
	cfgFile := filepath.Join(dir, "mcpgate.yaml")
	yaml := `listen: ` + addr + `
admin: {listen: "off"}
log: {level: warn}
store: {sqlite: {path: ` + filepath.Join(dir, "mcpgate.db") + `}}
audit: {file: {path: ` + filepath.Join(dir, "audit.log") + `}}
routes:
  - {name: bank, path: /bank/mcp, upstream: {url: ` + up.URL + `}, auth: {mode: permissive}}
`
	if err := os.WriteFile(cfgFile, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	start := func() *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperServe$")
		cmd.Env = append(os.Environ(), "MCPGATE_TEST_SERVE_CONFIG="+cfgFile)
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			if c, err := net.Dial("tcp", addr); err == nil {
				c.Close()
				return cmd
			}
			if time.Now().After(deadline) {
				cmd.Process.Kill()
				t.Fatal("the mcpgate process did not start listening")
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	first := start()
	go func() {
		body := `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"transfer","arguments":{"amount":100}}}`
		req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/bank/mcp", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	select {
	case <-reached:
	case <-time.After(20 * time.Second):
		first.Process.Kill()
		t.Fatal("the call never reached the upstream")
	}
	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = first.Wait()

	second := start()
	defer func() { second.Process.Signal(syscall.SIGTERM); second.Wait() }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, _ := os.ReadFile(filepath.Join(dir, "audit.log"))
		for l := range strings.SplitSeq(string(b), "\n") {
			if strings.Contains(l, `"decision":"interrupted"`) {
				var e struct {
					Route, Method, Tool, Decision, Error string
				}
				if err := json.Unmarshal([]byte(l), &e); err != nil {
					t.Fatal(err)
				}
				if e.Route != "bank" || e.Method != "tools/call" || e.Tool != "transfer" || e.Error == "" {
					t.Fatalf("interrupted event = %+v", e)
				}
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no interrupted event in the audit trail after the restart:\n%s", b)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
