package cli

import (
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mcpgate/mcpgate/internal/demo"
)

func init() { register(newDemoCmd) }

func newDemoCmd() *cobra.Command {
	var o demo.RunOptions
	var verbose bool
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run everything on the embedded default: users, authorization server, gateway and demo MCP servers",
		Long: `demo starts, in one process and with no configuration file, mcpgate's authorization
server with demo users, demo MCP servers (weather, stocks, whoami, and files and tasks, which
show On-Behalf-Of and a per-user connection against an Entra ID emulator served under /entra)
and the gateway in front of them, with data in a local folder (SQLite). It prints the MCP URLs
and ready-to-copy snippets for VS Code, Claude Desktop and MCP Inspector. Ctrl+C stops it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			level := "warn"
			if verbose {
				level = "info"
			}
			o.Logger = newLogger(cmd.ErrOrStderr(), "text", level)
			o.Out = cmd.OutOrStdout()
			o.Executable = snippetExecutable()
			return demo.Run(cmd.Context(), o)
		},
	}
	cmd.Flags().StringVar(&o.Addr, "addr", "127.0.0.1:8080", "listen address")
	cmd.Flags().StringVar(&o.PublicURL, "public-url", "", "external base URL when behind a proxy (default http://<addr>)")
	cmd.Flags().StringVar(&o.DataDir, "data-dir", filepath.Join(".mcpgate", "demo"), "folder for the demo's database, audit log and generated keys")
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "log every request")
	cmd.Flags().BoolVar(&o.TLS, "tls", false, "serve https with a self-signed certificate (needed by MSAL and the web canvas at /canvas/)")
	cmd.Flags().StringVar(&o.WebChatDir, "webchat-dir", os.Getenv(demo.WebChatDirEnv),
		"the dist folder of the botframework-webchat npm package: the web canvas renders the real Bot Framework Web Chat (default $"+demo.WebChatDirEnv+"; empty: a stand-in chat)")
	return cmd
}

// snippetExecutable is how printed snippets should start mcpgate: the running binary when
// it is installed somewhere stable, or "mcpgate" when it runs from `go run`'s temporary build.
func snippetExecutable() string {
	exe, err := os.Executable()
	if err != nil || strings.Contains(exe, string(filepath.Separator)+"go-build") {
		return "mcpgate"
	}
	return exe
}
