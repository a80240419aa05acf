package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/url"
	"slices"
	"strings"
	"sync"

	"github.com/mcpgate/mcpgate/internal/client"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/spf13/cobra"
)

func init() {
	register(newToolsCmd)
	register(newCallCmd)
}

// connectMCP opens an MCP session to the server with the client's sign-in. It declares URL
// elicitation (urlElicitation), so that a server which needs the user on a page (mcpgate's
// connect page, say) can send them there.
func connectMCP(cmd *cobra.Command, c *client.Client) (*mcp.ClientSession, error) {
	mc := mcp.NewClient(&mcp.Implementation{Name: "mcpgate", Version: Version}, &mcp.ClientOptions{
		Capabilities:       &mcp.ClientCapabilities{Elicitation: &mcp.ElicitationCapabilities{URL: &mcp.URLElicitationCapabilities{}}},
		ElicitationHandler: urlElicitation(cmd.ErrOrStderr()),
	})
	tr := &mcp.StreamableClientTransport{Endpoint: c.ServerURL(), HTTPClient: c.HTTPClient(), DisableStandaloneSSE: true, MaxRetries: -1}
	s, err := mc.Connect(cmd.Context(), tr, nil)
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", c.ServerURL(), err)
	}
	return s, nil
}

func newToolsCmd() *cobra.Command {
	var f clientFlags
	var asJSON bool
	var output string
	cmd := &cobra.Command{
		Use:   "tools URL",
		Short: "List the tools of an MCP server (signs in if needed)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.newClient(cmd, args[0])
			if err != nil {
				return err
			}
			s, err := connectMCP(cmd, c)
			if err != nil {
				return err
			}
			defer s.Close()
			var tools []*mcp.Tool
			for t, err := range s.Tools(cmd.Context(), nil) {
				if err != nil {
					return fmt.Errorf("listing tools: %w", urlElicitationRequired(cmd.ErrOrStderr(), err))
				}
				tools = append(tools, t)
			}
			out := cmd.OutOrStdout()
			if asJSON || output == "json" {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(map[string]any{"tools": tools})
			}
			printTools(out, tools)
			return nil
		},
	}
	f.add(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the tools/list result as JSON (same as -o json)")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	return cmd
}

func printTools(out io.Writer, tools []*mcp.Tool) {
	if len(tools) == 0 {
		fmt.Fprintln(out, "(no tools)")
		return
	}
	for _, t := range tools {
		fmt.Fprintf(out, "%s\n", t.Name)
		if t.Description != "" {
			fmt.Fprintf(out, "    %s\n", strings.ReplaceAll(strings.TrimSpace(t.Description), "\n", "\n    "))
		}
		if m, ok := t.InputSchema.(map[string]any); ok {
			props, _ := m["properties"].(map[string]any)
			req := map[string]bool{}
			if r, ok := m["required"].([]any); ok {
				for _, x := range r {
					req[fmt.Sprint(x)] = true
				}
			}
			for _, k := range slices.Sorted(maps.Keys(props)) {
				typ := ""
				if p, ok := props[k].(map[string]any); ok {
					typ = fmt.Sprint(p["type"])
				}
				mark := ""
				if req[k] {
					mark = " (required)"
				}
				fmt.Fprintf(out, "    --arg %s=<%s>%s\n", k, typ, mark)
			}
		} else if b, err := json.Marshal(t.InputSchema); err == nil && string(b) != "null" {
			var m map[string]any
			if json.Unmarshal(b, &m) == nil {
				props, _ := m["properties"].(map[string]any)
				for _, k := range slices.Sorted(maps.Keys(props)) {
					fmt.Fprintf(out, "    --arg %s=…\n", k)
				}
			}
		}
	}
}

func newCallCmd() *cobra.Command {
	var f clientFlags
	var argKV []string
	var argJSON, output string
	cmd := &cobra.Command{
		Use:   "call URL TOOL",
		Short: "Call a tool of an MCP server (signs in if needed)",
		Example: `  mcpgate call http://127.0.0.1:8080/weather/mcp get_forecast --arg city=Paris --arg days=2
  mcpgate call http://127.0.0.1:8080/weather/mcp get_forecast --json '{"city":"Paris","days":2}' -o json`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			params, err := toolArgs(argKV, argJSON)
			if err != nil {
				return err
			}
			if output != "text" && output != "json" {
				return fmt.Errorf("--output %q: want text or json", output)
			}
			c, err := f.newClient(cmd, args[0])
			if err != nil {
				return err
			}
			s, err := connectMCP(cmd, c)
			if err != nil {
				return err
			}
			defer s.Close()
			res, err := s.CallTool(cmd.Context(), &mcp.CallToolParams{Name: args[1], Arguments: params})
			if err != nil {
				return fmt.Errorf("calling %s: %w", args[1], urlElicitationRequired(cmd.ErrOrStderr(), err))
			}
			out := cmd.OutOrStdout()
			if output == "json" {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				if err := enc.Encode(res); err != nil {
					return err
				}
			} else {
				printResult(out, res)
			}
			if res.IsError {
				return exitError{code: 2}
			}
			return nil
		},
	}
	f.add(cmd)
	cmd.Flags().StringArrayVar(&argKV, "arg", nil, "tool argument key=value (value parsed as JSON when it is valid JSON, else a string); repeatable")
	cmd.Flags().StringVar(&argJSON, "json", "", "tool arguments as a JSON object")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text, or json (the raw CallToolResult, for scripts)")
	return cmd
}

