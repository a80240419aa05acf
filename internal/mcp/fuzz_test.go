package mcp

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"unicode/utf8"
	"unsafe"

	"github.com/mcpgate/mcpgate/internal/jsonlimit"
)

// FuzzParseRequest: no body makes ParseRequest panic; the batch flag follows the first
// non-space byte; every message's Raw aliases the body; and for a message encoding/json
// reads the same way (valid UTF-8, no duplicate or case-folded member names), the method
// and tool the gateway decides on are the ones a server would run.
func FuzzParseRequest(f *testing.F) {
	for _, s := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_quote","arguments":{"s":"X"}}}`,
		`[{"jsonrpc":"2.0","id":1,"method":"tools/list"},{"jsonrpc":"2.0","method":"notifications/initialized"}]`,
		` 	[{"jsonrpc":"2.0","id":"a","method":"resources/read","params":{"uri":"file:///x"}}]`,
		`{"jsonrpc":"2.0","id":2,"method":"prompts/get","params":{"name":"p"}}`,
		`{"jsonrpc":"2.0","id":3,"result":{}}`,
		`{"jsonrpc":"2.0","id":null,"method":"tools/call","params":{"name":"a","NAME":"b","name":"c"}}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"na\u006de":"x"}}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a\ud800b"}}`,
		"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"a\xffb\"}}",
		`{"jsonrpc":"2.0","id":1e999999,"method":"tools/call","params":{"name":1}}`,
		`{"jsonrpc":"2.0","id":123456789012345678901234567890,"method":"tools/call","params":[]}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":null}`,
		`{"jsonrpc":"2.0","method":"tools/call","params":{"name":"x","arguments":` + strings.Repeat("[", 300) + strings.Repeat("]", 300) + `}}`,
		strings.Repeat("[", 100000),
		`[]`, `[1]`, `[{}]`, `{}`, `null`, `"x"`, ``, ` `,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x"}} {}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x"`,
		`[{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x"}},`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		msgs, batch, err := ParseRequest(body, jsonlimit.Limits{})
		trimmed := bytes.TrimLeft(body, " \t\r\n")
		if want := len(trimmed) > 0 && trimmed[0] == '['; batch != want {
			t.Fatalf("batch = %v for a body starting %q", batch, trimmed[:min(len(trimmed), 8)])
		}
		for i, m := range msgs {
			if !aliases(body, m.Raw) {
				t.Fatalf("message %d: Raw is not part of the body", i)
			}
			for _, part := range []json.RawMessage{m.ID, m.Params, m.Arguments} {
				if len(part) > 0 && !aliases(m.Raw, part) {
					t.Fatalf("message %d: a raw value is not part of the message", i)
				}
			}
		}
		if err != nil {
			return
		}
		if len(msgs) == 0 || !batch && len(msgs) != 1 {
			t.Fatalf("%d messages (batch %v) without an error", len(msgs), batch)
		}
		if batch {
			var raw []json.RawMessage
			if json.Unmarshal(body, &raw) == nil && len(raw) != len(msgs) {
				t.Fatalf("%d messages, encoding/json reads %d", len(msgs), len(raw))
			}
		}
		for _, m := range msgs {
			checkAgainstEncodingJSON(t, m)
		}
	})
}

// checkAgainstEncodingJSON compares what the gateway read from m with what encoding/json
// reads, when both must agree: valid UTF-8 and unique member names (exactly and case-folded,
// encoding/json matching struct fields case-insensitively).
func checkAgainstEncodingJSON(t *testing.T, m Request) {
	if !utf8.Valid(m.Raw) || !uniqueMembers(m.Raw) {
		return
	}
	var w struct {
		JSONRPC string          `json:"jsonrpc"`
		Method  string          `json:"method"`
		ID      json.RawMessage `json:"id"`
		Params  json.RawMessage `json:"params"`
	}
	if err := json.Unmarshal(m.Raw, &w); err != nil {
		t.Fatalf("gateway accepted %q, encoding/json does not: %v", m.Raw, err)
	}
	if w.Method != m.Method || w.JSONRPC != "2.0" {
		t.Fatalf("method %q (jsonrpc %q), gateway read %q from %q", w.Method, w.JSONRPC, m.Method, m.Raw)
	}
	if bytes.Equal(w.ID, []byte("null")) {
		w.ID = nil
	}
	if !bytes.Equal(w.ID, m.ID) {
		t.Fatalf("id %s, gateway read %s", w.ID, m.ID)
	}
	if m.Method != "tools/call" && m.Method != "prompts/get" && !strings.HasPrefix(m.Method, "resources/") {
		return
	}
	var p struct {
		Name string `json:"name"`
		URI  string `json:"uri"`
	}
	if len(w.Params) > 0 {
		if err := json.Unmarshal(w.Params, &p); err != nil {
			t.Fatalf("gateway accepted params %q, encoding/json does not: %v", w.Params, err)
		}
	}
	switch m.Method {
	case "tools/call":
		if m.Tool != p.Name {
			t.Fatalf("tool %q, gateway decided on %q (%q)", p.Name, m.Tool, m.Raw)
		}
	case "prompts/get":
		if m.Prompt != p.Name {
			t.Fatalf("prompt %q, gateway decided on %q (%q)", p.Name, m.Prompt, m.Raw)
		}
	case "resources/read", "resources/subscribe", "resources/unsubscribe":
		if m.URI != p.URI {
			t.Fatalf("uri %q, gateway decided on %q (%q)", p.URI, m.URI, m.Raw)
		}
	}
}

