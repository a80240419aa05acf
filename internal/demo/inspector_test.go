package demo_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/internal/demo"
	"github.com/mcpgate/mcpgate/internal/testutil"
)

// inspectorSeen is what testdata/inspector_web.mjs reports having seen in the Inspector.
type inspectorSeen struct {
	Weather struct {
		Tools              []string
		Count              int
		Badges             []string
		PortabilityWarning bool
		Result, Structured bool
	}
	StocksBob struct {
		Tools []string
		Count int
	}
	Files         struct{ Result string }
	TasksAlert    string
	ConnectSignIn string
	ConnectedPage struct{ URL, Text string }
}

// TestInspectorWebUI follows the README's MCP Inspector steps in the Inspector 2.x web UI
// (npm @modelcontextprotocol/inspector, pinned in test/node), in headless Chromium: add
// the demo's weather server, sign in as alice, allow, list tools, call get_forecast; bob
// does not see get_quote on stocks; files (On-Behalf-Of) through "Sign in with Contoso";
// tasks (a connection) shows its connect link, which, opened in a fresh browser, signs in,
// connects Tasks, and makes the retry work.
func TestInspectorWebUI(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the demo, the MCP Inspector and Chromium")
	}
	node := testutil.Node22(t)
	nm := filepath.Join(testutil.NodeModules(t), "node_modules")
	launcher := filepath.Join(nm, "@modelcontextprotocol", "inspector", "clients", "launcher", "build", "index.js")
	if _, err := os.Stat(launcher); err != nil {
		testutil.Unavailable(t, "@modelcontextprotocol/inspector is not installed in test/node")
	}
	chromium := testutil.Chromium(t)
	started := time.Now()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	info := runDemo(t, ctx)
	passwords := map[string]string{}
	for _, u := range info.Users {
		passwords[u.Username] = u.Password
	}

	inspectorURL := startInspector(t, node, launcher)
	t.Logf("demo at %s, Inspector at %s (%s to start both)", info.BaseURL, inspectorURL, time.Since(started).Round(time.Millisecond))

	shots := t.TempDir()
	cmd := exec.CommandContext(ctx, node, filepath.Join("testdata", "inspector_web.mjs"))
	cmd.Env = append(os.Environ(), "NODE_MODULES_DIR="+nm, "CHROMIUM="+chromium, "INSPECTOR_URL="+inspectorURL,
		"DEMO="+info.BaseURL, "ALICE="+passwords["alice"], "BOB="+passwords["bob"],
		"CONTOSO_ALICE="+demo.ContosoUPN("alice"), "SHOTS="+shots)
	out, err := cmd.CombinedOutput()
	var seen inspectorSeen
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if strings.HasPrefix(line, "step: ") || strings.HasPrefix(line, "FAILED") {
			t.Log(line)
		}
		if strings.HasPrefix(line, "{") {
			json.Unmarshal([]byte(line), &seen)
		}
	}
	if err != nil {
		t.Fatalf("inspector_web.mjs: %v (screenshots in %s)\n%s", err, shots, out)
	}
	t.Logf("Inspector web UI run: %s in all", time.Since(started).Round(time.Millisecond))

	w := seen.Weather
	if !slices.Equal(w.Tools, []string{"get_forecast"}) || !w.Result || !w.Structured {
		t.Errorf("weather: want get_forecast listed and its forecast (text and structured) shown; saw %+v", w)
	}
	if !slices.Equal(w.Badges, []string{"read-only", "idempotent"}) || w.PortabilityWarning {
		t.Errorf("get_forecast: want the read-only and idempotent labels only and no schema warning; saw labels %v, warning %v", w.Badges, w.PortabilityWarning)
	}
	if seen.StocksBob.Count != 0 || slices.Contains(seen.StocksBob.Tools, "get_quote") {
		t.Errorf("bob on stocks should see no tools (get_quote is for finance); saw %+v", seen.StocksBob)
	}
	if !strings.Contains(seen.Files.Result, "Audience:   "+demo.FilesAPIClientID) || !strings.Contains(seen.Files.Result, demo.ContosoUPN("alice")) {
		t.Errorf("files/whoami should show a Files API token for alice@Contoso; saw %q", seen.Files.Result)
	}
	connect := info.BaseURL + "/connections/tasks/connect"
	if !strings.Contains(seen.TasksAlert, connect) {
		t.Errorf("tasks before connecting: the Inspector should show the connect link %s; it said %q", connect, seen.TasksAlert)
	}
	if !strings.HasPrefix(seen.ConnectSignIn, info.BaseURL+"/login?return=%2Fconnections%2Ftasks%2Fconnect") {
		t.Errorf("the connect link in a fresh browser should open mcpgate's sign-in; it opened %s", seen.ConnectSignIn)
	}
	if !strings.Contains(seen.ConnectedPage.URL, "connected=tasks") || !strings.Contains(seen.ConnectedPage.Text, "Tasks is connected") {
		t.Errorf("after Connect and the Contoso sign-in, want My connections saying Tasks is connected; got %+v", seen.ConnectedPage)
	}
	// The retry, as alice's client sees it once the account is linked.
	cs, err := personConnect(t, ctx, info.Routes["tasks"], &testutil.Person{Username: "alice", Password: passwords["alice"]}, "")
	if err != nil {
		t.Fatalf("tasks after connecting: %v", err)
	}
	if _, res, err := identity(t, ctx, cs); err != nil || res == nil || !strings.Contains(fmt.Sprint(res.StructuredContent), demo.TasksAPIURI) {
		t.Errorf("tasks/whoami after connecting should show alice's api://tasks token; got %v %v", err, res)
	}
}

