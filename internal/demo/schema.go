package demo

import (
	"slices"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// outputSchema is T's JSON Schema as the go-sdk would infer it, with "null" dropped from
// type lists such as ["null","array"] (inferred for every slice and map). The demo
// results never hold null there: their slices and maps are either filled or left out
// (omitempty). A single type is also what clients that map tool schemas onto one-type
// dialects expect; MCP Inspector 2.x flags the type list as a portability warning.
func outputSchema[T any]() *jsonschema.Schema {
	s, err := jsonschema.For[T](nil)
	if err != nil {
		panic("demo: inferring an output schema: " + err.Error())
	}
	dropNull(s)
	return s
}

func dropNull(s *jsonschema.Schema) {
	if s == nil {
		return
	}
	if len(s.Types) == 2 && slices.Contains(s.Types, "null") {
		for _, t := range s.Types {
			if t != "null" {
				s.Type = t
			}
		}
		s.Types = nil
	}
	for _, p := range s.Properties {
		dropNull(p)
	}
	dropNull(s.Items)
	dropNull(s.AdditionalProperties)
}

// readOnlyTool are the annotations of the demo tools: each only reads made-up or local
// data (no side effects, same answer for the same input while the day does not change)
// and reaches nothing outside the demo, so clients need not warn before calling them.
func readOnlyTool(title string) *mcp.ToolAnnotations {
	no := false
	return &mcp.ToolAnnotations{Title: title, ReadOnlyHint: true, IdempotentHint: true, DestructiveHint: &no, OpenWorldHint: &no}
}
