package demo_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpgate/mcpgate/internal/demo"
	"github.com/mcpgate/mcpgate/internal/testutil"
)

// personSession connects the go-sdk client to url through mcpgate's OAuth client, with
// person as the browser; version pins the protocol version ("" = the SDK's latest).
func personSession(t *testing.T, ctx context.Context, url string, person *testutil.Person, version string) *mcp.ClientSession {
	t.Helper()
	cs, err := personConnect(t, ctx, url, person, version)
	if err != nil {
		t.Fatalf("connecting to %s as %s: %v (pages visited: %v)", url, person.Username, err, person.Seen)
	}
	return cs
}

func personConnect(t *testing.T, ctx context.Context, url string, person *testutil.Person, version string) (*mcp.ClientSession, error) {
	t.Helper()
	c := personClient(t, url, person)
	var opts *mcp.ClientSessionOptions
	if version != "" {
		opts = &mcp.ClientSessionOptions{ProtocolVersion: version}
	}
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "demo-obo-test", Version: "1"}, nil).
		Connect(ctx, &mcp.StreamableClientTransport{Endpoint: url, HTTPClient: c.HTTPClient()}, opts)
	if err == nil {
		t.Cleanup(func() { cs.Close() })
	}
	return cs, err
}

// identity calls whoami and decodes what the upstream received.
func identity(t *testing.T, ctx context.Context, cs *mcp.ClientSession) (demo.Identity, *mcp.CallToolResult, error) {
	t.Helper()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "whoami", Arguments: map[string]any{}})
	var id demo.Identity
	if err == nil && !res.IsError {
		b, _ := json.Marshal(res.StructuredContent)
		if err := json.Unmarshal(b, &id); err != nil {
			t.Fatalf("whoami's structured result: %v (%s)", err, b)
		}
	}
	return id, res, err
}

// TestDemoActingAsUser: the demo shows On-Behalf-Of (files) and a connection (tasks) end
// to end, with the Entra profile in the same process as the identity provider.
func TestDemoActingAsUser(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the demo as a subprocess")
	}
	d := startDemo(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	base := strings.TrimSuffix(d.routes["files"], "/files/mcp")

	for _, want := range []string{"Sign in with " + demo.ContosoConnectorName, demo.ContosoUPN("alice"), base + "/connections/"} {
		if !strings.Contains(d.out.String(), want) {
			t.Errorf("the welcome text should mention %q", want)
		}
	}

	// alice signs in with Contoso: mcpgate's login page → "Sign in with Contoso" → the
	// emulator's login form → back to mcpgate.
	alice := &testutil.Person{Username: demo.ContosoUPN("alice"), Password: d.passwords["alice"], Federated: demo.ContosoConnectorName}
	files := personSession(t, ctx, d.routes["files"], alice, "")
	if !slices.ContainsFunc(alice.Seen, func(u string) bool {
		return strings.HasPrefix(u, base+"/entra/"+demo.ContosoTenant+"/oauth2/v2.0/authorize")
	}) {
		t.Errorf("alice did not sign in at the Entra profile; pages: %v", alice.Seen)
	}
	id, res, err := identity(t, ctx, files)
	if err != nil || res.IsError {
		t.Fatalf("files/whoami as alice (Contoso): %v %s", err, text(res))
	}
	t.Logf("files upstream received:\n%s", text(res))
	// The Files API's own v2 token (aud = its client id), for alice's Contoso identity.
	if !slices.Equal(id.Audience, []string{demo.FilesAPIClientID}) || id.PreferredUsername != demo.ContosoUPN("alice") ||
		id.ObjectID != "4b1d9c1e-0000-4000-8000-00000000a11c" || id.TenantID != demo.ContosoTenant || id.Scope != "access_as_user" {
		t.Errorf("files upstream should get a Files API token for alice; got %+v", id)
	}
	if !strings.HasSuffix(id.Issuer, "/entra/"+demo.ContosoTenant+"/v2.0") {
		t.Errorf("files token issuer = %q, want the Entra profile's v2 issuer", id.Issuer)
	}

	// tasks: no connection yet. initialize and tools/list need no user credential, so they
	// reach the upstream without one and the client lists the tools; the first call that
	// needs alice's Tasks token answers with the connect URL: in a tool error for an older
	// client...
	before := personSession(t, ctx, d.routes["tasks"], alice, "2025-06-18")
	if lt, err := before.ListTools(ctx, nil); err != nil || len(lt.Tools) == 0 {
		t.Fatalf("tasks before linking: tools/list = %v, %v; want the upstream's tools", lt, err)
	}
	_, res, err = identity(t, ctx, before)
	if err != nil || !res.IsError || !strings.Contains(text(res), base+"/connections/tasks/connect") {
		t.Fatalf("tasks before linking, 2025-06-18 client: want a tool error with the connect URL; got %v %v", err, res)
	}
	// ...and as a URL elicitation (-32042) for a current one.
	current := personSession(t, ctx, d.routes["tasks"], alice, "2025-11-25")
	if lt, err := current.ListTools(ctx, nil); err != nil || len(lt.Tools) == 0 {
		t.Fatalf("tasks before linking: tools/list = %v, %v", lt, err)
	}
	_, _, err = identity(t, ctx, current)
	var rpcErr *jsonrpc.Error
	if !errors.As(err, &rpcErr) || rpcErr.Code != mcp.CodeURLElicitationRequired {
		t.Fatalf("tasks before linking: want a -32042 URL elicitation, got %v", err)
	}
	var data struct {
		Elicitations []mcp.ElicitParams `json:"elicitations"`
	}
	if err := json.Unmarshal(rpcErr.Data, &data); err != nil || len(data.Elicitations) != 1 || data.Elicitations[0].Mode != "url" {
		t.Fatalf("elicitation data: %v %s", err, rpcErr.Data)
	}
	connect := data.Elicitations[0].URL
	if !strings.HasPrefix(connect, base+"/connections/tasks/connect") {
		t.Fatalf("the elicitation URL %q is not the tasks connect page", connect)
	}

	// alice opens it in the same browser (her mcpgate session), presses Connect, passes
	// the emulator and comes back to My connections.
	alice.StopAt = base + "/connections/?"
	back, err := alice.Authorize(ctx, connect)
	if err != nil {
		t.Fatalf("linking Tasks: %v (pages: %v)", err, alice.Seen)
	}
	if !strings.Contains(back, "connected=tasks") {
		t.Fatalf("linking Tasks ended at %s", back)
	}

	// Trying again succeeds with alice's own Tasks token, for both clients.
	tasks := personSession(t, ctx, d.routes["tasks"], alice, "")
	id, res, err = identity(t, ctx, tasks)
	if err != nil || res.IsError {
		t.Fatalf("tasks after linking: %v %s", err, text(res))
	}
	t.Logf("tasks upstream received:\n%s", text(res))
	if !slices.Equal(id.Audience, []string{demo.TasksAPIURI}) || id.UPN != demo.ContosoUPN("alice") || id.ObjectID != "4b1d9c1e-0000-4000-8000-00000000a11c" {
		t.Errorf("tasks upstream should get an api://tasks token for alice; got %+v", id)
	}
	old := personSession(t, ctx, d.routes["tasks"], alice, "2025-06-18")
	if _, res, err = identity(t, ctx, old); err != nil || res.IsError {
		t.Errorf("the older client's retry should work too: %v %s", err, text(res))
	}

	// bob signed in locally: he has no Contoso token for files to exchange. mcpgate never
	// sends its own token to Contoso; it refuses with 403 and says to sign in with Contoso.
	bob := &testutil.Person{Username: "bob", Password: d.passwords["bob"]}
	status, body := rawInitialize(t, ctx, personClient(t, d.routes["files"], bob).HTTPClient(), d.routes["files"])
	t.Logf("bob on files: %d %s", status, body)
	var rpc struct {
		Error *struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
			Data    struct {
				Route     string `json:"route"`
				Retryable bool   `json:"retryable"`
			} `json:"data"`
		} `json:"error"`
	}
	if json.Unmarshal([]byte(body), &rpc) != nil || rpc.Error == nil || rpc.Error.Data.Route != "files" || rpc.Error.Data.Retryable {
		t.Fatalf("bob (local sign-in) on files: want a non-retryable JSON-RPC error for route files; got %d %s", status, body)
	}
	if status != http.StatusForbidden || !strings.Contains(rpc.Error.Message, "local account") || !strings.Contains(rpc.Error.Message, `"Sign in with Contoso`) {
		t.Errorf("bob should get 403 saying his local account has no Contoso token and to sign in with Contoso; got %d %q", status, rpc.Error.Message)
	}
	for _, want := range []string{"After a local sign-in the call fails", "Sign in again with Contoso"} {
		if !strings.Contains(d.out.String(), want) {
			t.Errorf("the welcome text should explain the local sign-in failure on files (%q)", want)
		}
	}
}

