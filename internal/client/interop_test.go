package client

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/internal/testutil"
)

var (
	buildOnce sync.Once
	buildPath string
	buildErr  error
)

// mcpgateBin builds cmd/mcpgate once per test process.
func mcpgateBin(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "mcpgate-client-test-")
		if err != nil {
			buildErr = err
			return
		}
		buildPath = filepath.Join(dir, "mcpgate")
		cmd := exec.Command("go", "build", "-o", buildPath, "./cmd/mcpgate")
		cmd.Dir = testutil.RepoRoot(t)
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/mcpgate: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildPath
}

// expectedConformanceFailures reads the justified list from docs/interop.md: the bullet items
// "- `auth/...`" under the heading "### Expected conformance failures".
func expectedConformanceFailures(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testutil.RepoRoot(t), "docs", "interop.md"))
	if err != nil {
		t.Fatalf("docs/interop.md keeps the expected conformance failures: %v", err)
	}
	var out []string
	in := false
	item := regexp.MustCompile("^- `(auth/[a-z0-9-]+)`")
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			in = strings.HasPrefix(line, "### Expected conformance failures")
			continue
		}
		if m := item.FindStringSubmatch(line); in && m != nil {
			out = append(out, m[1])
		}
	}
	return out
}

type check struct {
	ID           string `json:"id"`
	Status       string `json:"status"`
	ErrorMessage string `json:"errorMessage"`
}

// TestConformance runs the official MCP conformance suite's client scenarios against
// `mcpgate conformance-client`: every auth scenario, and the core ones through the stdio bridge.
func TestConformance(t *testing.T) {
	if testing.Short() {
		t.Skip("conformance suite: skipped with -short")
	}
	runner := testutil.Conformance(t)
	bin := mcpgateBin(t)
	out := t.TempDir()
	// "all" = auth + draft (auth/resource-mismatch, offline-access-*) + backcompat +
	// extensions + the core non-auth scenarios (played through the stdio bridge).
	runConformance(t, runner, bin, out, "--suite", "all")
	results := readChecks(t, out)
	// The suite runs its scenarios in parallel; on a loaded machine the one timing check,
	// sse-retry's "reconnected very late" (over twice the server's retry), can miss. The
	// scenario then runs again alone, up to twice: a client that ignores retry fails all
	// three times; the earlier failures are logged.
	for attempt := 1; attempt <= 2 && onlyRetryTimingFailed(results["sse-retry"]); attempt++ {
		t.Logf("sse-retry: timing check failed under the parallel suite (%s); running the scenario alone (attempt %d)", failures(results["sse-retry"]), attempt)
		again := t.TempDir()
		runConformance(t, runner, bin, again, "--scenario", "sse-retry")
		if cs, ok := readChecks(t, again)["sse-retry"]; ok {
			results["sse-retry"] = cs
		}
	}
	for _, must := range []string{"auth/metadata-default", "auth/scope-step-up", "auth/resource-mismatch", "auth/pre-registration", "auth/2025-03-26-oauth-endpoint-fallback", "sse-retry"} {
		if _, ok := results[must]; !ok {
			t.Errorf("scenario %s did not run (got %d scenarios)", must, len(results))
		}
	}
	expected := expectedConformanceFailures(t)
	var passed []string
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for k := range results {
			if !yield(k) {
				return
			}
		}
	}) {
		for _, c := range results[name] {
			if c.Status == "WARNING" && c.ID == "client-sse-retry-timing" {
				t.Logf("%s: warning: %s", name, c.ErrorMessage)
			}
		}
		failed := failedChecks(results[name])
		ok := len(failed) == 0 && len(results[name]) > 0
		switch {
		case ok && slices.Contains(expected, name):
			t.Errorf("%s passes now: remove it from the expected failures in docs/interop.md", name)
		case !ok && !slices.Contains(expected, name):
			t.Errorf("%s failed: %s", name, strings.Join(failed, "; "))
		case ok:
			passed = append(passed, name)
		}
	}
	t.Logf("%d scenarios passed: %s", len(passed), strings.Join(passed, ", "))
}

