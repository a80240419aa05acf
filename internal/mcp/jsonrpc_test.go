package mcp

import (
	"encoding/json"
	"testing"

	"github.com/mcpgate/mcpgate/internal/jsonlimit"
)

func TestParseRequest(t *testing.T) {
	tests := []struct {
		name, body                    string
		wantErr, batch                bool
		method, id, tool, uri, prompt string
		args                          string
		n                             int
	}{
		{name: "tools/call", body: `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_weather","arguments":{"city":"Paris"}}}`,
			method: "tools/call", id: "1", tool: "get_weather", args: `{"city":"Paris"}`, n: 1},
		{name: "resources/read", body: `{"jsonrpc":"2.0","id":"a","method":"resources/read","params":{"uri":"file:///x"}}`,
			method: "resources/read", id: `"a"`, uri: "file:///x", n: 1},
		{name: "prompts/get", body: ` {"jsonrpc":"2.0","id":2,"method":"prompts/get","params":{"name":"p"}}`,
			method: "prompts/get", id: "2", prompt: "p", n: 1},
		{name: "notification", body: `{"jsonrpc":"2.0","method":"notifications/initialized"}`, method: "notifications/initialized", n: 1},
		{name: "batch", body: `[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"t"}}]`,
			batch: true, method: "ping", id: "1", n: 2},
		{name: "not json", body: `hello`, wantErr: true},
		{name: "not jsonrpc", body: `{"a":1}`, wantErr: true},
		{name: "empty batch", body: `[]`, wantErr: true, batch: true},
		{name: "bad params", body: `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":[1]}`, wantErr: true},
		// Member names match exactly, as MCP servers read them (JSON.parse, Python, the Go
		// SDK): a case variant is another member, not the same one, so the gateway decides
		// on the tool and method the server will run.
		{name: "case variant of name is ignored", body: `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"admin_reset","NAME":"get_weather"}}`,
			method: "tools/call", id: "1", tool: "admin_reset", n: 1},
		{name: "case variant of method is ignored", body: `{"jsonrpc":"2.0","id":1,"method":"tools/call","Method":"ping","params":{"name":"t"}}`,
			method: "tools/call", id: "1", tool: "t", n: 1},
		{name: "only a case variant: no tool", body: `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"Name":"admin_reset"}}`,
			method: "tools/call", id: "1", n: 1},
		{name: "duplicate name: the last wins, as in JSON.parse", body: `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_weather","name":"admin_reset"}}`,
			method: "tools/call", id: "1", tool: "admin_reset", n: 1},
		{name: "trailing data", body: `{"jsonrpc":"2.0","id":1,"method":"ping"} {"jsonrpc":"2.0","id":2,"method":"tools/call"}`, wantErr: true},
		{name: "truncated", body: `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x"`, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			msgs, batch, err := ParseRequest([]byte(tc.body), jsonlimit.Limits{})
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v", err)
			}
			if batch != tc.batch {
				t.Errorf("batch = %v", batch)
			}
			if tc.wantErr {
				return
			}
			if len(msgs) != tc.n {
				t.Fatalf("%d messages", len(msgs))
			}
			m := msgs[0]
			if m.Method != tc.method || string(m.ID) != tc.id || m.Tool != tc.tool || m.URI != tc.uri || m.Prompt != tc.prompt || string(m.Arguments) != tc.args {
				t.Errorf("got %+v", m)
			}
			if tc.batch && msgs[1].Tool != "t" {
				t.Errorf("second = %+v", msgs[1])
			}
		})
	}
}

func TestErrorResponse(t *testing.T) {
	var v map[string]any
	if err := json.Unmarshal(ErrorResponse(json.RawMessage(`7`), CodeServerError, "boom", map[string]string{"route": "r"}), &v); err != nil {
		t.Fatal(err)
	}
	if v["id"].(float64) != 7 || v["error"].(map[string]any)["message"] != "boom" {
		t.Fatalf("%v", v)
	}
	if string(ErrorResponse(nil, 1, "x", nil)) != `{"jsonrpc":"2.0","id":null,"error":{"code":1,"message":"x"}}` {
		t.Fatalf("%s", ErrorResponse(nil, 1, "x", nil))
	}
}
