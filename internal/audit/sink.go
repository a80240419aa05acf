package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
)

// Sink receives batches of events from the auditor's goroutine (never concurrently).
type Sink interface {
	Write(ctx context.Context, events []Event) error
	Close() error
}

// JSONLines writes one JSON object per line to w (stdout, a pipe).
type JSONLines struct {
	w   io.Writer
	buf []byte
}

// NewJSONLines returns a sink writing to w.
func NewJSONLines(w io.Writer) *JSONLines { return &JSONLines{w: w} }

// Write implements Sink.
func (s *JSONLines) Write(_ context.Context, events []Event) error {
	s.buf = s.buf[:0]
	for i := range events {
		b, err := json.Marshal(&events[i])
		if err != nil {
			return err
		}
		s.buf = append(append(s.buf, b...), '\n')
	}
	_, err := s.w.Write(s.buf)
	return err
}

// Close implements Sink.
func (s *JSONLines) Close() error { return nil }

// File writes JSON lines to path and rotates it by size: when a write would take the file
// beyond maxSize, path becomes path.1 (path.1 becomes path.2, ...) and at most keep rotated
// files are kept. Files are created with mode 0600.
type File struct {
	path    string
	maxSize int64
	keep    int

	mu   sync.Mutex
	f    *os.File
	size int64
	buf  []byte
}

// NewFile opens (or creates) the audit file.
func NewFile(path string, maxSize int64, keep int) (*File, error) {
	if maxSize <= 0 {
		maxSize = 100 << 20
	}
	if keep < 0 {
		keep = 0
	}
	s := &File{path: path, maxSize: maxSize, keep: keep}
	if err := s.open(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *File) open() error {
	f, err := os.OpenFile(s.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("opening audit file: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("opening audit file: %w", err)
	}
	s.f, s.size = f, st.Size()
	return nil
}

// Write implements Sink. Events are written whole: a file is rotated between lines.
func (s *File) Write(_ context.Context, events []Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return errors.New("audit file is closed")
	}
	for i := range events {
		b, err := json.Marshal(&events[i])
		if err != nil {
			return err
		}
		b = append(b, '\n')
		if s.size+int64(len(s.buf))+int64(len(b)) > s.maxSize && s.size+int64(len(s.buf)) > 0 {
			if err := s.flush(); err != nil {
				return err
			}
			if err := s.rotate(); err != nil {
				return err
			}
		}
		s.buf = append(s.buf, b...)
	}
	return s.flush()
}

func (s *File) flush() error {
	if len(s.buf) == 0 {
		return nil
	}
	n, err := s.f.Write(s.buf)
	s.size += int64(n)
	s.buf = s.buf[:0]
	return err
}

func (s *File) rotate() error {
	if err := s.f.Close(); err != nil {
		return err
	}
	s.f = nil
	if s.keep == 0 {
		if err := os.Remove(s.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	} else {
		os.Remove(fmt.Sprintf("%s.%d", s.path, s.keep))
		for i := s.keep - 1; i >= 1; i-- {
			if err := os.Rename(fmt.Sprintf("%s.%d", s.path, i), fmt.Sprintf("%s.%d", s.path, i+1)); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
		}
		if err := os.Rename(s.path, s.path+".1"); err != nil {
			return err
		}
	}
	return s.open()
}

// Close implements Sink.
func (s *File) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return nil
	}
	err := s.f.Close()
	s.f = nil
	return err
}

// StoreSink appends events to a Store.
type StoreSink struct{ Store Store }

// Write implements Sink.
func (s StoreSink) Write(ctx context.Context, events []Event) error {
	var errs []error
	for _, e := range events {
		if err := s.Store.AppendAudit(ctx, e); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Close implements Sink.
func (s StoreSink) Close() error { return nil }

var (
	_ Sink = (*JSONLines)(nil)
	_ Sink = (*File)(nil)
	_ Sink = StoreSink{}
)
