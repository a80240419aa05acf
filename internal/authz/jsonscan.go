package authz

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// A small JSON scanner that finds value boundaries without decoding: list filtering
// copies the kept items' bytes verbatim, so a 1,000-tool list is filtered without
// building a single map. It assumes nothing about the input: malformed JSON is an error.

var errSyntax = errors.New("malformed JSON")

func syntaxErr(b []byte, i int, what string) error {
	return fmt.Errorf("%w at offset %d: %s", errSyntax, i, what)
}

func skipWS(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// Byte classes for the scanner loops (a table lookup beats a switch in the hot loops).
const (
	clsNone = iota
	clsQuote
	clsBackslash
	clsOpen
	clsClose
)

var class = func() (t [256]uint8) {
	t['"'] = clsQuote
	t['\\'] = clsBackslash
	t['{'], t['['] = clsOpen, clsOpen
	t['}'], t[']'] = clsClose, clsClose
	return t
}()

// skipString returns the index after the string starting at b[i] == '"', and whether it
// contains escapes. A plain byte loop with a class table: the strings of MCP messages are
// mostly short, and measured faster than bytes.IndexByte per string.
func skipString(b []byte, i int) (int, bool, error) {
	escaped := false
	for j := i + 1; j < len(b); j++ {
		switch class[b[j]] {
		case clsQuote:
			return j + 1, escaped, nil
		case clsBackslash:
			escaped = true
			j++
		}
	}
	return 0, false, syntaxErr(b, i, "unterminated string")
}

// skipValue returns the index after the JSON value starting at b[i] (no leading space).
// Containers are skipped by counting brackets outside strings; a bracket mismatch such as
// {] is not detected here, but a message that ends early is.
func skipValue(b []byte, i int) (int, error) {
	if i >= len(b) {
		return 0, syntaxErr(b, i, "unexpected end")
	}
	switch c := b[i]; c {
	case '"':
		j, _, err := skipString(b, i)
		return j, err
	case '{', '[':
		depth := 0
		inString := false
		for j := i; j < len(b); j++ {
			cl := class[b[j]]
			if cl == clsNone {
				continue
			}
			if inString {
				switch cl {
				case clsQuote:
					inString = false
				case clsBackslash:
					j++
				}
				continue
			}
			switch cl {
			case clsQuote:
				inString = true
			case clsOpen:
				depth++
			case clsClose:
				depth--
				if depth == 0 {
					return j + 1, nil
				}
			}
		}
		return 0, syntaxErr(b, i, "unterminated "+string(c))
	default:
		j := i
		for j < len(b) {
			switch b[j] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				if j == i {
					return 0, syntaxErr(b, i, "unexpected "+string(b[j]))
				}
				return j, nil
			}
			j++
		}
		if j == i {
			return 0, syntaxErr(b, i, "unexpected end")
		}
		return j, nil
	}
}

// member is one key/value of an object: key without quotes (raw, may hold escapes) and the
// value's bounds.
type member struct {
	key          []byte // without quotes
	quoted       []byte // with quotes
	keyEscaped   bool
	start, end   int // value bounds
	keyStart     int // index of the key's opening quote
	valueEscaped bool
}

// eachMember calls fn for each member of the object at b[i] == '{' and returns the index
// after the object. fn returns false to stop early (eachMember then returns -1).
func eachMember(b []byte, i int, fn func(m member) bool) (int, error) {
	stopped := false
	end, err := eachMemberScan(b, i, func(m member) (int, error) {
		var err error
		if b[m.start] == '"' {
			m.end, m.valueEscaped, err = skipString(b, m.start)
		} else {
			m.end, err = skipValue(b, m.start)
		}
		if err != nil {
			return 0, err
		}
		if !fn(m) {
			stopped = true
			return -1, nil
		}
		return m.end, nil
	})
	if stopped {
		return -1, nil
	}
	return end, err
}

// eachMemberScan calls scan for each member of the object at b[i] == '{' with the key
// and the value's start (m.end unset); scan reads the value and returns its end, so a
// value is read only once even when the caller descends into it. A negative end stops.
func eachMemberScan(b []byte, i int, scan func(m member) (int, error)) (int, error) {
	if i >= len(b) || b[i] != '{' {
		return 0, syntaxErr(b, i, "expected an object")
	}
	j := skipWS(b, i+1)
	if j < len(b) && b[j] == '}' {
		return j + 1, nil
	}
	for {
		if j >= len(b) || b[j] != '"' {
			return 0, syntaxErr(b, j, "expected a key")
		}
		ke, kesc, err := skipString(b, j)
		if err != nil {
			return 0, err
		}
		m := member{key: b[j+1 : ke-1], quoted: b[j:ke], keyEscaped: kesc, keyStart: j}
		j = skipWS(b, ke)
		if j >= len(b) || b[j] != ':' {
			return 0, syntaxErr(b, j, "expected :")
		}
		j = skipWS(b, j+1)
		if j >= len(b) {
			return 0, syntaxErr(b, j, "unexpected end")
		}
		m.start = j
		if j, err = scan(m); err != nil || j < 0 {
			return j, err
		}
		j = skipWS(b, j)
		if j >= len(b) {
			return 0, syntaxErr(b, j, "unterminated object")
		}
		switch b[j] {
		case ',':
			j = skipWS(b, j+1)
		case '}':
			return j + 1, nil
		default:
			return 0, syntaxErr(b, j, "expected , or }")
		}
	}
}

// eachElement calls fn with the bounds of each element of the array at b[i] == '['.
func eachElement(b []byte, i int, fn func(start, end int) error) (int, error) {
	return eachElementScan(b, i, func(start int) (int, error) {
		end, err := skipValue(b, start)
		if err != nil {
			return 0, err
		}
		return end, fn(start, end)
	})
}

// eachElementScan calls scan at the start of each element of the array at b[i] == '[';
// scan returns the element's end, so that an element is read only once.
func eachElementScan(b []byte, i int, scan func(start int) (end int, err error)) (int, error) {
	if i >= len(b) || b[i] != '[' {
		return 0, syntaxErr(b, i, "expected an array")
	}
	j := skipWS(b, i+1)
	if j < len(b) && b[j] == ']' {
		return j + 1, nil
	}
	for {
		e, err := scan(j)
		if err != nil {
			return 0, err
		}
		j = skipWS(b, e)
		if j >= len(b) {
			return 0, syntaxErr(b, j, "unterminated array")
		}
		switch b[j] {
		case ',':
			j = skipWS(b, j+1)
		case ']':
			return j + 1, nil
		default:
			return 0, syntaxErr(b, j, "expected , or ]")
		}
	}
}

// keyFold reports whether a member key equals an ASCII name, ignoring case as
// encoding/json does when it decodes into a struct (clients built on it would read
// "NAME" as the name).
func (m member) keyFold(name string) bool {
	if m.keyEscaped {
		var s string
		if json.Unmarshal(m.quoted, &s) != nil {
			return false
		}
		return strings.EqualFold(s, name)
	}
	return len(m.key) == len(name) && strings.EqualFold(string(m.key), name)
}

// stringValue decodes a string member value ("" and false when it is not a string).
func stringValue(b []byte, m member) (string, bool) {
	if m.end-m.start < 2 || b[m.start] != '"' {
		return "", false
	}
	if !m.valueEscaped {
		return string(b[m.start+1 : m.end-1]), true
	}
	var s string
	if json.Unmarshal(b[m.start:m.end], &s) != nil {
		return "", false
	}
	return s, true
}
