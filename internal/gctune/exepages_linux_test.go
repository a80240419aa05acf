//go:build linux

package gctune

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// rssFile reads the file-backed part of this process's resident set (kB).
func rssFile(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "RssFile:"); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return n
		}
	}
	t.Fatal("no RssFile in /proc/self/status")
	return 0
}

// TestReleaseExecutablePages: the test binary's own read-only pages leave the resident set
// (they come back as they are used), and the process goes on running.
func TestReleaseExecutablePages(t *testing.T) {
	before := rssFile(t)
	n, err := ReleaseExecutablePages()
	if errors.Is(err, unix.EINVAL) {
		t.Skip("the kernel has no MADV_PAGEOUT (Linux 5.4+)")
	}
	if err != nil {
		t.Fatal(err)
	}
	after := rssFile(t)
	if n == 0 {
		t.Fatal("no mapping of the executable was advised")
	}
	if after >= before {
		t.Fatalf("file-backed RSS %d kB before, %d kB after: nothing was released", before, after)
	}
	t.Logf("file-backed RSS %d kB -> %d kB (%d MB of mappings advised)", before, after, n>>20)
}
