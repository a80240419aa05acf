package virtual_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpgate/mcpgate/internal/authn"
	"github.com/mcpgate/mcpgate/internal/gateway"
	mcpwire "github.com/mcpgate/mcpgate/internal/mcp"
	"github.com/mcpgate/mcpgate/internal/virtual"
)

func threeUpstreams(t *testing.T) []virtual.Upstream {
	alpha := newHTTPUpstream(t, "alpha", false, nil)
	beta := newHTTPUpstream(t, "beta", true, nil)
	return []virtual.Upstream{
		{Name: "alpha", URL: alpha.URL, Prefix: "alpha_"},
		{Name: "beta", URL: beta.URL, Renames: map[string]string{"echo": "beta_echo", "delete_all": "beta_delete_all", "slow": "beta_slow", "greet": "beta_greet"},
			Credentials: keyCredentials("beta")},
		{Name: "local", Command: stdioServer(t), Prefix: "local_", Env: []string{"PATH=" + os.Getenv("PATH")},
			IdentityEnv: virtual.IdentityEnv{Subject: "TEST_USER_SUB"}},
	}
}

func TestMergedListsAndDispatch(t *testing.T) {
	url, _, _ := newGateway(t, virtual.Options{Upstreams: threeUpstreams(t)})
	var progress atomic.Int32
	cs := connect(t, url, "alice", &mcp.ClientOptions{ProgressNotificationHandler: func(ctx context.Context, r *mcp.ProgressNotificationClientRequest) {
		if r.Params.ProgressToken == "p1" {
			progress.Add(1)
		}
	}})

	names, res := toolNames(t, cs)
	want := []string{"alpha_delete_all", "alpha_echo", "alpha_slow", "beta_delete_all", "beta_echo", "beta_slow", "local_crash", "local_flood", "local_whoami"}
	if !slices.Equal(names, want) {
		t.Fatalf("tools = %v, want %v", names, want)
	}
	if res.Meta[virtual.MetaUnavailable] != nil {
		t.Errorf("meta = %v, want no unavailable upstream", res.Meta)
	}

	for tool, want := range map[string]string{"alpha_echo": "alpha:hi", "beta_echo": "beta:hi"} {
		got, err := call(t, cs, tool, map[string]any{"text": "hi"})
		if err != nil || got != want {
			t.Errorf("%s = %q, %v; want %q", tool, got, err, want)
		}
	}
	if got, err := call(t, cs, "local_whoami", nil); err != nil || !strings.HasPrefix(got, "user=alice ") {
		t.Errorf("local_whoami = %q, %v", got, err)
	}
	if _, err := call(t, cs, "echo", map[string]any{"text": "hi"}); err == nil || !strings.Contains(err.Error(), "unknown tool") {
		t.Errorf("real name through the virtual server: %v, want unknown tool", err)
	}

	// Progress notifications come back under the client's own token.
	p := &mcp.CallToolParams{Name: "alpha_slow"}
	p.SetProgressToken("p1")
	if _, err := cs.CallTool(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(2 * time.Second); progress.Load() < 2 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if progress.Load() != 2 {
		t.Errorf("progress notifications = %d, want 2", progress.Load())
	}

	// Prompts: merged, dispatched under the real name.
	pr, err := cs.ListPrompts(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var prompts []string
	for _, p := range pr.Prompts {
		prompts = append(prompts, p.Name)
	}
	slices.Sort(prompts)
	if !slices.Equal(prompts, []string{"alpha_greet", "beta_greet"}) {
		t.Errorf("prompts = %v", prompts)
	}
	gp, err := cs.GetPrompt(context.Background(), &mcp.GetPromptParams{Name: "beta_greet"})
	if err != nil || gp.Messages[0].Content.(*mcp.TextContent).Text != "beta says hello" {
		t.Errorf("beta_greet = %v, %v", gp, err)
	}

	// Resources: templates merged, reads dispatched by URI prefix.
	rt, err := cs.ListResourceTemplates(context.Background(), nil)
	if err != nil || len(rt.ResourceTemplates) != 2 {
		t.Fatalf("templates = %v, %v", rt, err)
	}
	for _, up := range []string{"alpha", "beta"} {
		rr, err := cs.ReadResource(context.Background(), &mcp.ReadResourceParams{URI: up + "://doc/readme"})
		if err != nil || rr.Contents[0].Text != up+" document" {
			t.Errorf("read %s = %v, %v", up, rr, err)
		}
	}
	if _, err := cs.ReadResource(context.Background(), &mcp.ReadResourceParams{URI: "gamma://x"}); err == nil {
		t.Error("a URI no upstream serves was read")
	}
}

// An upstream that fails is left out of the lists (and named in _meta and the log); the
// others list and answer, and it comes back without a restart.
func TestFailingUpstreamIsolated(t *testing.T) {
	var down atomic.Bool
	down.Store(true)
	alpha := newHTTPUpstream(t, "alpha", false, nil)
	gamma := newHTTPUpstream(t, "gamma", false, &down)
	url, _, logs := newGateway(t, virtual.Options{Upstreams: []virtual.Upstream{
		{Name: "alpha", URL: alpha.URL, Prefix: "alpha_"},
		{Name: "gamma", URL: gamma.URL, Prefix: "gamma_"},
		{Name: "broken", Command: "/nonexistent/mcp-server", Prefix: "broken_"},
	}})
	cs := connect(t, url, "alice", nil)
	names, res := toolNames(t, cs)
	if !slices.Equal(names, []string{"alpha_delete_all", "alpha_echo", "alpha_slow"}) {
		t.Fatalf("tools = %v", names)
	}
	un, _ := res.Meta[virtual.MetaUnavailable].([]any)
	if len(un) != 2 {
		t.Fatalf("unavailable = %v, want gamma and broken", res.Meta)
	}
	if m := un[1].(map[string]any); m["upstream"] != "broken" || m["error"] != "its command could not be started" {
		t.Errorf("unavailable[1] = %v", m)
	}
	if got, err := call(t, cs, "alpha_echo", map[string]any{"text": "x"}); err != nil || got != "alpha:x" {
		t.Errorf("alpha_echo = %q, %v", got, err)
	}
	if !regexp.MustCompile(`upstream left out of the lists.*upstream=gamma`).MatchString(logs.String()) {
		t.Errorf("log does not name gamma:\n%s", logs)
	}

	down.Store(false)
	names, _ = toolNames(t, cs)
	if !slices.Contains(names, "gamma_echo") {
		t.Errorf("gamma did not come back: %v", names)
	}
	if got, err := call(t, cs, "gamma_echo", map[string]any{"text": "y"}); err != nil || got != "gamma:y" {
		t.Errorf("gamma_echo = %q, %v", got, err)
	}
}

var pidRE = regexp.MustCompile(`user=(\w*) pid=(\d+)`)

func whoami(t *testing.T, cs *mcp.ClientSession) (user, pid string) {
	t.Helper()
	got, err := call(t, cs, "local_whoami", nil)
	if err != nil {
		t.Fatal(err)
	}
	m := pidRE.FindStringSubmatch(got)
	if m == nil {
		t.Fatalf("whoami = %q", got)
	}
	return m[1], m[2]
}

// Each user has their own stdio process, with their identity in the environment; idle
// processes stop, and the next call starts a new one.
func TestStdioPerUser(t *testing.T) {
	url, vs, _ := newGateway(t, virtual.Options{IdleTimeout: 500 * time.Millisecond, Upstreams: []virtual.Upstream{
		{Name: "local", Command: stdioServer(t), Prefix: "local_", IdentityEnv: virtual.IdentityEnv{Subject: "TEST_USER_SUB"}},
	}})
	alice, bob := connect(t, url, "alice", nil), connect(t, url, "bob", nil)
	ua, pa := whoami(t, alice)
	ub, pb := whoami(t, bob)
	if ua != "alice" || ub != "bob" || pa == pb {
		t.Fatalf("alice: %s %s, bob: %s %s; want one process each", ua, pa, ub, pb)
	}
	if _, again := whoami(t, alice); again != pa {
		t.Errorf("alice's second call ran in process %s, not %s", again, pa)
	}
	if n := vs.Processes("local"); n != 2 {
		t.Errorf("processes = %d, want 2", n)
	}
	waitFor(t, func() bool { return vs.Processes("local") == 0 }, "idle processes to stop")
	if _, p := whoami(t, alice); p == pa {
		t.Error("a stopped process answered")
	}
}

// A shared stdio server runs once for everyone and gets nobody's identity.
func TestStdioShared(t *testing.T) {
	url, vs, _ := newGateway(t, virtual.Options{Upstreams: []virtual.Upstream{
		{Name: "local", Command: stdioServer(t), Prefix: "local_", Shared: true, IdentityEnv: virtual.IdentityEnv{Subject: "TEST_USER_SUB"}},
	}})
	ua, pa := whoami(t, connect(t, url, "alice", nil))
	ub, pb := whoami(t, connect(t, url, "bob", nil))
	if ua != "" || ub != "" || pa != pb || vs.Processes("local") != 1 {
		t.Errorf("alice: %q %s, bob: %q %s, processes %d; want one process without identity", ua, pa, ub, pb, vs.Processes("local"))
	}
}

func TestStdioLimitAndCrash(t *testing.T) {
	url, _, logs := newGateway(t, virtual.Options{Upstreams: []virtual.Upstream{
		{Name: "local", Command: stdioServer(t), Prefix: "local_", MaxProcesses: 1},
	}})
	alice, bob := connect(t, url, "alice", nil), connect(t, url, "bob", nil)
	whoami(t, alice)
	if _, err := call(t, bob, "local_whoami", nil); err == nil || !strings.Contains(err.Error(), "too many processes") {
		t.Errorf("bob over the limit: %v\n%s", err, logs)
	}

	// A crash mid-call is an error for the caller, not a hang; the process is started again.
	start := time.Now()
	if _, err := call(t, alice, "local_crash", nil); err == nil || !strings.Contains(err.Error(), `upstream "local" failed`) {
		t.Errorf("crash: %v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("crash answered after %v", d)
	}
	if !strings.Contains(logs.String(), "crashing on purpose") {
		t.Errorf("stderr not logged:\n%s", logs)
	}
	waitFor(t, func() bool { _, err := call(t, bob, "local_whoami", nil); return err == nil }, "bob to get the freed process")
}

// A stdio server writing an endless line is stopped once the line passes its limit: the
// caller gets an error saying so (no hang, no growing memory), and the next call starts
// a new process.
func TestStdioOutputLimit(t *testing.T) {
	url, vs, logs := newGateway(t, virtual.Options{Upstreams: []virtual.Upstream{
		{Name: "local", Command: stdioServer(t), Prefix: "local_", MaxLineBytes: 256 << 10},
	}})
	alice := connect(t, url, "alice", nil)
	_, before := whoami(t, alice)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	heap := ms.HeapAlloc
	start := time.Now()
	_, err := call(t, alice, "local_flood", nil)
	if err == nil || !strings.Contains(err.Error(), `upstream "local" failed (its output exceeded the message size limit)`) {
		t.Fatalf("flood: %v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("flood answered after %v", d)
	}
	runtime.ReadMemStats(&ms)
	if ms.HeapAlloc > heap+64<<20 {
		t.Errorf("heap grew from %d to %d bytes", heap, ms.HeapAlloc)
	}
	if !strings.Contains(logs.String(), "stdio upstream wrote a message longer than its limit") {
		t.Errorf("not logged:\n%s", logs)
	}
	waitFor(t, func() bool { return vs.Processes("local") == 0 }, "the flooding process to end")
	if _, after := whoami(t, alice); after == before {
		t.Error("the flooding process still answers")
	}
}

func waitFor(t *testing.T, f func() bool, what string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if f() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		ups  []virtual.Upstream
		want string
	}{
		{"none", nil, "no upstreams"},
		{"both", []virtual.Upstream{{Name: "a", URL: "http://x", Command: "x"}}, `upstream "a": set exactly one of url and command`},
		{"same prefix", []virtual.Upstream{{Name: "a", URL: "http://x", Prefix: "p_"}, {Name: "b", URL: "http://y", Prefix: "p_"}},
			`upstreams "a" and "b" both use prefix "p_"`},
		{"renames collide", []virtual.Upstream{{Name: "a", URL: "http://x", Renames: map[string]string{"x": "t"}}, {Name: "b", URL: "http://y", Renames: map[string]string{"y": "t"}}},
			`name "t" conflicts: renamed from upstream "a"'s "x" and from upstream "b"'s "y"`},
		{"duplicate name", []virtual.Upstream{{Name: "a", URL: "http://x", Prefix: "1"}, {Name: "a", URL: "http://y", Prefix: "2"}}, `name "a" is used twice`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := virtual.Options{Route: "r", Upstreams: tc.ups}
			err := o.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Validate = %v, want %q", err, tc.want)
			}
		})
	}
}

// A command that exits before the MCP handshake is not started again on every request.
func TestStdioRestartBackoff(t *testing.T) {
	url, vs, logs := newGateway(t, virtual.Options{Upstreams: []virtual.Upstream{
		{Name: "dud", Command: stdioServer(t), Args: []string{"-exit"}, Prefix: "dud_"},
		{Name: "local", Command: stdioServer(t), Prefix: "local_"},
	}})
	cs := connect(t, url, "alice", nil)
	_, res := toolNames(t, cs)
	if un, _ := res.Meta[virtual.MetaUnavailable].([]any); len(un) != 1 || un[0].(map[string]any)["upstream"] != "dud" {
		t.Fatalf("unavailable = %v", res.Meta)
	}
	if _, err := call(t, cs, "dud_whoami", nil); err == nil || !strings.Contains(err.Error(), `upstream "dud" failed (restarting after a failure)`) {
		t.Errorf("dud_whoami during the backoff: %v", err)
	}
	if n := strings.Count(logs.String(), "exiting at once"); n != 1 {
		t.Errorf("the command ran %d times, want 1", n)
	}
	if vs.Processes("dud") != 0 {
		t.Errorf("processes = %d", vs.Processes("dud"))
	}
	if got, err := call(t, cs, "local_whoami", nil); err != nil || !strings.HasPrefix(got, "user=") {
		t.Errorf("local_whoami = %q, %v", got, err)
	}
}

// linkAccount is a credential failure that wants the user to act, as a connection
// provider's missing link does.
type linkAccount struct{}

func (linkAccount) Error() string { return "no linked account" }
func (linkAccount) GatewayResponse(c *gateway.Call) gateway.Response {
	return gateway.Response{Error: &mcpwire.ErrorObject{Code: -32001, Message: "link your account first",
		Data: map[string]any{"route": c.Route, "reason": "connection_missing"}}}
}

// An upstream credential the user must act on reaches the caller as the gateway renders
// it on an ordinary route, not as an opaque failure; the other upstreams keep answering.
func TestCredentialFailureAnswered(t *testing.T) {
	alpha := newHTTPUpstream(t, "alpha", false, nil)
	beta := newHTTPUpstream(t, "beta", true, nil)
	url, _, _ := newGateway(t, virtual.Options{Upstreams: []virtual.Upstream{
		{Name: "alpha", URL: alpha.URL, Prefix: "alpha_"},
		{Name: "beta", URL: beta.URL, Prefix: "beta_", Credentials: gateway.UpstreamCredentialsFunc(
			func(context.Context, *authn.Principal, *http.Request) (http.Header, error) { return nil, linkAccount{} })},
	}})
	cs := connect(t, url, "alice", nil)
	_, res := toolNames(t, cs)
	if un, _ := res.Meta[virtual.MetaUnavailable].([]any); len(un) != 1 || un[0].(map[string]any)["error"] != "no credential for this user" {
		t.Errorf("unavailable = %v", res.Meta)
	}
	_, err := call(t, cs, "beta_echo", map[string]any{"text": "x"})
	var we *jsonrpc.Error
	if !errors.As(err, &we) || we.Code != -32001 || we.Message != "link your account first" || !strings.Contains(string(we.Data), "connection_missing") {
		t.Errorf("beta_echo = %v, want the -32001 answer", err)
	}
	if got, err := call(t, cs, "alpha_echo", map[string]any{"text": "x"}); err != nil || got != "alpha:x" {
		t.Errorf("alpha_echo = %q, %v", got, err)
	}
}
