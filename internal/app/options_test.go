package app

import (
	"errors"
	"strings"
	"testing"

	"github.com/mcpgate/mcpgate/internal/authz"
	"github.com/mcpgate/mcpgate/internal/config"
)

// The policy, tools and rateLimit sections load (config validates them) and map to
// authz options that compile.

const configHead = `
issuers:
  - name: idp
    issuer: https://idp.example.com
ruleSets:
  baseline:
    - {name: no-dynamic-admin, deny: 'client.dynamic && mcp.tool.startsWith("admin_")'}
routes:
  - name: bank
    path: /bank/mcp
    upstream: {url: http://127.0.0.1:9001/mcp}
    auth: {issuers: [idp]}
`

func TestConfigLoad(t *testing.T) {
	tests := []struct {
		name   string
		policy string
		errs   []string // substrings of the load error; none: loads
	}{
		{"valid", `
    policy:
      include: [baseline]
      refusal: mask
      rules:
        - {name: finance-only-quotes, deny: 'mcp.tool == "get_quote" && !("finance" in user.groups)'}
        - {name: staff, allow: '"staff" in user.groups'}
        - {name: transfers, require: 'mcp.tool == "transfer"', scopes: [payments.write]}
    tools:
      exclude: ["debug_*"]
      overrides: {get_quote: {name: stock_quote, description: Latest price}}
    rateLimit: {perUser: {requests: 60, per: 1m, burst: 10}}
`, nil},
		{"type error names rule, position and expectation", `
    policy:
      rules:
        - {name: a, allow: 'true'}
        - {name: b, allow: 'true'}
        - {name: big-transfers, deny: 'mcp.tool == "transfer" && user.email > 1000'}
`, []string{"routes[0].policy.rules[2] (big-transfers): 1:38: found no matching overload for '_>_' applied to '(string, int)': both sides of > must have the same type, but the left is string and the right is int"}},
		{"unknown variable", `
    policy:
      rules: [{name: typo, allow: '"finance" in usr.groups'}]
`, []string{"routes[0].policy.rules[0] (typo): 1:14: undeclared reference to 'usr'", "the variables are user, client, mcp and request"}},
		{"unknown field", `
    policy:
      rules: [{name: typo, allow: '"finance" in user.grups'}]
`, []string{`undefined field 'grups': did you mean "groups"?`}},
		{"not a bool", `
    policy:
      rules: [{name: str, allow: 'user.email'}]
`, []string{"routes[0].policy.rules[0] (str): 1:1: the condition is a string, expected a bool"}},
		{"two effects", `
    policy:
      rules: [{name: both, allow: 'true', deny: 'false'}]
`, []string{"routes[0].policy.rules[0] (both): set exactly one of allow, deny or require"}},
		{"require without scopes", `
    policy:
      rules: [{name: r, require: 'true'}]
`, []string{"routes[0].policy.rules[0] (r).scopes: a require rule must list the scopes it demands"}},
		{"missing name", `
    policy:
      rules: [{allow: 'true'}]
`, []string{"routes[0].policy.rules[0].name: is required"}},
		{"unknown rule set", `
    policy:
      include: [baselin]
`, []string{`routes[0].policy.include[0]: "baselin" is not defined under ruleSets (did you mean "baseline"?)`}},
		{"bad default and refusal", `
    policy:
      default: maybe
      refusal: hide
`, []string{`routes[0].policy.default: "maybe" is not allow or deny`, `routes[0].policy.refusal: "hide" is not reveal or mask`}},
		{"duplicate exposed names", `
    tools:
      overrides: {a: {name: x}, b: {name: x}}
`, []string{`routes[0].tools.overrides.b.name: "x" is also the new name of "a"`}},
		{"bad glob", `
    tools:
      include: ["[a-"]
`, []string{`routes[0].tools.include[0]: "[a-" is not a glob pattern`}},
		{"bad rate", `
    rateLimit: {perRoute: {requests: 0}}
`, []string{"routes[0].rateLimit.perRoute.requests: must be a positive number"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, _, err := config.Parse("test.yaml", []byte(configHead+tt.policy), nil)
			if len(tt.errs) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				o := authzOptions(cfg, 0)
				rt, err := authz.NewRoute(o, nil)
				if err != nil {
					t.Fatal(err)
				}
				if o.Policy.Refusal != authz.RefusalMask || authz.NewTools(o.Tools) == nil || rt.Policy().Empty() {
					t.Fatalf("route not compiled from config: %+v", rt)
				}
				return
			}
			if err == nil {
				t.Fatal("config loaded; want an error")
			}
			var ce *config.Errors
			if !errors.As(err, &ce) {
				t.Fatalf("error %T %v is not *config.Errors", err, err)
			}
			for _, w := range tt.errs {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error:\n%v\nlacks:\n%s", err, w)
				}
			}
		})
	}
}

func TestConfigWarnsDenyOnly(t *testing.T) {
	_, warnings, err := config.Parse("test.yaml", []byte(configHead+`
    policy:
      rules: [{name: no-quotes, deny: 'mcp.tool == "get_quote"'}]
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(warnings, "\n"), "routes[0].policy: the policy has rules but no allow rule") {
		t.Fatalf("warnings = %q", warnings)
	}
}
