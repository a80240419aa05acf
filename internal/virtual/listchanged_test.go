package virtual_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpgate/mcpgate/internal/virtual"
)

// An upstream whose tools change tells the virtual server, which tells its clients
// (notifications/tools/list_changed on their stream); the next list has the new tool
// under its visible name. Likewise for prompts. The upstream speaks 2025-11-25 (a
// stateful server: the change comes on its GET stream) or 2026-07-28 (a stateless one:
// on the subscriptions/listen stream the virtual server's client opens).
func TestListChangedMerged(t *testing.T) {
	for name, o := range map[string]*mcp.StreamableHTTPOptions{"GET stream": nil, "subscriptions/listen": {Stateless: true}} {
		t.Run(name, func(t *testing.T) { testListChanged(t, o) })
	}
}

func testListChanged(t *testing.T, o *mcp.StreamableHTTPOptions) {
	up := mcp.NewServer(&mcp.Implementation{Name: "dyn", Version: "1"}, nil)
	mcp.AddTool(up, &mcp.Tool{Name: "first"}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{}, nil, nil
	})
	up.AddPrompt(&mcp.Prompt{Name: "old"}, func(context.Context, *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
		return &mcp.GetPromptResult{}, nil
	})
	srv := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return up }, o))
	t.Cleanup(srv.Close)
	other := newHTTPUpstream(t, "other", false, nil)
	url, _, _ := newGateway(t, virtual.Options{Upstreams: []virtual.Upstream{
		{Name: "dyn", URL: srv.URL, Prefix: "dyn_"},
		{Name: "other", URL: other.URL, Prefix: "other_"},
	}})
	tools, prompts := make(chan struct{}, 8), make(chan struct{}, 8)
	cs := connect(t, url, "alice", &mcp.ClientOptions{
		ToolListChangedHandler:   func(context.Context, *mcp.ToolListChangedRequest) { tools <- struct{}{} },
		PromptListChangedHandler: func(context.Context, *mcp.PromptListChangedRequest) { prompts <- struct{}{} },
	})
	names, _ := toolNames(t, cs)
	if !slices.Contains(names, "dyn_first") || slices.Contains(names, "dyn_second") {
		t.Fatalf("tools = %v", names)
	}
	mcp.AddTool(up, &mcp.Tool{Name: "second"}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{}, nil, nil
	})
	select {
	case <-tools:
	case <-time.After(10 * time.Second):
		t.Fatal("no tools/list_changed reached the client")
	}
	if names, _ = toolNames(t, cs); !slices.Contains(names, "dyn_second") || !slices.Contains(names, "other_echo") {
		t.Fatalf("tools after the change = %v", names)
	}
	if got, err := call(t, cs, "dyn_second", nil); err != nil {
		t.Fatalf("dyn_second = %q, %v", got, err)
	}
	up.AddPrompt(&mcp.Prompt{Name: "new"}, func(context.Context, *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
		return &mcp.GetPromptResult{}, nil
	})
	select {
	case <-prompts:
	case <-time.After(10 * time.Second):
		t.Fatal("no prompts/list_changed reached the client")
	}
	res, err := cs.ListPrompts(context.Background(), nil)
	if err != nil || !slices.ContainsFunc(res.Prompts, func(p *mcp.Prompt) bool { return p.Name == "dyn_new" }) {
		t.Fatalf("prompts after the change: %v", err)
	}
	if slices.ContainsFunc(res.Prompts, func(p *mcp.Prompt) bool { return p.Name == "mcpgate-list-changed-sentinel" }) {
		t.Fatal("the sentinel is listed")
	}
}

// server/discover (2026-07-28) answers with the instructions of every upstream, each
// under its name, and names the upstreams that could not be reached.
func TestDiscoverMerged(t *testing.T) {
	withInstructions := func(name, text string) string {
		s := mcp.NewServer(&mcp.Implementation{Name: name, Version: "1"}, &mcp.ServerOptions{Instructions: text})
		mcp.AddTool(s, &mcp.Tool{Name: "t"}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
			return &mcp.CallToolResult{}, nil, nil
		})
		srv := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, nil))
		t.Cleanup(srv.Close)
		return srv.URL
	}
	var down atomic.Bool
	down.Store(true)
	gone := newHTTPUpstream(t, "gone", false, &down)
	url, _, logs := newGateway(t, virtual.Options{Upstreams: []virtual.Upstream{
		{Name: "wiki", URL: withInstructions("wiki", "Search before you create a page."), Prefix: "wiki_"},
		{Name: "ci", URL: withInstructions("ci", "Builds take minutes; poll status."), Prefix: "ci_"},
		{Name: "gone", URL: gone.URL, Prefix: "gone_"},
	}})
	body := `{"jsonrpc":"2.0","id":1,"method":"server/discover","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientInfo":{"name":"t","version":"1"},"io.modelcontextprotocol/clientCapabilities":{}}}}`
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	for k, v := range map[string]string{"Authorization": "Bearer alice", "Content-Type": "application/json", "Accept": "application/json, text/event-stream",
		"MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "server/discover"} {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	text := string(raw)
	if i := strings.Index(text, "data: "); i >= 0 { // an SSE answer
		text = strings.TrimSpace(strings.SplitN(text[i+len("data: "):], "\n", 2)[0])
	}
	var msg struct {
		Result struct {
			Instructions string         `json:"instructions"`
			Meta         map[string]any `json:"_meta"`
		} `json:"result"`
	}
	if err := json.Unmarshal([]byte(text), &msg); err != nil {
		t.Fatalf("%d %s", resp.StatusCode, raw)
	}
	want := "## wiki (its tools and prompts are named wiki_…)\nSearch before you create a page.\n\n## ci (its tools and prompts are named ci_…)\nBuilds take minutes; poll status."
	if msg.Result.Instructions != want {
		t.Errorf("instructions = %q", msg.Result.Instructions)
	}
	if un, _ := msg.Result.Meta[virtual.MetaUnavailable].([]any); len(un) != 1 || un[0].(map[string]any)["upstream"] != "gone" {
		t.Errorf("_meta = %v\n%s", msg.Result.Meta, logs)
	}
}
