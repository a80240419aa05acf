// Command mcpgate is an SSO gateway and authorization server for MCP servers.
package main

import (
	"os"

	"github.com/mcpgate/mcpgate/internal/cli"
)

func main() { os.Exit(cli.Main(os.Args[1:])) }
