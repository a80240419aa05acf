package demo_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpgate/mcpgate/internal/client"
	"github.com/mcpgate/mcpgate/internal/testutil"
)

// demoProcess is `mcpgate demo` running as a subprocess, with what it printed.
type demoProcess struct {
	routes    map[string]string
	passwords map[string]string
	out       *strings.Builder
	// stop interrupts the demo and checks that it stopped cleanly (also at cleanup).
	stop func()
}

var (
	routeLine = regexp.MustCompile(`^\s+(weather|stocks|whoami|files|tasks)\s+(http://\S+)$`)
	userLine  = regexp.MustCompile(`^\s+(alice|bob)\s+password (\S+)\s+groups`)
)

// buildMcpgate builds the binary once per test process.
var buildOnce = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "mcpgate-bin")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "mcpgate")
	cmd := exec.Command("go", "build", "-o", bin, "../../cmd/mcpgate")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", &buildError{out: string(out), err: err}
	}
	return bin, nil
})

type buildError struct {
	out string
	err error
}

func (e *buildError) Error() string { return e.err.Error() + "\n" + e.out }

func startDemo(t *testing.T) *demoProcess {
	t.Helper()
	return startDemoIn(t, t.TempDir())
}

// startDemoIn starts the demo with its data in dataDir.
func startDemoIn(t *testing.T, dataDir string) *demoProcess {
	t.Helper()
	bin, err := buildOnce()
	if err != nil {
		t.Fatalf("building mcpgate: %v", err)
	}
	cmd := exec.Command(bin, "demo", "--addr", "127.0.0.1:0", "--data-dir", dataDir)
	cmd.WaitDelay = 10 * time.Second
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &demoProcess{routes: map[string]string{}, passwords: map[string]string{}, out: &strings.Builder{}}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		closed := false
		for sc.Scan() {
			line := sc.Text()
			p.out.WriteString(line + "\n")
			if m := routeLine.FindStringSubmatch(line); m != nil {
				p.routes[m[1]] = m[2]
			}
			if m := userLine.FindStringSubmatch(line); m != nil {
				p.passwords[m[1]] = m[2]
			}
			if strings.HasPrefix(line, "Press Ctrl+C") && !closed {
				close(ready)
				closed = true
			}
		}
	}()
	p.stop = sync.OnceFunc(func() {
		cmd.Process.Signal(os.Interrupt)
		err := cmd.Wait()
		// Ctrl+C must stop the demo cleanly: exit status 0 and the goodbye line.
		if err != nil {
			t.Errorf("demo did not stop cleanly on interrupt: %v\nstderr:\n%s", err, stderr.String())
		}
		if !strings.Contains(p.out.String(), "mcpgate demo stopped.") {
			t.Errorf("demo did not say it stopped; output:\n%s", p.out.String())
		}
	})
	t.Cleanup(p.stop)
	select {
	case <-ready:
	case <-time.After(60 * time.Second):
		t.Fatalf("demo did not start in 60s; stdout:\n%s\nstderr:\n%s", p.out.String(), stderr.String())
	}
	if len(p.routes) != 5 || len(p.passwords) != 2 {
		t.Fatalf("demo output lacks routes or users: routes=%v users=%v\n%s", p.routes, p.passwords, p.out.String())
	}
	return p
}

// session signs in to url as user (over HTTP, through login and consent) and connects
// with the official go-sdk client.
func session(t *testing.T, ctx context.Context, url, user, password string) *mcp.ClientSession {
	t.Helper()
	c, person := signInClient(t, url, user, password)
	cl := mcp.NewClient(&mcp.Implementation{Name: "demo-test", Version: "1"}, nil)
	cs, err := cl.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: url, HTTPClient: c.HTTPClient()}, nil)
	if err != nil {
		t.Fatalf("connecting to %s as %s: %v (pages visited: %v)", url, user, err, person.Seen)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}