// toolArgs builds the arguments object from --arg k=v pairs or --json.
func toolArgs(kv []string, raw string) (map[string]any, error) {
	if raw != "" && len(kv) > 0 {
		return nil, fmt.Errorf("use either --arg or --json, not both")
	}
	out := map[string]any{}
	if raw != "" {
		if err := json.Unmarshal([]byte(raw), &out); err != nil {
			return nil, fmt.Errorf("--json must be a JSON object: %w", err)
		}
		return out, nil
	}
	for _, a := range kv {
		k, v, ok := strings.Cut(a, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--arg %q: want key=value", a)
		}
		var j any
		if err := json.Unmarshal([]byte(v), &j); err == nil {
			out[k] = j
		} else {
			out[k] = v
		}
	}
	return out, nil
}

func printResult(out io.Writer, res *mcp.CallToolResult) {
	if res.IsError {
		fmt.Fprintln(out, "Tool error:")
	}
	for _, c := range res.Content {
		switch c := c.(type) {
		case *mcp.TextContent:
			fmt.Fprintln(out, c.Text)
		case *mcp.ImageContent:
			fmt.Fprintf(out, "[image %s, %d bytes]\n", c.MIMEType, len(c.Data))
		case *mcp.AudioContent:
			fmt.Fprintf(out, "[audio %s, %d bytes]\n", c.MIMEType, len(c.Data))
		case *mcp.ResourceLink:
			fmt.Fprintf(out, "[resource %s]\n", c.URI)
		default:
			b, _ := json.Marshal(c)
			fmt.Fprintln(out, string(b))
		}
	}
	if res.StructuredContent != nil && len(res.Content) == 0 {
		b, _ := json.MarshalIndent(res.StructuredContent, "", "  ")
		fmt.Fprintln(out, string(b))
	}
}

// urlElicitation answers a server's URL elicitation the way the specification asks of a
// client: it shows the message, the page's host and the whole URL, and never opens the page
// itself (the user chooses to); then it accepts. On 2026-07-28 the client retries the call
// with the server's requestState, and a server such as mcpgate holds that retry until the
// user has finished on the page, or asks again (the same page is then not shown twice).
// Form elicitations are declined: this command asks nothing on the terminal.
func urlElicitation(w io.Writer) func(context.Context, *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
	var mu sync.Mutex
	shown := map[string]bool{}
	return func(_ context.Context, req *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
		p := req.Params
		if p == nil || p.Mode != "url" {
			return &mcp.ElicitResult{Action: "decline"}, nil
		}
		mu.Lock()
		again := shown[p.URL]
		shown[p.URL] = true
		mu.Unlock()
		if again {
			if u, err := url.Parse(p.URL); err == nil {
				fmt.Fprintf(w, "Still waiting for you to finish on %s …\n", u.Host)
			}
			return &mcp.ElicitResult{Action: "accept"}, nil
		}
		if !showPage(w, p) {
			return &mcp.ElicitResult{Action: "decline"}, nil
		}
		fmt.Fprintf(w, "Waiting for you to finish there (Ctrl-C to stop) …\n")
		return &mcp.ElicitResult{Action: "accept"}, nil
	}
}

// showPage prints a URL elicitation: its message, the page's host and the URL. It refuses
// (false) a URL that is not http(s).
func showPage(w io.Writer, p *mcp.ElicitParams) bool {
	u, err := url.Parse(p.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		fmt.Fprintf(w, "The server asked to open a page that is not an http(s) URL; declined.\n")
		return false
	}
	msg := strings.TrimSpace(p.Message)
	if msg == "" {
		msg = "The server needs you to complete a step in your browser."
	}
	fmt.Fprintf(w, "%s\n\nOpen this page (on %s) in your browser:\n\n  %s\n\n", msg, u.Host, p.URL)
	return true
}

// urlElicitationRequired turns a 2025-11-25 server's URL elicitation error (-32042) into
// the pages to open and an error asking to run the command again: the retry the
// specification describes waits for a notification on a stream this command does not keep.
func urlElicitationRequired(w io.Writer, err error) error {
	var rpcErr *jsonrpc.Error
	if !errors.As(err, &rpcErr) || rpcErr.Code != mcp.CodeURLElicitationRequired {
		return err
	}
	var data struct {
		Elicitations []*mcp.ElicitParams `json:"elicitations"`
	}
	if json.Unmarshal(rpcErr.Data, &data) != nil || len(data.Elicitations) == 0 {
		return err
	}
	shown := 0
	for _, p := range data.Elicitations {
		if p.Mode == "url" && showPage(w, p) {
			shown++
		}
	}
	if shown == 0 {
		return err
	}
	return fmt.Errorf("the server needs you on the page above first: open it, finish there, then run this command again")
}
