package cli

import (
	"github.com/spf13/cobra"
)

func newServeCmd() *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the gateway (and authorization server, when configured)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runServe(cmd, file)
		},
	}
	cmd.Flags().StringVarP(&file, "config", "c", "mcpgate.yaml", "configuration file")
	return cmd
}