// runConformance runs the conformance suite's client side against `mcpgate
// conformance-client` with args, writing checks under out.
func runConformance(t *testing.T, runner, bin, out string, args ...string) {
	t.Helper()
	args = append([]string{"client", "--command", bin + " conformance-client"}, args...)
	args = append(args, "-o", out)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, runner, args...)
	cmd.Dir = testutil.RepoRoot(t)
	b, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("conformance %v timed out:\n%s", args, b)
	}
	t.Logf("conformance %v: exit %v", args[3:], err)
}

// readChecks reads every scenario's checks.json under out, by scenario name.
func readChecks(t *testing.T, out string) map[string][]check {
	t.Helper()
	results := map[string][]check{}
	_ = filepath.WalkDir(out, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.Name() != "checks.json" {
			return err
		}
		rel, _ := filepath.Rel(out, filepath.Dir(p))
		name := regexp.MustCompile(`-\d{4}-\d{2}-\d{2}T[\d-]+Z$`).ReplaceAllString(filepath.ToSlash(rel), "")
		var cs []check
		b, _ := os.ReadFile(p)
		if err := json.Unmarshal(b, &cs); err != nil {
			t.Errorf("%s: %v", p, err)
		}
		results[name] = cs
		return nil
	})
	return results
}

// failedChecks lists a scenario's failures and warnings, except sse-retry's "reconnected
// slightly late" warning (within twice the retry), which a loaded machine can cause.
func failedChecks(cs []check) []string {
	var failed []string
	for _, c := range cs {
		if c.Status == "WARNING" && c.ID == "client-sse-retry-timing" {
			continue
		}
		if c.Status == "FAILURE" || c.Status == "WARNING" {
			failed = append(failed, c.ID+": "+c.ErrorMessage)
		}
	}
	return failed
}

func failures(cs []check) string { return strings.Join(failedChecks(cs), "; ") }

// onlyRetryTimingFailed: the scenario's one failure is the retry timing check finding the
// reconnection late (early is never retried: no load makes a client early).
func onlyRetryTimingFailed(cs []check) bool {
	f := failedChecks(cs)
	return len(f) == 1 && strings.HasPrefix(f[0], "client-sse-retry-timing: ") && strings.Contains(f[0], "very late")
}

