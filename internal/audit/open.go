package audit

import (
	"errors"
	"io"
	"log/slog"
)

// SinkOptions say where audit events go.
type SinkOptions struct {
	// Stdout writes events as JSON lines to the stdout writer given to Open.
	Stdout bool
	// File writes events as JSON lines to a size-rotated file (nil: no file).
	File *FileOptions
	// Store writes events to the store given to Open.
	Store bool
	// Buffer is the number of events held while sinks catch up (0: New's default).
	Buffer int
	// Journal is told when journalled events have been written (nil: no journal).
	Journal *Journal
}

// FileOptions are a rotating JSON-lines file (see NewFile).
type FileOptions struct {
	Path     string
	MaxSize  int64
	MaxFiles int
}

// Open builds the auditor o asks for. With nil options, events go to stdout as JSON
// lines. store may be nil when no store is configured (o.Store then fails).
func Open(o *SinkOptions, stdout io.Writer, store Store, log *slog.Logger) (*Auditor, error) {
	if o == nil {
		return New(Options{Logger: log}, NewJSONLines(stdout)), nil
	}
	c := *o
	var sinks []Sink
	if c.Stdout {
		sinks = append(sinks, NewJSONLines(stdout))
	}
	if c.File != nil {
		f, err := NewFile(c.File.Path, c.File.MaxSize, c.File.MaxFiles)
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
	return New(Options{Buffer: c.Buffer, Logger: log, Journal: c.Journal}, sinks...), nil
}
