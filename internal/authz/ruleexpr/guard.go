package ruleexpr

import (
	"strings"

	"cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/operators"
	"cel.dev/cel-go/common/types"
)

// Guard is a necessary condition of a rule on one mcp string field, found by reading its
// expression: when the rule is a conjunction with a term such as mcp.tool == "transfer",
// mcp.tool in ["a", "b"] or mcp.uri.startsWith("file:///hr/"), the rule cannot match a
// request that fails the guard, so the policy skips evaluating it. This keeps per-item
// list filtering and per-request decisions cheap for the common tool-scoped rules.
type Guard struct {
	// Field is method, tool, prompt or uri.
	Field string
	// Prefix: Values are prefixes; otherwise exact values.
	Prefix bool
	Values []string
}

// Holds reports whether the field value passes the guard.
func (g Guard) Holds(m *MCP) bool {
	var v string
	switch g.Field {
	case "method":
		v = m.Method
	case "tool":
		v = m.Tool
	case "prompt":
		v = m.Prompt
	case "uri":
		v = m.URI
	}
	for _, x := range g.Values {
		if v == x || g.Prefix && strings.HasPrefix(v, x) {
			return true
		}
	}
	return false
}

// guards returns the guards of the top-level conjunction of e.
func guards(e ast.Expr) []Guard {
	var out []Guard
	var walk func(e ast.Expr)
	walk = func(e ast.Expr) {
		if e.Kind() != ast.CallKind {
			return
		}
		c := e.AsCall()
		args := c.Args()
		switch fn := c.FunctionName(); {
		case fn == operators.LogicalAnd && len(args) == 2:
			walk(args[0])
			walk(args[1])
		case fn == operators.Equals && len(args) == 2:
			if f, ok := mcpField(args[0]); ok {
				if s, ok := stringLit(args[1]); ok {
					out = append(out, Guard{Field: f, Values: []string{s}})
				}
			} else if f, ok := mcpField(args[1]); ok {
				if s, ok := stringLit(args[0]); ok {
					out = append(out, Guard{Field: f, Values: []string{s}})
				}
			}
		case fn == operators.In && len(args) == 2:
			if f, ok := mcpField(args[0]); ok && args[1].Kind() == ast.ListKind {
				g := Guard{Field: f}
				for _, el := range args[1].AsList().Elements() {
					s, ok := stringLit(el)
					if !ok {
						return
					}
					g.Values = append(g.Values, s)
				}
				out = append(out, g)
			}
		case fn == "startsWith" && c.IsMemberFunction() && len(args) == 1:
			if f, ok := mcpField(c.Target()); ok {
				if s, ok := stringLit(args[0]); ok {
					out = append(out, Guard{Field: f, Prefix: true, Values: []string{s}})
				}
			}
		}
	}
	walk(e)
	return out
}

func mcpField(e ast.Expr) (string, bool) {
	if e.Kind() != ast.SelectKind {
		return "", false
	}
	s := e.AsSelect()
	if s.IsTestOnly() || s.Operand().Kind() != ast.IdentKind || s.Operand().AsIdent() != "mcp" {
		return "", false
	}
	switch f := s.FieldName(); f {
	case "method", "tool", "prompt", "uri":
		return f, true
	}
	return "", false
}

func stringLit(e ast.Expr) (string, bool) {
	if e.Kind() != ast.LiteralKind {
		return "", false
	}
	s, ok := e.AsLiteral().(types.String)
	return string(s), ok
}