// TestStdioWithTypeScriptSDK drives `mcpgate stdio` with the official TypeScript SDK's
// StdioClientTransport. The cached access token has been revoked by the server, so the bridge
// must take the 401, refresh (sending resource), and retry; the sign-in itself is pre-seeded.
func TestStdioWithTypeScriptSDK(t *testing.T) {
	if testing.Short() {
		t.Skip("interop: skipped with -short")
	}
	nodeDir := testutil.NodeModules(t)
	bin := mcpgateBin(t)
	f := newFake(t, nil)
	configHome := t.TempDir()
	cache := &Cache{Dir: filepath.Join(configHome, "mcpgate", "tokens")}
	f.mu.Lock()
	f.refresh["rt-seed"] = grant{clientID: "pre", resource: f.URL()}
	f.mu.Unlock()
	err := cache.Save(&Entry{
		ServerURL:    f.URL(),
		Resource:     f.URL(),
		Server:       ServerMetadata{Issuer: f.srv.URL, TokenEndpoint: f.srv.URL + "/token", AuthorizationEndpoint: f.srv.URL + "/authorize"},
		Registration: Registration{ClientID: "pre", AuthMethod: "none", Kind: "preregistered"},
		Token:        Token{AccessToken: "at-revoked", RefreshToken: "rt-seed", Expiry: time.Now().Add(time.Hour)},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", filepath.Join("testdata", "stdio_driver.mjs"), nodeDir, bin, f.URL())
	cmd.Env = append(os.Environ(), "XDG_CONFIG_HOME="+configHome, `TOOL_CALLS=[{"name":"get_forecast","arguments":{"city":"Paris","days":2}}]`)
	out, err := cmd.Output()
	var res struct {
		OK     bool     `json:"ok"`
		Error  string   `json:"error"`
		Tools  []string `json:"tools"`
		Stderr string   `json:"stderr"`
		Calls  []struct {
			Name    string `json:"name"`
			IsError bool   `json:"isError"`
			Text    string `json:"text"`
		} `json:"calls"`
	}
	if jerr := json.Unmarshal(out, &res); jerr != nil {
		t.Fatalf("driver output %q: %v (exit %v)", out, jerr, err)
	}
	t.Logf("mcpgate stdio stderr:\n%s", res.Stderr)
	if !res.OK {
		t.Fatalf("TypeScript SDK client failed: %s", res.Error)
	}
	if !slices.Equal(res.Tools, []string{"get_forecast"}) || len(res.Calls) != 1 || res.Calls[0].IsError || !strings.Contains(res.Calls[0].Text, "Forecast for Paris") {
		t.Fatalf("tools = %v, calls = %+v", res.Tools, res.Calls)
	}
	_, toks, _ := f.snapshot()
	if len(toks) != 1 || toks[0].Get("grant_type") != "refresh_token" || toks[0].Get("resource") != f.URL() {
		t.Fatalf("token requests = %v, want one refresh with resource", toks)
	}
	e, _ := cache.Load(CacheKey(f.URL(), ""))
	if e == nil || e.Token.AccessToken == "at-revoked" {
		t.Fatalf("the refreshed token was not cached: %+v", e)
	}
	for _, secret := range []string{"at-revoked", "rt-seed", e.Token.AccessToken, e.Token.RefreshToken} {
		if strings.Contains(res.Stderr, secret) {
			t.Errorf("stderr leaks a token (%s)", secret)
		}
	}
}

// TestConcurrentLoginProcesses runs two `mcpgate login` processes for the same server at once:
// one browser flow happens, both end signed in. The "browser" is an xdg-open stand-in on PATH
// that follows the redirects with curl after a pause, like a user would.
func TestConcurrentLoginProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("interop: skipped with -short")
	}
	bin := mcpgateBin(t)
	f := newFake(t, nil)
	path, count := browserShim(t)
	cacheDir := filepath.Join(t.TempDir(), "tokens")
	var wg sync.WaitGroup
	outs := make([]string, 2)
	errs := make([]error, 2)
	for i := range 2 {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, "login", f.URL(), "--token-cache", cacheDir)
			cmd.Env = append(os.Environ(), path)
			b, err := cmd.CombinedOutput()
			outs[i], errs[i] = string(b), err
		})
	}
	wg.Wait()
	for i := range 2 {
		if errs[i] != nil || !strings.Contains(outs[i], "Signed in to") {
			t.Fatalf("login %d: %v\n%s", i, errs[i], outs[i])
		}
	}
	opened, _ := os.ReadFile(count)
	if n := strings.Count(string(opened), "\n"); n != 1 {
		t.Fatalf("browser opened %d times, want 1:\n%s\n%s\n%s", n, opened, outs[0], outs[1])
	}
	if az, _, _ := f.snapshot(); len(az) != 1 {
		t.Fatalf("authorizations = %d, want 1", len(az))
	}
	// token show works on the shared result and does not print the token.
	show, err := exec.Command(bin, "token", "show", f.URL(), "--token-cache", cacheDir).CombinedOutput()
	if err != nil || !strings.Contains(string(show), "Refresh token: true") || strings.Contains(string(show), "at-") {
		t.Fatalf("token show: %v\n%s", err, show)
	}
}

