package ssewire

import (
	"fmt"

	"github.com/mcpgate/mcpgate/internal/mcp"
)

// Scanner finds the ends of SSE events in a byte stream. It keeps the bytes of the
// current, incomplete event only (nothing while the stream is idle between events).
type Scanner struct {
	ev      []byte
	lines   int  // complete lines in the current event
	lineLen int  // bytes in the current line
	cr      bool // the last byte was CR: a following LF belongs to it
}

// MaxEvent bounds one event, as mcp.NewSSEReader's default does.
const MaxEvent = 16 << 20

// Feed scans p and appends the events it completes to evs, each with the blank line that
// ends it. An event over MaxEvent is an error (mcp.ErrEventTooLarge).
func (s *Scanner) Feed(p []byte, evs [][]byte) ([][]byte, error) {
	start := 0
	for i, c := range p {
		if s.cr {
			s.cr = false
			if c == '\n' {
				continue
			}
		}
		switch c {
		case '\r', '\n':
			s.cr = c == '\r'
			if s.lineLen > 0 {
				s.lines++
				s.lineLen = 0
				continue
			}
			if s.lines == 0 { // a stray blank line between events
				s.ev = s.ev[:0]
				start = i + 1
				continue
			}
			s.ev = append(s.ev, p[start:i+1]...)
			evs = append(evs, s.ev)
			s.ev, s.lines, start = nil, 0, i+1
		default:
			s.lineLen++
		}
	}
	if start < len(p) {
		s.ev = append(s.ev, p[start:]...)
	}
	if len(s.ev) > MaxEvent {
		return evs, fmt.Errorf("%w (limit %d bytes)", mcp.ErrEventTooLarge, MaxEvent)
	}
	if len(s.ev) == 0 {
		s.ev = nil
	}
	return evs, nil
}

// Partial reports whether an incomplete event (a line or more) is held.
func (s *Scanner) Partial() bool { return s.lines > 0 || s.lineLen > 0 }

// Take returns the incomplete event and forgets it (at the end of the stream).
func (s *Scanner) Take() []byte {
	ev := s.ev
	s.ev, s.lines, s.lineLen = nil, 0, 0
	return ev
}
