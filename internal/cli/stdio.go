package cli

import (
	"github.com/mcpgate/mcpgate/internal/client"
	"github.com/spf13/cobra"
)

func init() { register(newStdioCmd) }

func newStdioCmd() *cobra.Command {
	var f clientFlags
	var logLevel string
	cmd := &cobra.Command{
		Use:   "stdio URL",
		Short: "Bridge a stdio MCP client to a protected Streamable HTTP MCP server",
		Long: `Run as the command of a stdio-only MCP client (Claude Desktop and others): reads JSON-RPC
messages from stdin, sends them to the server URL with your sign-in (signing in or refreshing as
needed), and writes every server message to stdout unchanged. Logs go to stderr only.`,
		Example: `  {"mcpServers": {"weather": {"command": "mcpgate", "args": ["stdio", "http://127.0.0.1:8080/weather/mcp"]}}}`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts := f.options(cmd, args[0])
			lvl := logLevel
			if f.verbose {
				lvl = "debug"
			}
			opts.Logger = clientLogger(cmd, lvl)
			c, err := client.New(opts)
			if err != nil {
				return err
			}
			b := &client.Bridge{
				URL:    args[0],
				HTTP:   c.HTTPClient(),
				In:     cmd.InOrStdin(),
				Out:    cmd.OutOrStdout(),
				Logger: opts.Logger,
			}
			return b.Run(cmd.Context())
		},
	}
	f.add(cmd)
	cmd.Flags().StringVar(&logLevel, "log-level", "info", "stderr log level: debug, info, warn, error")
	return cmd
}
