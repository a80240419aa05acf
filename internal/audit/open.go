package audit

import (
	"errors"
	"io"
	"log/slog"

	"github.com/mcpgate/mcpgate/internal/config"
)

// Open builds the auditor a config asks for. Without an audit section, events go to
// stdout as JSON lines. store may be nil when no store is configured (audit.store then
// fails).
func Open(cfg *config.Audit, stdout io.Writer, store Store, log *slog.Logger) (*Auditor, error) {
	if cfg == nil {
		return New(Options{Logger: log}, NewJSONLines(stdout)), nil
	}
	c := *cfg
	c.SetDefaults()
	var sinks []Sink
	if c.Stdout {
		sinks = append(sinks, NewJSONLines(stdout))
	}
	if c.File != nil {
		f, err := NewFile(c.File.Path, int64(c.File.MaxSize), c.File.MaxFiles)
		if err != nil {
			return nil, err
		}
		sinks = append(sinks, f)
	}
	if c.Store {
		if store == nil {
			return nil, errors.New("audit.store is set but no store is configured")
		}
		sinks = append(sinks, StoreSink{Store: store})
	}
	return New(Options{Buffer: c.Buffer, Logger: log}, sinks...), nil
}
