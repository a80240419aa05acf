// Package cli holds mcpgate's cobra commands. main calls Main; everything else is a library.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

// Version is set at build time with -ldflags "-X github.com/mcpgate/mcpgate/internal/cli.Version=…"
// (make build stamps git describe --always --dirty); go run and a plain go build leave "dev".
var Version = "dev"

// exitError carries an exit code through cobra.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit %d", e.code) }

// Main runs the CLI with args and returns the process exit code.
func Main(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := NewRoot(os.Stdin, os.Stdout, os.Stderr)
	root.SetArgs(args)
	if err := root.ExecuteContext(ctx); err != nil {
		var ee exitError
		if errors.As(err, &ee) {
			return ee.code
		}
		fmt.Fprintln(os.Stderr, "mcpgate:", err)
		return 1
	}
	return 0
}

// NewRoot builds the command tree.
func NewRoot(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "mcpgate",
		Short:         "Single sign-on gateway and authorization server for MCP servers",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	for _, add := range commands {
		root.AddCommand(add())
	}
	return root
}

// commands are registered by each command's file so that files stay independent.
var commands = []func() *cobra.Command{newVersionCmd, newConfigCmd, newServeCmd}

func register(f func() *cobra.Command) { commands = append(commands, f) }

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintf(cmd.OutOrStdout(), "mcpgate %s\n", Version)
			return nil
		},
	}
}

// newLogger builds the process logger.
func newLogger(w io.Writer, format, level string) *slog.Logger {
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(level))
	opts := &slog.HandlerOptions{Level: lv}
	var l *slog.Logger
	if format == "text" {
		l = slog.New(slog.NewTextHandler(w, opts))
	} else {
		l = slog.New(slog.NewJSONHandler(w, opts))
	}
	// Libraries that log through the standard log package or slog's default (the OIDC
	// library, go-redis) then write in the same format, to the same place.
	slog.SetDefault(l)
	return l
}