// rawInitialize posts an initialize request with c and returns the status and body.
func rawInitialize(t *testing.T, ctx context.Context, c *http.Client, url string) (int, string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(
		`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestDemoConnectionSurvivesRestart: the keys that seal stored tokens are generated into
// the data folder on first start, so a linked account still works after a restart.
func TestDemoConnectionSurvivesRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the demo as a subprocess")
	}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	d := startDemoIn(t, dir)
	base := strings.TrimSuffix(d.routes["tasks"], "/tasks/mcp")
	alice := &testutil.Person{Username: demo.ContosoUPN("alice"), Password: d.passwords["alice"], Federated: demo.ContosoConnectorName}
	// Before linking, the server connects and lists its tools; the first call asks to link.
	cs, err := personConnect(t, ctx, d.routes["tasks"], alice, "")
	if err != nil {
		t.Fatalf("tasks before linking: connect: %v", err)
	}
	// (go-sdk v1.8.0 speaks 2026-07-28 without declaring URL elicitation: a tool error
	// carrying the URL; 2025-11-25 clients get -32042 with it.)
	if _, res, err := identity(t, ctx, cs); res == nil && !strings.Contains(fmt.Sprint(err), "/connections/tasks/connect") ||
		res != nil && !strings.Contains(text(res), "/connections/tasks/connect") {
		t.Fatalf("tasks before linking: want the connect URL, got %v %v", err, res)
	}
	alice.StopAt = base + "/connections/?"
	if back, err := alice.Authorize(ctx, base+"/connections/tasks/connect"); err != nil || !strings.Contains(back, "connected=tasks") {
		t.Fatalf("linking Tasks: %v %s (pages: %v)", err, back, alice.Seen)
	}
	d.stop()

	// New process, new port, new passwords; same data folder.
	d = startDemoIn(t, dir)
	alice = &testutil.Person{Username: demo.ContosoUPN("alice"), Password: d.passwords["alice"], Federated: demo.ContosoConnectorName}
	id, res, err := identity(t, ctx, personSession(t, ctx, d.routes["tasks"], alice, ""))
	if err != nil || res.IsError {
		t.Fatalf("tasks after restart: %v %s", err, text(res))
	}
	if !slices.Equal(id.Audience, []string{demo.TasksAPIURI}) || id.UPN != demo.ContosoUPN("alice") {
		t.Errorf("tasks after restart should still send alice's api://tasks token; got %+v", id)
	}
}