// signInClient returns an mcpgate OAuth client (internal/client) for url whose browser is a
// testutil.Person signing in as user; it signs in on first use.
func signInClient(t *testing.T, url, user, password string) (*client.Client, *testutil.Person) {
	t.Helper()
	person := &testutil.Person{Username: user, Password: password}
	return personClient(t, url, person), person
}

// personClient returns an mcpgate OAuth client for url whose browser is person.
func personClient(t *testing.T, url string, person *testutil.Person) *client.Client {
	t.Helper()
	c, err := client.New(client.Options{
		ServerURL: url,
		CacheDir:  t.TempDir(),
		Prompt:    io.Discard,
		OpenURL: func(ctx context.Context, authURL string) error {
			_, err := person.Authorize(ctx, authURL)
			return err
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func toolNames(t *testing.T, ctx context.Context, cs *mcp.ClientSession) []string {
	t.Helper()
	res, err := cs.ListTools(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tl := range res.Tools {
		names = append(names, tl.Name)
	}
	return names
}

func text(res *mcp.CallToolResult) string {
	var b strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String()
}

func TestDemoEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the demo as a subprocess")
	}
	d := startDemo(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// alice (engineering + finance) calls every demo tool.
	weather := session(t, ctx, d.routes["weather"], "alice", d.passwords["alice"])
	res, err := weather.CallTool(ctx, &mcp.CallToolParams{Name: "get_forecast", Arguments: map[string]any{"city": "Paris", "days": 2}})
	if err != nil || res.IsError {
		t.Fatalf("get_forecast: %v %s", err, text(res))
	}
	if !strings.Contains(text(res), "Paris") {
		t.Errorf("forecast does not mention the city: %s", text(res))
	}
	checkBothVersions(t, ctx, weather, d.routes["weather"], "alice", d.passwords["alice"]) // protocol_test.go

	stocks := session(t, ctx, d.routes["stocks"], "alice", d.passwords["alice"])
	if names := toolNames(t, ctx, stocks); !slices.Contains(names, "get_quote") {
		t.Fatalf("alice (finance) should see get_quote; tools: %v", names)
	}
	res, err = stocks.CallTool(ctx, &mcp.CallToolParams{Name: "get_quote", Arguments: map[string]any{"symbol": "MSFT"}})
	if err != nil || res.IsError {
		t.Fatalf("get_quote as alice: %v %s", err, text(res))
	}

	whoami := session(t, ctx, d.routes["whoami"], "alice", d.passwords["alice"])
	names := toolNames(t, ctx, whoami)
	if len(names) == 0 {
		t.Fatal("whoami lists no tools")
	}
	res, err = whoami.CallTool(ctx, &mcp.CallToolParams{Name: names[0], Arguments: map[string]any{}})
	if err != nil || res.IsError {
		t.Fatalf("whoami: %v %s", err, text(res))
	}
	out := text(res)
	for _, want := range []string{"alice@example.com", "urn:mcpgate:demo:whoami"} {
		if !strings.Contains(out, want) {
			t.Errorf("whoami should show %q (the user and the upstream's own audience); got:\n%s", want, out)
		}
	}
	// The upstream must never see the client's token: its audience would be the route URL.
	var seen map[string]any
	if json.Unmarshal([]byte(out), &seen) == nil {
		if strings.Contains(out, `"aud":"`+d.routes["whoami"]) {
			t.Errorf("the upstream received the caller's token (aud = route URL): %s", out)
		}
	}

	// bob (engineering only) does not even see get_quote, and cannot call it.
	bobStocks := session(t, ctx, d.routes["stocks"], "bob", d.passwords["bob"])
	if names := toolNames(t, ctx, bobStocks); slices.Contains(names, "get_quote") {
		t.Errorf("bob should not see get_quote; tools: %v", names)
	}
	res, err = bobStocks.CallTool(ctx, &mcp.CallToolParams{Name: "get_quote", Arguments: map[string]any{"symbol": "MSFT"}})
	if err == nil && !res.IsError {
		t.Errorf("bob called get_quote: %s", text(res))
	}
}
