package mcp

import (
	"net/http"
	"strings"
	"testing"

	"github.com/mcpgate/mcpgate/internal/jsonlimit"
)

func TestParamBindings(t *testing.T) {
	list := `{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"a","inputSchema":{"type":"object","properties":{` +
		`"region":{"type":"string","x-mcp-header":"Region"},"opts":{"type":"object","properties":{"dry":{"type":"boolean","x-mcp-header":"Dry"}}},` +
		`"bad":{"type":"string","x-mcp-header":7}}}},{"name":"b","inputSchema":{"type":"object"}}]}}`
	tools, ok := ListParamBindings([]byte(list))
	if !ok || len(tools) != 2 || tools["b"] != nil {
		t.Fatalf("tools = %v, %v", tools, ok)
	}
	got := map[string]string{}
	for _, b := range tools["a"] {
		got[b.Header] = strings.Join(b.Path, ".")
	}
	if len(got) != 2 || got["Region"] != "region" || got["Dry"] != "opts.dry" {
		t.Errorf("bindings of a = %v", got)
	}
	deep := `{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"a","inputSchema":` + strings.Repeat("[", 100_000) + strings.Repeat("]", 100_000) + `}]}}`
	if _, ok := ListParamBindings([]byte(deep)); ok {
		t.Error("a list nesting 100,000 levels was decoded")
	}
	if _, ok := ListParamBindings([]byte(`{"jsonrpc":"2.0","id":1,"result":{"prompts":[]}}`)); ok {
		t.Error("a prompts/list result read as a tools/list one")
	}
	// Two arguments on one header (case-insensitively, at any depth): an invalid tool, which
	// the SDK drops from its lists; no binding of it is made or checked (a fuzz find).
	dup := `{"type":"object","properties":{"a":{"type":"string","x-mcp-header":"Region"},"o":{"type":"object","properties":{"b":{"type":"string","x-mcp-header":"region"}}}}}`
	if b := ParamBindings([]byte(dup)); b != nil {
		t.Errorf("bindings of a tool with a duplicate header = %v, want none", b)
	}
}

func TestCheckParamHeaders(t *testing.T) {
	bindings := []ParamBinding{{Path: []string{"region"}, Header: "Region"}, {Path: []string{"opts", "n"}, Header: "N"}, {Path: []string{"dry"}, Header: "Dry"}}
	for _, tc := range []struct {
		name, args string
		hdr        []string
		reason     string // "" accepted
	}{
		{"all present", `{"region":"eu","opts":{"n":42},"dry":true}`, []string{"Mcp-Param-Region", "eu", "Mcp-Param-N", "42", "Mcp-Param-Dry", "true"}, ""},
		{"integer as 42.0", `{"opts":{"n":42}}`, []string{"Mcp-Param-N", "42.0"}, ""},
		{"base64", `{"region":"zürich"}`, []string{"Mcp-Param-Region", EncodeHeaderValue("zürich")}, ""},
		{"absent and null need no header", `{"region":null}`, nil, ""},
		{"unbound headers are ignored", `{}`, []string{"Mcp-Param-Other", "x"}, ""},
		{"missing", `{"region":"eu"}`, nil, "missing_header"},
		{"wrong", `{"region":"eu"}`, []string{"Mcp-Param-Region", "us"}, "header_mismatch"},
		{"header for a null argument", `{"region":null}`, []string{"Mcp-Param-Region", "eu"}, "header_mismatch"},
		{"not a primitive", `{"region":["eu"]}`, []string{"Mcp-Param-Region", "eu"}, "header_mismatch"},
		{"fraction", `{"opts":{"n":1.5}}`, []string{"Mcp-Param-N", "1.5"}, "header_mismatch"},
		{"twice", `{"region":"eu"}`, []string{"Mcp-Param-Region", "eu", "Mcp-Param-Region", "us"}, "duplicate_header"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msgs, _, err := ParseRequest([]byte(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","arguments":`+tc.args+`}}`), jsonlimit.Limits{})
			if err != nil {
				t.Fatal(err)
			}
			h := http.Header{}
			for i := 0; i+1 < len(tc.hdr); i += 2 {
				h.Add(tc.hdr[i], tc.hdr[i+1])
			}
			e := CheckParamHeaders(h, &msgs[0], bindings)
			switch {
			case tc.reason == "" && e != nil:
				t.Errorf("refused: %v", e)
			case tc.reason != "" && (e == nil || e.Reason != tc.reason || e.Code != CodeHeaderMismatch):
				t.Errorf("got %v, want %s", e, tc.reason)
			}
		})
	}
}
