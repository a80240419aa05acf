package gateway

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpgate/mcpgate/internal/testutil"
)

// conformanceUpstream is a go-sdk MCP server with a reasonable share of the tools,
// resources and prompts the conformance suite asks for.
func conformanceUpstream(t *testing.T) *httptest.Server {
	srv := mcp.NewServer(&mcp.Implementation{Name: "conformance-upstream", Version: "1.0.0"}, &mcp.ServerOptions{
		CompletionHandler: func(context.Context, *mcp.CompleteRequest) (*mcp.CompleteResult, error) {
			return &mcp.CompleteResult{Completion: mcp.CompletionResultDetails{Values: []string{}}}, nil
		},
		SubscribeHandler:   func(context.Context, *mcp.SubscribeRequest) error { return nil },
		UnsubscribeHandler: func(context.Context, *mcp.UnsubscribeRequest) error { return nil },
	})
	type none struct{}
	text := func(s string) *mcp.CallToolResult {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: s}}}
	}
	mcp.AddTool(srv, &mcp.Tool{Name: "test_simple_text", Description: "simple text"}, func(context.Context, *mcp.CallToolRequest, none) (*mcp.CallToolResult, any, error) {
		return text("This is a simple text response for testing."), nil, nil
	})
	png, _ := base64.StdEncoding.DecodeString("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")
	mcp.AddTool(srv, &mcp.Tool{Name: "test_image_content", Description: "image"}, func(context.Context, *mcp.CallToolRequest, none) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.ImageContent{Data: png, MIMEType: "image/png"}}}, nil, nil
	})
	mcp.AddTool(srv, &mcp.Tool{Name: "test_error_handling", Description: "always fails"}, func(context.Context, *mcp.CallToolRequest, none) (*mcp.CallToolResult, any, error) {
		r := text("This tool intentionally returns an error for testing")
		r.IsError = true
		return r, nil, nil
	})
	mcp.AddTool(srv, &mcp.Tool{Name: "test_tool_with_progress", Description: "progress"}, func(ctx context.Context, req *mcp.CallToolRequest, _ none) (*mcp.CallToolResult, any, error) {
		if tok := req.Params.GetProgressToken(); tok != nil {
			for i := range 3 {
				_ = req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{ProgressToken: tok, Progress: float64(i * 50), Total: 100})
				time.Sleep(20 * time.Millisecond)
			}
		}
		return text("progress done"), nil, nil
	})
	mcp.AddTool(srv, &mcp.Tool{Name: "test_tool_with_logging", Description: "logging"}, func(ctx context.Context, req *mcp.CallToolRequest, _ none) (*mcp.CallToolResult, any, error) {
		for _, m := range []string{"Tool execution started", "Tool processing data", "Tool execution completed"} {
			//lint:ignore SA1019 the conformance scenario tools-call-with-logging exercises logging
			_ = req.Session.Log(ctx, &mcp.LoggingMessageParams{Level: "info", Data: m})
		}
		return text("logged"), nil, nil
	})
	srv.AddResource(&mcp.Resource{URI: "test://static-text", Name: "static-text", MIMEType: "text/plain"}, func(_ context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
		return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: req.Params.URI, MIMEType: "text/plain", Text: "This is the content of the static text resource."}}}, nil
	})
	srv.AddResource(&mcp.Resource{URI: "test://static-binary", Name: "static-binary", MIMEType: "image/png"}, func(_ context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
		return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: req.Params.URI, MIMEType: "image/png", Blob: png}}}, nil
	})
	srv.AddResourceTemplate(&mcp.ResourceTemplate{URITemplate: "test://template/{id}/data", Name: "template", MIMEType: "application/json"}, func(_ context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
		id := strings.TrimSuffix(strings.TrimPrefix(req.Params.URI, "test://template/"), "/data")
		return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: req.Params.URI, MIMEType: "application/json", Text: `{"id":"` + id + `","templateTest":true,"data":"Data for ID: ` + id + `"}`}}}, nil
	})
	srv.AddPrompt(&mcp.Prompt{Name: "test_simple_prompt", Description: "simple"}, func(context.Context, *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
		return &mcp.GetPromptResult{Messages: []*mcp.PromptMessage{{Role: "user", Content: &mcp.TextContent{Text: "This is a simple prompt for testing."}}}}, nil
	})
	srv.AddPrompt(&mcp.Prompt{Name: "test_prompt_with_arguments", Description: "args", Arguments: []*mcp.PromptArgument{{Name: "arg1", Required: true}, {Name: "arg2", Required: true}}},
		func(_ context.Context, req *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
			a := req.Params.Arguments
			return &mcp.GetPromptResult{Messages: []*mcp.PromptMessage{{Role: "user", Content: &mcp.TextContent{Text: "Prompt with arguments: arg1='" + a["arg1"] + "', arg2='" + a["arg2"] + "'"}}}}, nil
		})
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil)
	hs := httptest.NewServer(h)
	t.Cleanup(hs.Close)
	return hs
}

