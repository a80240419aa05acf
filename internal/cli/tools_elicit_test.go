package cli

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpgate/mcpgate/internal/testutil"
)

const linkPage = "http://127.0.0.1:1/connections/tasks/connect?ref=abc"

// linkServer serves a go-sdk server whose "report" tool needs the user on linkPage until
// the third call: on 2026-07-28 (stateless) it asks with an input request and a
// requestState, on 2025-11-25 with the URL elicitation error -32042.
func linkServer(t *testing.T, stateless bool) (string, *atomic.Int32) {
	var calls atomic.Int32
	s := mcp.NewServer(&mcp.Implementation{Name: "tasks", Version: "1"}, nil)
	ask := &mcp.ElicitParams{Mode: "url", URL: linkPage, ElicitationID: "link-1", Message: "Connect your Tasks account to continue."}
	mcp.AddTool(s, &mcp.Tool{Name: "report"}, func(_ context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
		n := calls.Add(1)
		if n >= 3 {
			if stateless && req.Params.RequestState != "state-1" {
				return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: "the retry lost the requestState"}}}, nil, nil
			}
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "3 open tasks"}}}, nil, nil
		}
		if !stateless {
			return nil, nil, mcp.URLElicitationRequiredError([]*mcp.ElicitParams{ask})
		}
		return &mcp.CallToolResult{RequestState: "state-1", InputRequests: mcp.InputRequestMap{"link": ask}}, nil, nil
	})
	srv := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, &mcp.StreamableHTTPOptions{Stateless: stateless}))
	t.Cleanup(srv.Close)
	return srv.URL, &calls
}

func runCall(t *testing.T, args ...string) (stdout, stderr string, err error) {
	var out bytes.Buffer
	var errb testutil.SyncBuffer
	root := NewRoot(strings.NewReader(""), &out, &errb)
	root.SetArgs(append([]string{"call", "--token-cache", t.TempDir()}, args...))
	err = root.ExecuteContext(context.Background())
	return out.String(), errb.String(), err
}

// `mcpgate call` declares URL elicitation: on 2026-07-28 it shows the page (message, host,
// URL, once), accepts and retries with the server's requestState until the server answers;
// on 2025-11-25 it shows the page and says to run the command again.
func TestCallURLElicitation(t *testing.T) {
	url, calls := linkServer(t, true)
	out, errOut, err := runCall(t, url, "report")
	if err != nil || !strings.Contains(out, "3 open tasks") {
		t.Fatalf("call: %v\nstdout: %s\nstderr: %s", err, out, errOut)
	}
	for _, want := range []string{"Connect your Tasks account to continue.", "Open this page (on 127.0.0.1:1) in your browser:", linkPage, "Still waiting for you to finish on 127.0.0.1:1"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	if n := strings.Count(errOut, linkPage); n != 1 {
		t.Errorf("the page was shown %d times, want once:\n%s", n, errOut)
	}
	if n := calls.Load(); n != 3 {
		t.Errorf("the tool was called %d times, want 3", n)
	}

	url, _ = linkServer(t, false)
	out, errOut, err = runCall(t, url, "report")
	if err == nil || !strings.Contains(err.Error(), "run this command again") || !strings.Contains(errOut, linkPage) {
		t.Fatalf("2025-11-25: want the page shown and an error asking to run again; got %v\nstdout: %s\nstderr: %s", err, out, errOut)
	}
}
