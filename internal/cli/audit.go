package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/mcpgate/mcpgate/internal/audit"
	"github.com/mcpgate/mcpgate/internal/config"
)

func init() { register(newAuditCmd) }

// openAuditStore opens the configured store for audit queries. It is set by the file that
// wires the store package; while nil, `mcpgate audit` reads the audit file.
var openAuditStore func(ctx context.Context, cfg *config.Config) (audit.Store, func() error, error)

func newAuditCmd() *cobra.Command {
	var (
		cfgFile, file string
		f             audit.Filter
		since         string
		asJSON        bool
	)
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Query audit events (who called which tool, when, and what was decided)",
		Long: `Query audit events from the store (audit.store: true) or from the JSON-lines audit file
(audit.file, including its rotated files, or --file).

Examples:
  mcpgate audit --user alice@example.com --since 24h
  mcpgate audit --tool transfer --decision deny
  mcpgate audit --file /var/log/mcpgate/audit.jsonl --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if since != "" {
				t, err := parseSince(since, time.Now())
				if err != nil {
					return err
				}
				f.Since = t
			}
			events, err := queryAudit(cmd.Context(), cmd, cfgFile, file, f)
			if err != nil {
				return err
			}
			return printEvents(cmd.OutOrStdout(), events, asJSON)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&cfgFile, "config", "c", "mcpgate.yaml", "configuration file (to find the audit store or file)")
	fl.StringVar(&file, "file", "", "read this JSON-lines audit file (and its rotated files) instead")
	fl.StringVar(&f.User, "user", "", "only events of this user (subject or email)")
	fl.StringVar(&f.Tool, "tool", "", "only events for this tool, prompt or resource URI")
	fl.StringVar(&f.Decision, "decision", "", "only events with this decision (allow, deny, insufficient_scope, rate_limited, ...)")
	fl.StringVar(&f.Route, "route", "", "only events of this route")
	fl.StringVar(&since, "since", "", "only events since a time: a duration ago (24h, 30m) or a date/time (2026-11-22, 2026-11-22T10:00:00Z)")
	fl.IntVar(&f.Limit, "limit", 100, "show at most this many (most recent) events; -1 for all")
	fl.BoolVar(&asJSON, "json", false, "print events as JSON lines")
	return cmd
}

func queryAudit(ctx context.Context, cmd *cobra.Command, cfgFile, file string, f audit.Filter) ([]audit.Event, error) {
	if file != "" {
		return queryAuditFile(cmd, file, 100, f)
	}
	cfg, _, err := config.Load(cfgFile)
	if err != nil {
		return nil, fmt.Errorf("%w\n(use --file to read an audit file without a configuration)", err)
	}
	a := cfg.Audit
	if a != nil && a.Store && openAuditStore != nil {
		store, closeStore, err := openAuditStore(ctx, cfg)
		if err != nil {
			return nil, fmt.Errorf("opening the audit store: %w", err)
		}
		defer closeStore()
		return store.QueryAudit(ctx, f)
	}
	if a != nil && a.File != nil {
		return queryAuditFile(cmd, a.File.Path, a.File.MaxFiles, f)
	}
	if a != nil && a.Store {
		return nil, errors.New("querying the audit store is not available in this build; enable audit.file (or pass --file) to query events")
	}
	return nil, fmt.Errorf("%s has no queryable audit sink: set audit.store: true or audit.file.path (events on stdout go wherever your log collector puts them)", cfgFile)
}

func queryAuditFile(cmd *cobra.Command, path string, keep int, f audit.Filter) ([]audit.Event, error) {
	if keep < 100 {
		keep = 100 // rotated files beyond the configured count may still exist; read what is there
	}
	events, skipped, err := audit.QueryFiles(path, keep, f)
	if err != nil {
		return nil, err
	}
	if skipped > 0 {
		fmt.Fprintf(cmd.ErrOrStderr(), "warning: %d lines of %s are not audit events and were skipped\n", skipped, path)
	}
	return events, nil
}

// parseSince accepts a duration ago or an absolute time.
func parseSince(s string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil {
		if d < 0 {
			d = -d
		}
		return now.Add(-d), nil
	}
	if strings.HasSuffix(s, "d") {
		var n int
		if _, err := fmt.Sscanf(s, "%dd", &n); err == nil && n >= 0 {
			return now.AddDate(0, 0, -n), nil
		}
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02 15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("--since %q: write a duration ago (30m, 24h, 7d) or a date/time (2026-11-22 or 2026-11-22T10:00:00Z)", s)
}

func printEvents(w io.Writer, events []audit.Event, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		for i := range events {
			if err := enc.Encode(&events[i]); err != nil {
				return err
			}
		}
		return nil
	}
	if len(events) == 0 {
		_, err := fmt.Fprintln(w, "no matching audit events")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tROUTE\tUSER\tCLIENT\tMETHOD\tTARGET\tDECISION\tRULES\tSTATUS\tLATENCY")
	for _, e := range events {
		user := e.Email
		if user == "" {
			user = e.User
		}
		target := e.Tool
		if target == "" {
			target = e.Prompt
		}
		if target == "" {
			target = e.Resource
		}
		status := "-"
		if e.Status != 0 {
			status = fmt.Sprint(e.Status)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%.1fms\n",
			e.Time.Local().Format("2006-01-02 15:04:05"), dash(e.Route), dash(user), dash(e.ClientID), dash(e.Method),
			dash(target), dash(e.Decision), dash(strings.Join(e.Rules, ",")), status, e.LatencyMS)
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
