// Package jsonlimit bounds untrusted JSON before it is decoded: nesting depth and the
// number of values, checked in one linear pass that never recurses and allocates nothing.
//
// Decoders recurse once per nesting level (segmentio/encoding without any limit; Go's
// encoding/json up to 10,000 levels) and build one value per element: a 4 MB body of
// nested brackets overflows the goroutine stack (a fatal error no recover catches), and a
// body of a million tiny elements becomes tens of megabytes of maps and interfaces. Check
// runs first and refuses both with an error that names the limit.
package jsonlimit

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// Defaults. MCP messages nest a few levels (a tool call's arguments rarely more than ten),
// and a few thousand values cover a large tools/list or a batch.
const (
	DefaultMaxDepth  = 64
	DefaultMaxValues = 100_000
)

// Limits bound a JSON document. A zero field means its default; a negative one, no limit.
type Limits struct {
	// MaxDepth is the deepest nesting of objects and arrays allowed ({} is depth 1).
	MaxDepth int
	// MaxValues bounds the number of values (members of objects, elements of arrays,
	// and the top-level value).
	MaxValues int
}

func (l Limits) depth() int  { return pick(l.MaxDepth, DefaultMaxDepth) }
func (l Limits) values() int { return pick(l.MaxValues, DefaultMaxValues) }

func pick(v, def int) int {
	switch {
	case v == 0:
		return def
	case v < 0:
		return int(^uint(0) >> 1)
	}
	return v
}

// Error is a limit exceeded. It says which limit and its value, never the document.
type Error struct {
	// Limit is "depth" or "values".
	Limit string
	// Max is the limit's value.
	Max int
	// Offset is where in the input the limit was crossed.
	Offset int
}

func (e *Error) Error() string {
	switch e.Limit {
	case "depth":
		return "JSON nests deeper than " + strconv.Itoa(e.Max) + " levels"
	default:
		return "JSON has more than " + strconv.Itoa(e.Max) + " values"
	}
}

// ErrLimit matches every *Error with errors.Is.
var ErrLimit = errors.New("JSON limit exceeded")

// Is makes errors.Is(err, ErrLimit) true for an *Error.
func (e *Error) Is(target error) bool { return target == ErrLimit }

// Check scans b and returns an *Error when it nests deeper or holds more values than l
// allows. It is not a validator: malformed JSON that stays within the limits passes (the
// decoder that follows reports it), and brackets inside strings are not counted.
func Check(b []byte, l Limits) error {
	maxDepth, maxValues := l.depth(), l.values()
	depth, values := 0, 0
	// A value starts at the beginning, after '[', after ',' and after ':'. Counting the
	// separators and the openings of non-empty containers bounds the values from above
	// without tracking the grammar: "[1,2]" is 1 (array) + 1 ('[' opens a value) + 1 (',').
	if len(b) > 0 {
		values = 1
	}
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '"':
			for i++; i < len(b); i++ {
				if b[i] == '\\' {
					i++
				} else if b[i] == '"' {
					break
				}
			}
		case '{', '[':
			depth++
			if depth > maxDepth {
				return &Error{Limit: "depth", Max: maxDepth, Offset: i}
			}
			if j := skipSpace(b, i+1); j < len(b) && b[j] != '}' && b[j] != ']' {
				values++
			}
		case '}', ']':
			depth--
		case ',':
			values++
		default:
			continue
		}
		if values > maxValues {
			return &Error{Limit: "values", Max: maxValues, Offset: i}
		}
	}
	return nil
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// ErrTooLarge is returned by Read for input longer than its byte limit.
var ErrTooLarge = errors.New("JSON document too large")

// Read reads at most maxBytes from r and checks the result against l: the way to take a
// JSON document from a peer before handing it to a decoder. It returns ErrTooLarge
// (wrapped with the limit) when r holds more.
func Read(r io.Reader, maxBytes int64, l Limits) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxBytes+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > maxBytes {
		return nil, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, maxBytes)
	}
	if err := Check(b, l); err != nil {
		return nil, err
	}
	return b, nil
}

// Decode reads one JSON document from r (at most maxBytes, within l) into v with
// encoding/json.
func Decode(r io.Reader, maxBytes int64, l Limits, v any) error {
	b, err := Read(r, maxBytes, l)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}
