package mcp

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Event is one Server-Sent Event, kept as its raw lines so that it can be written back
// exactly: field order, id:, event:, retry:, comments and multi-line data are preserved.
// Line terminators (CRLF, CR, LF) are normalised to LF.
type Event struct {
	// Lines are the event's lines without terminators, not including the blank line that
	// ends the event.
	Lines []string
	// Incomplete is set for trailing lines at the end of a stream that were not followed
	// by a blank line (SSE clients discard such an event; the writer reproduces it as is).
	Incomplete bool
}

// Field returns the value of the first field called name and whether it exists.
func (e *Event) Field(name string) (string, bool) {
	for _, l := range e.Lines {
		if n, v, ok := splitField(l); ok && n == name {
			return v, true
		}
	}
	return "", false
}

// Type is the event: field, "message" when absent (the SSE default).
func (e *Event) Type() string {
	if v, ok := e.Field("event"); ok && v != "" {
		return v
	}
	return "message"
}

// HasData reports whether the event has at least one data: line.
func (e *Event) HasData() bool {
	for _, l := range e.Lines {
		if n, _, ok := splitField(l); ok && n == "data" {
			return true
		}
	}
	return false
}

// Data is the event's data: the values of its data: lines joined with "\n".
func (e *Event) Data() string {
	var b strings.Builder
	first := true
	for _, l := range e.Lines {
		if n, v, ok := splitField(l); ok && n == "data" {
			if !first {
				b.WriteByte('\n')
			}
			b.WriteString(v)
			first = false
		}
	}
	return b.String()
}

// SetData replaces the event's data lines with data (split on "\n"), at the position of
// the first data: line (or at the end when there was none).
func (e *Event) SetData(data string) {
	var repl []string
	for _, d := range strings.Split(data, "\n") {
		repl = append(repl, "data: "+d)
	}
	out := make([]string, 0, len(e.Lines)+len(repl))
	placed := false
	for _, l := range e.Lines {
		if n, _, ok := splitField(l); ok && n == "data" {
			if !placed {
				out = append(out, repl...)
				placed = true
			}
			continue
		}
		out = append(out, l)
	}
	if !placed {
		out = append(out, repl...)
	}
	e.Lines = out
}

// splitField parses "name: value" (one optional space after the colon is dropped).
// Comment lines (starting with ':') are not fields.
func splitField(l string) (name, value string, ok bool) {
	if l == "" || l[0] == ':' {
		return "", "", false
	}
	i := strings.IndexByte(l, ':')
	if i < 0 {
		return l, "", true
	}
	return l[:i], strings.TrimPrefix(l[i+1:], " "), true
}

// AppendTo appends the event's wire form to b.
func (e *Event) AppendTo(b []byte) []byte {
	for _, l := range e.Lines {
		b = append(b, l...)
		b = append(b, '\n')
	}
	if !e.Incomplete {
		b = append(b, '\n')
	}
	return b
}

// ErrEventTooLarge is returned when an event exceeds the reader's size limit.
var ErrEventTooLarge = errors.New("server-sent event too large")

// SSEReader reads events from a stream. It returns each event as soon as its terminating
// blank line has arrived; it never waits for more input than that.
type SSEReader struct {
	r       *bufio.Reader
	max     int
	pending bool // a CR was the last byte seen: skip a following LF
}

// NewSSEReader reads from r; maxEvent bounds one event's size in bytes (0 = 16 MiB).
func NewSSEReader(r io.Reader, maxEvent int) *SSEReader {
	if maxEvent <= 0 {
		maxEvent = 16 << 20
	}
	return &SSEReader{r: bufio.NewReaderSize(r, 4096), max: maxEvent}
}

// Next returns the next event. At the end of the stream it returns io.EOF (possibly with
// a final Incomplete event, whose Lines are non-empty).
func (s *SSEReader) Next() (Event, error) {
	var ev Event
	size := 0
	for {
		line, err := s.readLine(s.max - size)
		if err != nil {
			if errors.Is(err, io.EOF) {
				if line != "" {
					ev.Lines = append(ev.Lines, line)
				}
				if len(ev.Lines) > 0 {
					ev.Incomplete = true
				}
			}
			return ev, err
		}
		if line == "" {
			if len(ev.Lines) == 0 {
				continue // stray blank lines between events carry nothing
			}
			return ev, nil
		}
		size += len(line) + 1
		ev.Lines = append(ev.Lines, line)
	}
}

// readLine reads one line terminated by LF, CR or CRLF.
func (s *SSEReader) readLine(limit int) (string, error) {
	var buf []byte
	for {
		c, err := s.r.ReadByte()
		if err != nil {
			if errors.Is(err, io.EOF) && len(buf) > 0 {
				return string(buf), io.EOF
			}
			return string(buf), err
		}
		if s.pending {
			s.pending = false
			if c == '\n' {
				continue
			}
		}
		switch c {
		case '\n':
			return string(buf), nil
		case '\r':
			s.pending = true
			return string(buf), nil
		}
		buf = append(buf, c)
		if len(buf) > limit {
			return "", fmt.Errorf("%w (limit %d bytes)", ErrEventTooLarge, s.max)
		}
		// Fast path: copy the rest of the line already buffered.
		if n := s.r.Buffered(); n > 0 {
			peek, _ := s.r.Peek(n)
			if i := bytes.IndexAny(peek, "\r\n"); i > 0 {
				buf = append(buf, peek[:i]...)
				_, _ = s.r.Discard(i)
			} else if i < 0 {
				buf = append(buf, peek...)
				_, _ = s.r.Discard(n)
			}
			if len(buf) > limit {
				return "", fmt.Errorf("%w (limit %d bytes)", ErrEventTooLarge, s.max)
			}
		}
	}
}
