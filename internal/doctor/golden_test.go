package doctor_test

import (
	"flag"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/mcpgate/mcpgate/internal/doctor"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

var unsafeName = regexp.MustCompile(`[^a-z0-9]+`)

// golden compares the human format of r with testdata/<test name>.golden. Loopback hosts
// (127.0.0.1 and the port of base) read HOST, and localhost with that port localhost:PORT, so that the files do not depend on the
// port a test got.
func golden(t *testing.T, r *doctor.Report, base string) {
	t.Helper()
	var b strings.Builder
	if err := r.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	got := b.String()
	if u, err := url.Parse(base); err == nil && u.Port() != "" {
		got = strings.ReplaceAll(got, "127.0.0.1:"+u.Port(), "HOST")
		got = strings.ReplaceAll(got, "localhost:"+u.Port(), "localhost:PORT")
	}
	name := unsafeName.ReplaceAllString(strings.ToLower(t.Name()), "_")
	file := filepath.Join("testdata", strings.Trim(name, "_")+".golden")
	if *update {
		if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/doctor -update)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (run with -update to accept):\n--- got\n%s--- want\n%s", file, got, want)
	}
}
