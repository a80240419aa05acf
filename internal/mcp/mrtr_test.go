package mcp

import (
	"bytes"
	"encoding/json"
	"testing"
	"unicode/utf8"

	"github.com/mcpgate/mcpgate/internal/jsonlimit"
)

func parseOneForTest(t testing.TB, body string) Request {
	t.Helper()
	msgs, batch, err := ParseRequest([]byte(body), jsonlimit.Limits{})
	if err != nil || batch || len(msgs) != 1 {
		t.Fatalf("ParseRequest(%s) = %v, %v, %v", body, msgs, batch, err)
	}
	return msgs[0]
}

// TestInput: the MRTR members of a retried request, read as servers read them.
func TestInput(t *testing.T) {
	tests := []struct {
		name, body string
		want       InputParams
	}{
		{"none", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x"}}`, InputParams{}},
		{"state and responses", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x","requestState":"s","inputResponses":{"k":{"action":"accept"}}}}`,
			InputParams{RequestState: "s", InputResponses: json.RawMessage(`{"k":{"action":"accept"}}`)}},
		{"the last duplicate wins", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"requestState":"a","requestState":"b"}}`, InputParams{RequestState: "b"}},
		{"no case folding", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"RequestState":"a"}}`, InputParams{}},
		{"escaped member name", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"request\u0053tate":"a"}}`, InputParams{RequestState: "a"}},
		{"state not a string", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"requestState":1}}`, InputParams{}},
		{"null responses", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"inputResponses":null}}`, InputParams{}},
		{"URL elicitation declared", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"_meta":{"io.modelcontextprotocol/clientCapabilities":{"elicitation":{"url":{}}}}}}`,
			InputParams{URLElicitation: true}},
		{"form only", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"_meta":{"io.modelcontextprotocol/clientCapabilities":{"elicitation":{}}}}}`, InputParams{}},
		{"url not an object", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"_meta":{"io.modelcontextprotocol/clientCapabilities":{"elicitation":{"url":true}}}}}`, InputParams{}},
		{"params not an object", `{"jsonrpc":"2.0","id":1,"method":"ping","params":["requestState"]}`, InputParams{}},
	}
	for _, tt := range tests {
		m := parseOneForTest(t, tt.body)
		got := m.Input()
		if got.RequestState != tt.want.RequestState || !bytes.Equal(got.InputResponses, tt.want.InputResponses) || got.URLElicitation != tt.want.URLElicitation {
			t.Errorf("%s: Input = %+v, want %+v", tt.name, got, tt.want)
		}
	}
	if a := InputAction(json.RawMessage(`{"k":{"action":"decline"},"j":{"action":"accept"}}`), "k"); a != "decline" {
		t.Errorf("InputAction = %q", a)
	}
	for _, raw := range []string{``, `[]`, `{"k":1}`, `{"k":{"action":2}}`, `{"j":{"action":"accept"}}`} {
		if a := InputAction(json.RawMessage(raw), "k"); a != "" {
			t.Errorf("InputAction(%s) = %q", raw, a)
		}
	}
}

// TestWithInput: the state and responses are replaced or removed, and nothing else of
// the request changes.
func TestWithInput(t *testing.T) {
	m := parseOneForTest(t, `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"x","arguments":{"a":1},"_meta":{"k":"v"},"requestState":"mcpgate.x","inputResponses":{"mcpgate-1":{"action":"accept"}}}}`)
	out, err := WithInput(m.Raw, "up", json.RawMessage(`{"q":{"action":"accept"}}`))
	if err != nil {
		t.Fatal(err)
	}
	n := parseOneForTest(t, string(out))
	in := n.Input()
	if n.Method != "tools/call" || string(n.ID) != "7" || n.Tool != "x" || string(n.Arguments) != `{"a":1}` || in.RequestState != "up" || string(in.InputResponses) != `{"q":{"action":"accept"}}` ||
		!bytes.Contains(out, []byte(`"_meta":{"k":"v"}`)) {
		t.Fatalf("WithInput = %s", out)
	}
	out, err = WithInput(m.Raw, "", nil)
	if err != nil || bytes.Contains(out, []byte("requestState")) || bytes.Contains(out, []byte("inputResponses")) {
		t.Fatalf("WithInput removing = %s, %v", out, err)
	}
	for _, bad := range []string{`[]`, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":[1]}`, `1`} {
		if _, err := WithInput(json.RawMessage(bad), "s", nil); err == nil {
			t.Errorf("WithInput(%s) succeeded", bad)
		}
	}
}

// FuzzWithInput: whatever a client sends, reading its MRTR members does not panic, and a
// request rewritten with another state and responses is the same request (method, id,
// tool, uri, prompt, arguments) carrying exactly those.
func FuzzWithInput(f *testing.F) {
	for _, s := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x","requestState":"mcpgate.rs1.v1.a.AAAA","inputResponses":{"k":{"action":"accept"}}}}`,
		`{"jsonrpc":"2.0","id":"a","method":"resources/read","params":{"uri":"file:///x","requestState":"up"}}`,
		`{"jsonrpc":"2.0","id":1,"method":"prompts/get","params":{"name":"p","_meta":{"io.modelcontextprotocol/clientCapabilities":{"elicitation":{"url":{}}}}}}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","NAME":"b","request\u0053tate":"c"}}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":null}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call"}`,
	} {
		f.Add([]byte(s), "state", []byte(`{"k":{"action":"accept"}}`))
	}
	f.Fuzz(func(t *testing.T, body []byte, state string, responses []byte) {
		msgs, batch, err := ParseRequest(body, jsonlimit.Limits{})
		if err != nil || batch || len(msgs) != 1 {
			return
		}
		m := msgs[0]
		in := m.Input()
		_ = InputAction(in.InputResponses, state)
		if !json.Valid(responses) || !bytes.HasPrefix(bytes.TrimSpace(responses), []byte("{")) {
			responses = nil
		}
		if !utf8.ValidString(state) {
			return // the state comes from a decoded JSON string
		}
		out, err := WithInput(m.Raw, state, responses)
		if err != nil {
			return
		}
		msgs, batch, err = ParseRequest(out, jsonlimit.Limits{})
		if err != nil || batch || len(msgs) != 1 {
			t.Fatalf("rewritten request does not parse: %s: %v", out, err)
		}
		n := msgs[0]
		if n.Method != m.Method || n.Tool != m.Tool || n.URI != m.URI || n.Prompt != m.Prompt || !jsonEqual(n.ID, m.ID) || !jsonEqual(n.Arguments, m.Arguments) {
			t.Fatalf("rewritten request differs:\n%s\n%s", m.Raw, out)
		}
		got := n.Input()
		if got.RequestState != state || !jsonEqual(got.InputResponses, responses) {
			t.Fatalf("rewritten request carries %q %s, want %q %s", got.RequestState, got.InputResponses, state, responses)
		}
	})
}

// jsonEqual compares two JSON values (nil equals nil only).
func jsonEqual(a, b []byte) bool {
	if len(a) == 0 || len(b) == 0 {
		return len(a) == len(b)
	}
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return bytes.Equal(a, b)
	}
	xb, _ := json.Marshal(x)
	yb, _ := json.Marshal(y)
	return bytes.Equal(xb, yb)
}
