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
	for _, n := range normalize {
		got = n.re.ReplaceAllString(got, n.to)
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

// normalize replaces what changes from run to run: times, lifetimes (Entra randomises them)
// and key ids (new keys at each start).
var normalize = []struct {
	re *regexp.Regexp
	to string
}{
	{regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ`), "TIME"},
	{regexp.MustCompile(`valid for \S+ more`), "valid for DURATION more"},
	{regexp.MustCompile(`expired \S+ ago`), "expired DURATION ago"},
	{regexp.MustCompile(`\b(kid|key) [A-Za-z0-9_-]{6,}`), "$1 KID"},
	{regexp.MustCompile(`\S*/mcpgate\.yaml`), "mcpgate.yaml"},
	{regexp.MustCompile(`\S*/mcpgate\.db`), "mcpgate.db"},
}