// runDemo runs the demo in this process on a random loopback port with a throw-away data
// folder, until the test ends.
func runDemo(t *testing.T, ctx context.Context) demo.Info {
	t.Helper()
	ctx, stop := context.WithCancel(ctx)
	ready := make(chan demo.Info, 1)
	done := make(chan error, 1)
	go func() {
		done <- demo.Run(ctx, demo.RunOptions{Addr: "127.0.0.1:0", DataDir: t.TempDir(), Out: io.Discard,
			Ready: func(i demo.Info) { ready <- i }})
	}()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("demo stopped with %v", err)
		}
	})
	select {
	case i := <-ready:
		return i
	case err := <-done:
		t.Fatalf("demo did not start: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("demo did not start in 60s")
	}
	return demo.Info{}
}

var inspectorURLLine = regexp.MustCompile(`^\s*(http://127\.0\.0\.1:\d+/?\?MCP_INSPECTOR_API_TOKEN=[0-9a-f]+)\s*$`)

// startInspector runs `mcp-inspector --web` (what `npx @modelcontextprotocol/inspector`
// runs) on loopback only: its web server on a free port (CLIENT_PORT), its MCP Apps
// sandbox and app-origin servers on OS-assigned ports, no browser opened, a throw-away
// home folder and secrets kept in memory. Its API token is one we choose, and the URL it
// prints (with that token) is returned.
func startInspector(t *testing.T, node, launcher string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	token := make([]byte, 16)
	rand.Read(token)
	home := t.TempDir()
	cmd := exec.Command(node, launcher, "--web")
	cmd.Dir = home
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Env = append(os.Environ(), "HOME="+home, "MCP_STORAGE_DIR="+filepath.Join(home, "storage"),
		"MCP_INSPECTOR_SECRET_STORE=memory", "HOST=127.0.0.1", "CLIENT_PORT="+strconv.Itoa(port),
		"MCP_SANDBOX_PORT=0", "MCP_APP_ORIGIN_PORT=0", "MCP_AUTO_OPEN_ENABLED=false",
		"MCP_INSPECTOR_API_TOKEN="+hex.EncodeToString(token))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting the Inspector: %v", err)
	}
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // the Inspector and anything it started
		cmd.Wait()
	})
	urls := make(chan string, 1)
	var printed strings.Builder
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := inspectorURLLine.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case urls <- m[1]:
				default:
				}
			} else if printed.Len() < 4000 {
				fmt.Fprintln(&printed, sc.Text())
			}
		}
		close(urls)
	}()
	select {
	case u, ok := <-urls:
		if ok {
			return u
		}
		t.Fatalf("the Inspector exited without printing its URL:\n%s", printed.String())
	case <-time.After(60 * time.Second):
		t.Fatal("the Inspector did not print its URL within 60s")
	}
	return ""
}