// runConformance runs the whole server suite against url and returns the passed checks
// ("scenario/check") and all checks.
func runConformance(t *testing.T, bin, url, dir string) (passed, all []string) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "server", "--url", url, "-o", dir)
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("conformance against %s timed out: %s", url, out)
	}
	_ = err // the suite exits non-zero when any check fails, which is expected here
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() != "checks.json" {
			return nil
		}
		b, rerr := os.ReadFile(p)
		if rerr != nil {
			return nil
		}
		var checks []struct {
			ID     string `json:"id"`
			Status string `json:"status"`
		}
		if json.Unmarshal(b, &checks) != nil {
			t.Errorf("cannot parse %s", p)
			return nil
		}
		scen, _ := filepath.Rel(dir, filepath.Dir(p))
		scen = scenarioName(scen)
		for _, c := range checks {
			key := scen + "/" + c.ID
			all = append(all, key+"="+c.Status)
			if c.Status == "SUCCESS" {
				passed = append(passed, key)
			}
		}
		return nil
	})
	if len(all) == 0 {
		t.Fatalf("no checks.json under %s; output:\n%s", dir, out)
	}
	slices.Sort(passed)
	slices.Sort(all)
	return passed, all
}

// scenarioName drops the server- prefix and the timestamp suffix of result folders.
func scenarioName(rel string) string {
	parts := strings.Split(filepath.ToSlash(rel), "/")
	for i, p := range parts {
		if j := strings.Index(p, "-20"); j > 0 { // server-initialize-2026-11-22T...
			parts[i] = p[:j]
		}
	}
	return strings.TrimPrefix(strings.Join(parts, "/"), "server-")
}

func TestConformanceThroughGateway(t *testing.T) {
	if testing.Short() {
		t.Skip("conformance suite skipped under -short")
	}
	bin := testutil.Conformance(t)
	up := conformanceUpstream(t)
	base, _, _ := serveGateway(t, Options{Routes: []RouteOptions{{Name: "conformance", Path: "/mcp", Upstream: up.URL, Mode: ModePermissive}}})

	dir := t.TempDir()
	var (
		wg               sync.WaitGroup
		directP, gwP     []string
		directAll, gwAll []string
	)
	wg.Add(2)
	go func() {
		defer wg.Done()
		directP, directAll = runConformance(t, bin, up.URL, filepath.Join(dir, "direct"))
	}()
	go func() {
		defer wg.Done()
		gwP, gwAll = runConformance(t, bin, base+"/mcp", filepath.Join(dir, "gateway"))
	}()
	wg.Wait()
	t.Logf("direct: %d/%d checks pass; gateway: %d/%d", len(directP), len(directAll), len(gwP), len(gwAll))
	if !slices.Equal(directP, gwP) {
		for _, p := range directP {
			if !slices.Contains(gwP, p) {
				t.Errorf("passes direct, fails through the gateway: %s", p)
			}
		}
		for _, p := range gwP {
			if !slices.Contains(directP, p) {
				t.Errorf("passes through the gateway only: %s", p)
			}
		}
	}
	for _, id := range []string{"dns-rebinding-protection/localhost-host-rebinding-rejected", "dns-rebinding-protection/localhost-host-valid-accepted", "server-initialize/server-initialize"} {
		if !slices.Contains(gwP, id) {
			t.Errorf("%s does not pass on the gateway (all: %v)", id, gwAll)
		}
	}
	if len(gwP) < 10 {
		t.Errorf("only %d checks pass through the gateway: %v", len(gwP), gwAll)
	}
}
