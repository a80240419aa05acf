// Command stdioserver is a stdio MCP server for the virtual server's tests: whoami
// answers the user from the environment and the process id, crash exits mid-call, flood
// writes one endless line on stdout; with -exit it exits before the handshake.
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "-exit" {
		fmt.Fprintln(os.Stderr, "exiting at once")
		os.Exit(1)
	}
	s := mcp.NewServer(&mcp.Implementation{Name: "stdioserver", Version: "1"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "whoami", Description: "the user this process serves"},
		func(ctx context.Context, _ *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
			text := fmt.Sprintf("user=%s pid=%d", os.Getenv("TEST_USER_SUB"), os.Getpid())
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: text}}}, nil, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "crash", Description: "exits in the middle of the call"},
		func(ctx context.Context, _ *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
			fmt.Fprintln(os.Stderr, "crashing on purpose")
			os.Exit(3)
			return nil, nil, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "flood", Description: "writes an endless line on stdout"},
		func(ctx context.Context, _ *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
			chunk := []byte(strings.Repeat("x", 32<<10))
			os.Stdout.Write([]byte(`{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"`))
			for {
				if _, err := os.Stdout.Write(chunk); err != nil {
					os.Exit(4)
				}
			}
		})
	if err := s.Run(context.Background(), &mcp.StdioTransport{}); err != nil {
		log.Print(err)
	}
}