// browserShim puts an xdg-open stand-in first on PATH: it records the URL, waits like a user
// would, and follows the redirects with curl. It returns the PATH=… variable and the record.
func browserShim(t *testing.T) (pathEnv, record string) {
	t.Helper()
	if _, err := exec.LookPath("curl"); err != nil {
		testutil.Unavailable(t, "curl is not on PATH")
	}
	shim := t.TempDir()
	record = filepath.Join(shim, "opened")
	script := "#!/bin/sh\necho \"$1\" >> '" + record + "'\nsleep 0.5\nexec curl -sSL -o /dev/null \"$1\"\n"
	if err := os.WriteFile(filepath.Join(shim, "xdg-open"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return "PATH=" + shim + string(os.PathListSeparator) + os.Getenv("PATH"), record
}

// TestToolsAndCallCommands signs in through `mcpgate tools` (pre-registered confidential
// client, browser flow) and then calls a tool with the cached token, in text and JSON output.
func TestToolsAndCallCommands(t *testing.T) {
	if testing.Short() {
		t.Skip("interop: skipped with -short")
	}
	bin := mcpgateBin(t)
	f := newFake(t, func(f *fake) { f.clients["cli-app"] = "cli-secret"; f.noDCR = true })
	path, _ := browserShim(t)
	cache := t.TempDir()
	run := func(args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, append(args, "--token-cache", cache)...)
		cmd.Env = append(os.Environ(), path, "MCPGATE_CLIENT_SECRET=cli-secret")
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		if err != nil {
			t.Logf("stderr of %v:\n%s", args, stderr.String())
		}
		return stdout.String(), err
	}
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"tools", f.URL(), "--client-id", "cli-app"}, "--arg city=<string> (required)"},
		{[]string{"call", f.URL(), "get_forecast", "--client-id", "cli-app", "--arg", "city=Oslo", "--arg", "days=2"}, "Forecast for Oslo"},
		{[]string{"call", f.URL(), "get_forecast", "--client-id", "cli-app", "--json", `{"city":"Rome"}`, "-o", "json"}, `"city": "Rome"`},
	}
	for _, tt := range tests {
		out, err := run(tt.args...)
		if err != nil || !strings.Contains(out, tt.want) {
			t.Fatalf("%v: %v\n%s", tt.args, err, out)
		}
	}
	if az, toks, _ := f.snapshot(); len(az) != 1 || toks[0].Get("client_secret") != "" || f.tokenAuth[0] != "cli-app" {
		t.Fatalf("authorizations = %d; first token request auth = %q (want one sign-in, Basic auth)", len(az), f.tokenAuth)
	}
	if _, err := run("call", f.URL(), "get_forecast", "--client-id", "cli-app", "--arg", "city=Oslo", "--arg", "days=12"); err == nil {
		t.Fatal("a tool error must give a non-zero exit")
	}
	out, err := run("logout", f.URL(), "--client-id", "cli-app")
	if err != nil || !strings.Contains(out, "Signed out") {
		t.Fatalf("logout: %v %s", err, out)
	}
}

// TestStdioWithInspectorCLI runs `mcpgate stdio` under the MCP Inspector CLI (stdio transport)
// with a pre-seeded, valid sign-in.
func TestStdioWithInspectorCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("interop: skipped with -short")
	}
	inspector := testutil.NodeBin(t, "mcp-inspector-cli")
	bin := mcpgateBin(t)
	f := newFake(t, nil)
	dir := t.TempDir()
	f.mu.Lock()
	f.access["at-seed"] = grant{clientID: "pre", resource: f.URL(), exp: time.Now().Add(time.Hour)}
	f.mu.Unlock()
	cache := &Cache{Dir: dir}
	if err := cache.Save(&Entry{
		ServerURL: f.URL(), Resource: f.URL(),
		Server:       ServerMetadata{Issuer: f.srv.URL, TokenEndpoint: f.srv.URL + "/token", AuthorizationEndpoint: f.srv.URL + "/authorize"},
		Registration: Registration{ClientID: "pre", AuthMethod: "none", Kind: "preregistered"},
		Token:        Token{AccessToken: "at-seed", Expiry: time.Now().Add(time.Hour)},
	}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--method", "tools/list"}, `"get_forecast"`},
		{[]string{"--method", "tools/call", "--tool-name", "get_forecast", "--tool-arg", "city=Lima", "days=1"}, "Forecast for Lima"},
	}
	for _, tt := range tests {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		args := append([]string{"--cli", bin, "stdio", f.URL(), "--token-cache=" + dir}, tt.args...)
		cmd := exec.CommandContext(ctx, inspector, args...)
		cmd.Dir = inspectorCwd(t)
		out, err := cmd.CombinedOutput()
		cancel()
		if err != nil || !strings.Contains(string(out), tt.want) {
			t.Fatalf("inspector %v: %v\n%s", tt.args, err, out)
		}
	}
}

// inspectorCwd works around inspector-cli 1.0.3 reading its package.json through
// fs.existsSync("../package.json"), which is relative to the working directory: it needs a
// working directory whose parent holds a package.json.
func inspectorCwd(t *testing.T) string {
	t.Helper()
	parent := t.TempDir()
	if err := os.WriteFile(filepath.Join(parent, "package.json"), []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	cwd := filepath.Join(parent, "run")
	if err := os.Mkdir(cwd, 0o755); err != nil && !os.IsExist(err) {
		t.Fatal(err)
	}
	return cwd
}
