package testutil

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// RunNodeDriver runs the calling package's testdata/<script> with node, the packages of
// test/node (nodeDir, from NodeModules, as NODE_MODULES_DIR) and env added to the
// environment, for at most timeout. It fails the test with the driver's stderr when the
// driver fails, decodes the JSON object the driver prints into res, and returns what it
// printed.
func RunNodeDriver(t testing.TB, nodeDir string, timeout time.Duration, env []string, res any, script string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", append([]string{filepath.Join("testdata", script)}, args...)...)
	cmd.Env = append(append(cmd.Environ(), "NODE_MODULES_DIR="+filepath.Join(nodeDir, "node_modules")), env...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v\n%s", script, err, stderr.String())
	}
	if err := json.Unmarshal(out, res); err != nil {
		t.Fatalf("%s printed %q: %v", script, out, err)
	}
	return out
}

// ScreenshotDir is where a browser test saves its screenshots: a temporary folder, or
// docs/screenshots when MCPGATE_UPDATE_SCREENSHOTS=1 (to refresh the docs' pictures).
func ScreenshotDir(t testing.TB) string {
	t.Helper()
	if os.Getenv("MCPGATE_UPDATE_SCREENSHOTS") != "1" {
		return t.TempDir()
	}
	dir := filepath.Join(RepoRoot(t), "docs", "screenshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}
