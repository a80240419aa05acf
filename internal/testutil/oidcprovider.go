package testutil

import (
	"bufio"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// StartOIDCProvider runs a test's oidc-provider script (npm oidc-provider from test/node) with
// NODE_MODULES_DIR and the given extra environment ("KEY=value"), waits for the one JSON line
// {"issuer": "http://127.0.0.1:…"} the script prints when it listens, and returns that issuer.
// The provider is stopped when the test ends (stdin closed, process killed).
func StartOIDCProvider(t testing.TB, script string, env ...string) string {
	t.Helper()
	nm := NodeModules(t) + "/node_modules"
	if _, err := os.Stat(nm + "/oidc-provider"); err != nil {
		Unavailable(t, "oidc-provider is not installed in test/node")
	}
	cmd := exec.Command("node", script)
	cmd.Env = append(append(os.Environ(), "NODE_MODULES_DIR="+nm), env...)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if o, ok := t.(interface{ Output() io.Writer }); ok {
		cmd.Stderr = o.Output()
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting oidc-provider (%s): %v", script, err)
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
