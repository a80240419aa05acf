package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/mcpgate/mcpgate/internal/config"
)

func runServe(cmd *cobra.Command, file string) error {
	cfg, warnings, err := config.Load(file)
	for _, w := range warnings {
		fmt.Fprintf(cmd.ErrOrStderr(), "warning: %s\n", w)
	}
	if err != nil {
		return err
	}
	_ = cfg
	return fmt.Errorf("serve: not wired yet")
}
