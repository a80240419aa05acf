package cli

import (
	"context"
	"fmt"
	"net"
	"os"

	"github.com/spf13/cobra"

	"github.com/mcpgate/mcpgate/internal/app"
	"github.com/mcpgate/mcpgate/internal/config"
	"github.com/mcpgate/mcpgate/internal/gctune"
)

func runServe(cmd *cobra.Command, file string) error {
	cfg, warnings, err := config.Load(file)
	for _, w := range warnings {
		fmt.Fprintf(cmd.ErrOrStderr(), "warning: %s\n", w)
	}
	if err != nil {
		return err
	}
	log := newLogger(cmd.ErrOrStderr(), cfg.Log.Format, cfg.Log.Level)
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	if ml := gctune.SetMemoryLimit(); ml.Source != "" {
		log.InfoContext(ctx, "memory limit", "bytes", ml.Bytes, "source", ml.Source, "cgroup_bytes", ml.Cgroup)
	}
	// MCPGATE_SSE_RELAY=off is the operator's escape hatch from the SSE relay
	// (docs/gateway.md); the environment is read here, never by the gateway itself.
	a, err := app.New(ctx, cfg, app.Options{Logger: log, AuditOut: cmd.OutOrStdout(),
		DisableSSERelay: os.Getenv("MCPGATE_SSE_RELAY") == "off"})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		a.Close()
		return fmt.Errorf("listening on %s: %w (is another process using it? change listen in %s)", cfg.Listen, err, file)
	}
	return a.Serve(ctx, ln)
}
