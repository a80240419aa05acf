package cli

import (
	"context"
	"os"
	"time"

	"github.com/mcpgate/mcpgate/internal/client"
	"github.com/spf13/cobra"
)

func init() { register(newConformanceClientCmd) }

// newConformanceClientCmd is the MCP conformance suite's client contract: the server URL is
// the last argument, the scenario and its context come from MCP_CONFORMANCE_SCENARIO and
// MCP_CONFORMANCE_CONTEXT. Hidden: it signs in without a human.
func newConformanceClientCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "conformance-client [flags] URL",
		Short:  "Client side of the MCP conformance suite (unattended sign-in)",
		Hidden: true,
		Args:   cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), 28*time.Second)
			defer cancel()
			return client.RunConformance(ctx, os.Getenv("MCP_CONFORMANCE_SCENARIO"), os.Getenv("MCP_CONFORMANCE_CONTEXT"),
				args[len(args)-1], cmd.ErrOrStderr())
		},
	}
}
