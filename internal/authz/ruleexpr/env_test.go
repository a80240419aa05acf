package ruleexpr

import (
	"strings"
	"testing"
)

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		expr string
		want []string
	}{
		{`mcp.tool == "transfer" && user.email > 1000`, []string{"1:38:", "found no matching overload for '_>_' applied to '(string, int)'", "the left is string and the right is int", "▸> 1000"}},
		{`"finance" in usr.groups`, []string{"1:14:", "undeclared reference to 'usr' (did you mean 'user'?): the variables are user, client, mcp and request"}},
		{`"finance" in groups`, []string{"1:14:", "undeclared reference to 'groups'", "the variables are user, client, mcp and request"}},
		{`"finance" in user.grups`, []string{"undefined field 'grups'", `did you mean "groups"?`}},
		{`user.email`, []string{"the condition is a string, expected a bool"}},
		{`user.groups.exists(g, g ==`, []string{"1:"}},
		{`  `, []string{"the condition is empty"}},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			_, err := Compile(tt.expr)
			if err == nil {
				t.Fatal("compiled; want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not contain %q", err, w)
				}
			}
		})
	}
}

func TestCompileReads(t *testing.T) {
	tests := []struct {
		expr           string
		readsMCP, args bool
	}{
		{`"finance" in user.groups`, false, false},
		{`mcp.tool == "get_quote" && !("finance" in user.groups)`, true, false},
		{`mcp.tool == "transfer" && mcp.arguments.amount > 1000`, true, true},
		{`has(mcp.arguments.x)`, true, true},
		{`client.dynamic && request.time.getHours() > 3`, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			c, err := Compile(tt.expr)
			if err != nil {
				t.Fatal(err)
			}
			if c.ReadsMCP != tt.readsMCP || c.ReadsArguments != tt.args {
				t.Errorf("reads mcp=%v args=%v, want %v %v", c.ReadsMCP, c.ReadsArguments, tt.readsMCP, tt.args)
			}
		})
	}
}

func TestGuards(t *testing.T) {
	tests := []struct {
		expr  string
		holds []MCP
		fails []MCP
	}{
		{`mcp.tool == "transfer" && mcp.arguments.amount > 1000`, []MCP{{Tool: "transfer"}}, []MCP{{Tool: "transfers"}, {}}},
		{`"get_quote" == mcp.tool && !("finance" in user.groups)`, []MCP{{Tool: "get_quote"}}, []MCP{{Tool: "x"}}},
		{`client.dynamic && mcp.tool.startsWith("admin_")`, []MCP{{Tool: "admin_x"}}, []MCP{{Tool: "x_admin_"}}},
		{`mcp.tool in ["a", "b"] && mcp.method == "tools/call"`, []MCP{{Tool: "b", Method: "tools/call"}}, []MCP{{Tool: "b", Method: "x"}, {Tool: "c", Method: "tools/call"}}},
		{`mcp.uri.startsWith("file:///hr/")`, []MCP{{URI: "file:///hr/a"}}, []MCP{{URI: "file:///docs"}}},
		// no guard: a disjunction or a negation can match anything
		{`mcp.tool == "a" || user.sub == "x"`, []MCP{{Tool: "zzz"}}, nil},
		{`!(mcp.tool == "a")`, []MCP{{Tool: "zzz"}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			c, err := Compile(tt.expr)
			if err != nil {
				t.Fatal(err)
			}
			all := func(m MCP) bool {
				for _, g := range c.Guards {
					if !g.Holds(&m) {
						return false
					}
				}
				return true
			}
			for _, m := range tt.holds {
				if !all(m) {
					t.Errorf("guards %+v reject %+v", c.Guards, m)
				}
			}
			for _, m := range tt.fails {
				if all(m) {
					t.Errorf("guards %+v accept %+v", c.Guards, m)
				}
			}
		})
	}
}
