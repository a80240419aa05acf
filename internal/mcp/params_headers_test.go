package mcp

import (
	"net/http"
	"testing"

	"github.com/mcpgate/mcpgate/internal/jsonlimit"
)

// FuzzParamHeaders: the Mcp-Param-* headers ParamHeaders makes for a tools/call (what the
// stdio bridge sends) always pass CheckParamHeaders (what the gateway and the Go SDK
// server check), unless an argument is one the SDK refuses to carry in a header at all.
func FuzzParamHeaders(f *testing.F) {
	schema := `{"type":"object","properties":{"region":{"type":"string","x-mcp-header":"Region"},"n":{"type":"integer","x-mcp-header":"N"},` +
		`"deep":{"type":"object","properties":{"flag":{"type":"boolean","x-mcp-header":"Flag"}}}}}`
	for _, args := range []string{
		`{"region":"eu-west","n":3,"deep":{"flag":true}}`,
		`{"region":"Île-de-France"}`,
		`{"region":" padded "}`,
		`{"region":"=?base64?eA==?="}`,
		`{"n":9007199254740993}`,
		`{"n":1.5}`,
		`{"region":null}`,
		`{"region":{"x":1}}`,
		`{}`,
		`[]`,
	} {
		f.Add(schema, args)
	}
	f.Fuzz(func(t *testing.T, schema, args string) {
		body := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t","arguments":` + args + `}}`
		msgs, _, err := ParseRequest([]byte(body), jsonlimit.Limits{})
		if err != nil || len(msgs) != 1 {
			return
		}
		bindings := ParamBindings([]byte(schema))
		h := http.Header{}
		for k, v := range ParamHeaders(&msgs[0], bindings) {
			h.Set(k, v)
		}
		e := CheckParamHeaders(h, &msgs[0], bindings)
		if e != nil && e.Reason != "missing_header" && e.Reason != "duplicate_header" {
			t.Fatalf("made headers %v for %s refused: %s", h, args, e.Message)
		}
	})
}
