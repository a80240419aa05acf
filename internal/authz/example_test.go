package authz_test

import (
	"fmt"

	"github.com/mcpgate/mcpgate/internal/authz"
	"github.com/mcpgate/mcpgate/internal/authz/ruleexpr"
)

// Only finance may call the stock quote tool; bob does not even see it.
func Example() {
	pol := &authz.PolicyOptions{Rules: []authz.Rule{
		{Name: "finance-only-quotes", Effect: authz.EffectDeny, Condition: `mcp.tool == "get_quote" && !("finance" in user.groups)`},
		{Name: "staff", Effect: authz.EffectAllow, Condition: `"staff" in user.groups`},
	}}
	p, err := authz.NewPolicy(pol, nil, "routes[0].policy", nil)
	if err != nil {
		panic(err)
	}
	rt := authz.NewRouteFrom("markets", p, nil, authz.RefusalReveal)
	bob := ruleexpr.User{Subject: "bob", Groups: []string{"staff"}}

	list := []byte(`{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"get_quote"},{"name":"get_news"}]}}`)
	out, _ := rt.ListFilter(&authz.Vars{User: bob}, "tools/list").Filter(list)
	fmt.Println(string(out))

	res := rt.Check(&authz.Vars{User: bob, MCP: ruleexpr.MCP{Method: "tools/call", Tool: "get_quote"}}, nil)
	fmt.Println(res.Decision, "→", res.Error.Message)
	// Output:
	// {"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"get_news"}]}}
	// deny by finance-only-quotes → denied by policy finance-only-quotes
}
