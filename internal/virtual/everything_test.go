package virtual_test

import (
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mcpgate/mcpgate/internal/testutil"
	"github.com/mcpgate/mcpgate/internal/virtual"
)

// The reference server @modelcontextprotocol/server-everything (Node, from test/node) over
// stdio, aggregated with a go-sdk server over HTTP: its tools are listed under its prefix
// and called under their real names, each user in their own process.
func TestServerEverythingOverStdio(t *testing.T) {
	dir := testutil.NodeModules(t)
	node, err := exec.LookPath("node")
	if err != nil {
		testutil.Unavailable(t, "node is not on PATH")
	}
	entry := filepath.Join(dir, "node_modules", "@modelcontextprotocol", "server-everything", "dist", "index.js")
	plain := newHTTPUpstream(t, "plain", false, nil)
	url, vs, _ := newGateway(t, virtual.Options{Upstreams: []virtual.Upstream{
		{Name: "plain", URL: plain.URL, Prefix: "plain_"},
		{Name: "everything", Command: node, Args: []string{entry, "stdio"}, Prefix: "everything_"},
	}})
	cs := connect(t, url, "alice", nil)
	names, res := toolNames(t, cs)
	if !slices.Contains(names, "everything_echo") || !slices.Contains(names, "plain_echo") {
		t.Fatalf("tools = %v (%v)", names, res.Meta)
	}
	got, err := call(t, cs, "everything_echo", map[string]any{"message": "hello"})
	if err != nil || !strings.Contains(got, "hello") {
		t.Fatalf("everything_echo = %q, %v", got, err)
	}
	if got, err := call(t, cs, "plain_echo", map[string]any{"text": "x"}); err != nil || got != "plain:x" {
		t.Fatalf("plain_echo = %q, %v", got, err)
	}
	if n := vs.Processes("everything"); n != 1 {
		t.Fatalf("processes = %d", n)
	}
}