// aliases reports whether sub lies within b's memory.
func aliases(b, sub []byte) bool {
	if len(sub) == 0 {
		return true
	}
	if len(b) == 0 {
		return false
	}
	start := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	s := uintptr(unsafe.Pointer(unsafe.SliceData(sub)))
	return s >= start && s+uintptr(len(sub)) <= start+uintptr(len(b))
}

// readFields are the member names the gateway reads from a message and its params.
var readFields = map[string]bool{"jsonrpc": true, "method": true, "id": true, "params": true, "name": true, "uri": true, "arguments": true}

// uniqueMembers reports whether every object in the JSON document b has distinct member
// names, also after case folding, and no case variant of a name in readFields (false for
// invalid JSON).
func uniqueMembers(b []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(b))
	type frame struct {
		obj   bool
		names map[string]bool
		key   bool // the next token in this object is a member name
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return true
		}
		if err != nil {
			return false
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.obj && top.key {
			if d, ok := tok.(json.Delim); ok && d == '}' {
				stack = stack[:len(stack)-1]
				continue
			}
			name := tok.(string)
			k := strings.ToLower(name)
			if top.names[k] || name != k && readFields[k] {
				// A duplicate, or a case variant of a member the gateway reads ("Id",
				// "METHOD"): encoding/json would match it, the gateway and MCP servers do not.
				return false
			}
			top.names[k] = true
			top.key = false
			continue
		}
		if top != nil && top.obj {
			top.key = true
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &frame{obj: true, names: map[string]bool{}, key: true})
		case json.Delim('['):
			stack = append(stack, &frame{})
		case json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
	}
}

// FuzzSSEReader: no stream makes the reader panic; it reads the same events whatever the
// chunking; and events written back with AppendTo read back the same.
func FuzzSSEReader(f *testing.F) {
	for _, s := range []string{
		"event: message\ndata: {\"jsonrpc\":\"2.0\"}\n\n",
		"id: 1\r\nretry: 10\r\ndata: a\r\ndata: b\r\n\r\n",
		"data: a\r\rdata: b\r\r",
		": comment\n\n\n\ndata\n\n",
		"data: x\r",
		"data: x\r\n",
		"data: incomplete",
		"\r\n\r\n\n",
		"data:\xff\xfe\n\n",
		"data: " + strings.Repeat("x", 5000) + "\n\n",
		strings.Repeat("data: y\n", 300) + "\n",
		"",
	} {
		f.Add([]byte(s), uint16(0))
		f.Add([]byte(s), uint16(64))
	}
	f.Fuzz(func(t *testing.T, stream []byte, max uint16) {
		limit := int(max)
		if limit == 0 {
			limit = 1 << 20
		}
		events, err := readAll(NewSSEReader(bytes.NewReader(stream), limit))
		events2, err2 := readAll(NewSSEReader(iotest.OneByteReader(bytes.NewReader(stream)), limit))
		if !sameEvents(events, events2) || !sameErr(err, err2) {
			t.Fatalf("chunking changes the events of %q:\n%+v %v\n%+v %v", stream, events, err, events2, err2)
		}
		if err != nil && !errors.Is(err, ErrEventTooLarge) {
			t.Fatalf("error %v", err)
		}
		var out []byte
		for i, ev := range events {
			if len(ev.Lines) == 0 {
				t.Fatalf("event %d has no lines", i)
			}
			if ev.Incomplete && (i != len(events)-1 || err != nil) {
				t.Fatalf("event %d is incomplete but not the last", i)
			}
			for _, l := range ev.Lines {
				if strings.ContainsAny(l, "\r\n") {
					t.Fatalf("line %q has a terminator", l)
				}
			}
			out = ev.AppendTo(out)
		}
		again, err3 := readAll(NewSSEReader(bytes.NewReader(out), limit))
		if err3 != nil || !sameEvents(events, again) {
			t.Fatalf("round trip of %q through %q:\n%+v\n%+v %v", stream, out, events, again, err3)
		}
	})
}

// readAll reads events until the end of the stream (nil error) or another error.
func readAll(r *SSEReader) ([]Event, error) {
	var out []Event
	for {
		ev, err := r.Next()
		if len(ev.Lines) > 0 {
			out = append(out, ev)
		}
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
	}
}

func sameEvents(a, b []Event) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Incomplete != b[i].Incomplete || strings.Join(a[i].Lines, "\n") != strings.Join(b[i].Lines, "\n") || len(a[i].Lines) != len(b[i].Lines) {
			return false
		}
	}
	return true
}

func sameErr(a, b error) bool {
	return (a == nil) == (b == nil) && (a == nil || a.Error() == b.Error())
}
