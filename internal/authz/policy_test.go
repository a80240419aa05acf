package authz

import (
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/internal/authz/ruleexpr"
)

var (
	alice = ruleexpr.User{Subject: "alice", Email: "alice@example.com", Groups: []string{"staff", "finance"}, Scopes: []string{"mcp.tools"}}
	bob   = ruleexpr.User{Subject: "bob", Email: "bob@example.com", Groups: []string{"staff"}, Scopes: []string{"mcp.tools"}}
	carol = ruleexpr.User{Subject: "carol", Email: "carol@partner.example", Groups: []string{"contractors"}, Roles: []string{"auditor"},
		Scopes: []string{"mcp.tools", "payments.write"}, Claims: map[string]any{"tid": "t1", "level": 3.0}}
)

func call(u ruleexpr.User, tool string, args map[string]any) *Vars {
	return &Vars{User: u, Client: ruleexpr.Client{ID: "vscode"}, MCP: ruleexpr.MCP{Method: "tools/call", Tool: tool, Arguments: args},
		Request: ruleexpr.Request{Route: "bank", IP: "127.0.0.1", Time: time.Date(2026, 11, 22, 14, 0, 0, 0, time.UTC)}}
}

func withClient(v *Vars, id string, dynamic bool) *Vars {
	v.Client = ruleexpr.Client{ID: id, Dynamic: dynamic}
	return v
}

func withMethod(v *Vars, method string) *Vars {
	v.MCP.Method = method
	return v
}

func mustPolicy(t testing.TB, pol *PolicyOptions, sets map[string][]Rule) *Policy {
	t.Helper()
	p, err := NewPolicy(pol, sets, "routes[0].policy", nil)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDecide(t *testing.T) {
	bank := &PolicyOptions{
		Include: []string{"baseline"},
		Rules: []Rule{
			{Name: "finance-only-quotes", Effect: EffectDeny, Condition: `mcp.tool == "get_quote" && !("finance" in user.groups)`},
			{Name: "big-transfers", Effect: EffectDeny, Condition: `mcp.tool == "transfer" && mcp.arguments.amount > 1000`, Message: "transfers above 1000 need a human"},
			{Name: "transfers-need-scope", Effect: EffectRequire, Condition: `mcp.tool == "transfer"`, Scopes: []string{"payments.write"}},
			{Name: "staff", Effect: EffectAllow, Condition: `"staff" in user.groups`},
			{Name: "auditors-read", Effect: EffectAllow, Condition: `"auditor" in user.roles && mcp.tool.startsWith("get_")`},
		},
	}
	sets := map[string][]Rule{"baseline": {
		{Name: "no-dynamic-admin", Effect: EffectDeny, Condition: `client.dynamic && mcp.tool.startsWith("admin_")`},
		{Name: "trusted-clients-only-delete", Effect: EffectDeny, Condition: `mcp.tool == "delete_account" && !(client.id in ["ops-console"])`},
	}}
	p := mustPolicy(t, bank, sets)

	tests := []struct {
		name   string
		vars   *Vars
		allow  bool
		effect Effect
		rules  []string
		scopes []string
	}{
		{"group allows", call(bob, "balance", nil), true, EffectAllow, []string{"staff"}, nil},
		{"no group: default deny", call(carol, "balance", nil), false, EffectDefault, nil, nil},
		{"role allows get_", call(carol, "get_balance", nil), true, EffectAllow, []string{"auditors-read"}, nil},
		{"finance may quote", call(alice, "get_quote", nil), true, EffectAllow, []string{"staff"}, nil},
		{"deny overrides the staff allow", call(bob, "get_quote", nil), false, EffectDeny, []string{"finance-only-quotes"}, nil},
		{"deny overrides both allows", call(ruleexpr.User{Groups: []string{"staff"}, Roles: []string{"auditor"}}, "get_quote", nil), false, EffectDeny, []string{"finance-only-quotes"}, nil},
		{"small transfer without scope: step-up", call(alice, "transfer", map[string]any{"amount": 500.0}), false, EffectRequire, []string{"transfers-need-scope"}, []string{"payments.write"}},
		{"big transfer: deny beats step-up", call(alice, "transfer", map[string]any{"amount": 5000.0}), false, EffectDeny, []string{"big-transfers"}, nil},
		{"transfer with scope by staff", call(ruleexpr.User{Groups: []string{"staff"}, Scopes: []string{"payments.write"}}, "transfer", map[string]any{"amount": 1000}), true, EffectAllow, []string{"staff"}, nil},
		{"transfer with missing amount fails closed", call(alice, "transfer", map[string]any{}), false, EffectDeny, []string{"big-transfers"}, nil},
		{"dynamic client may not admin", withClient(call(alice, "admin_reset", nil), "random", true), false, EffectDeny, []string{"no-dynamic-admin"}, nil},
		{"static client may admin", withClient(call(alice, "admin_reset", nil), "ops-console", false), true, EffectAllow, []string{"staff"}, nil},
		{"delete only from ops console", withClient(call(alice, "delete_account", nil), "vscode", false), false, EffectDeny, []string{"trusted-clients-only-delete"}, nil},
		{"delete from ops console", withClient(call(alice, "delete_account", nil), "ops-console", false), true, EffectAllow, []string{"staff"}, nil},
		{"initialize is not gated by default deny", withMethod(call(carol, "", nil), "initialize"), true, EffectDefault, nil, nil},
		{"tools/list is not gated", withMethod(call(ruleexpr.User{}, "", nil), "tools/list"), true, EffectDefault, nil, nil},
		{"anonymous call denied by default", call(ruleexpr.User{}, "balance", nil), false, EffectDefault, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := p.Decide(tt.vars)
			if d.Allow != tt.allow || d.Effect != tt.effect || !slices.Equal(d.Rules, tt.rules) || !slices.Equal(d.RequiredScopes, tt.scopes) {
				t.Fatalf("Decide = %+v\nwant allow=%v effect=%s rules=%v scopes=%v", d, tt.allow, tt.effect, tt.rules, tt.scopes)
			}
			if d.Reason == "" {
				t.Error("decision has no reason")
			}
		})
	}
}

// A deny rule on arguments without a tool condition applies to every call (and fails
// closed when the argument is missing) but does not close the route: initialize and the
// list methods carry no arguments.
func TestArgumentRuleWithoutGuard(t *testing.T) {
	p := mustPolicy(t, &PolicyOptions{Default: "allow", Rules: []Rule{{Name: "no-big-limits", Effect: EffectDeny, Condition: `mcp.arguments.limit > 5`}}}, nil)
	tests := []struct {
		name  string
		vars  *Vars
		allow bool
	}{
		{"initialize", withMethod(call(bob, "", nil), "initialize"), true},
		{"tools/list", withMethod(call(bob, "", nil), "tools/list"), true},
		{"small limit", call(bob, "search", map[string]any{"limit": 3.0}), true},
		{"big limit", call(bob, "search", map[string]any{"limit": 7.0}), false},
		{"no limit fails closed", call(bob, "search", nil), false},
	}
	for _, tt := range tests {
		if d := p.Decide(tt.vars); d.Allow != tt.allow {
			t.Errorf("%s: %+v, want allow=%v", tt.name, d, tt.allow)
		}
	}
}

func TestDefaults(t *testing.T) {
	denyOnly := []Rule{{Name: "no-quotes", Effect: EffectDeny, Condition: `mcp.tool == "get_quote"`}}
	tests := []struct {
		name  string
		pol   *PolicyOptions
		tool  string
		allow bool
	}{
		{"no policy allows", nil, "x", true},
		{"no rules allows", &PolicyOptions{}, "x", true},
		{"rules without default deny", &PolicyOptions{Rules: denyOnly}, "x", false},
		{"explicit default allow", &PolicyOptions{Rules: denyOnly, Default: "allow"}, "x", true},
		{"explicit default allow still denies", &PolicyOptions{Rules: denyOnly, Default: "allow"}, "get_quote", false},
		{"explicit default deny without rules", &PolicyOptions{Default: "deny"}, "x", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustPolicy(t, tt.pol, nil)
			if d := p.Decide(call(alice, tt.tool, nil)); d.Allow != tt.allow {
				t.Fatalf("Decide = %+v, want allow=%v", d, tt.allow)
			}
		})
	}
}

func TestVariables(t *testing.T) {
	// Every variable and field is reachable, with the values the gateway puts in.
	v := &Vars{
		User:    carol,
		Client:  ruleexpr.Client{ID: "cli", Dynamic: true},
		MCP:     ruleexpr.MCP{Method: "tools/call", Tool: "t", RawArguments: []byte(`{"amount": 12, "to": {"iban": "DE00"}}`)},
		Request: ruleexpr.Request{Route: "bank", IP: "10.1.2.3", Time: time.Date(2026, 11, 22, 23, 30, 0, 0, time.UTC)},
	}
	exprs := []string{
		`user.sub == "carol" && user.email.endsWith("@partner.example") && "auditor" in user.roles`,
		`"payments.write" in user.scopes && user.claims.tid == "t1" && user.claims.level >= 3`,
		`client.id == "cli" && client.dynamic`,
		`mcp.method == "tools/call" && mcp.tool == "t" && mcp.arguments.amount == 12 && mcp.arguments.to.iban == "DE00"`,
		`has(mcp.arguments.amount) && !has(mcp.arguments.missing)`,
		`request.route == "bank" && request.ip.startsWith("10.") && request.time.getHours() == 23`,
		`request.time.getHours("Europe/Paris") == 0`,
		`mcp.prompt == "" && mcp.uri == "" && user.name == ""`,
		`sets.intersects(user.groups, ["contractors", "x"])`,
	}
	for _, e := range exprs {
		t.Run(e, func(t *testing.T) {
			p := mustPolicy(t, &PolicyOptions{Rules: []Rule{{Name: "r", Effect: EffectAllow, Condition: e}}}, nil)
			if d := p.Decide(v); !d.Allow {
				t.Fatalf("%s: %+v", e, d)
			}
			// and the negation denies, so the rule really decided
			p = mustPolicy(t, &PolicyOptions{Rules: []Rule{{Name: "r", Effect: EffectAllow, Condition: "!(" + e + ")"}}}, nil)
			if d := p.Decide(v); d.Allow {
				t.Fatalf("!(%s): %+v", e, d)
			}
		})
	}
}

func TestEvalErrorsDoNotLeakValues(t *testing.T) {
	var logs strings.Builder
	p, err := NewPolicy(&PolicyOptions{Rules: []Rule{
		{Name: "n", Effect: EffectDeny, Condition: `int(mcp.arguments.pin) > 5`},
		{Name: "t", Effect: EffectDeny, Condition: `timestamp(mcp.arguments.when) < request.time`},
	}}, nil, "p", slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	d := p.Decide(call(alice, "x", map[string]any{"pin": "s3cr3t-value", "when": "s3cr3t-time"}))
	if d.Allow || !strings.Contains(d.Reason, "could not be evaluated (type conversion error from 'string' to 'int')") {
		t.Fatalf("%+v", d)
	}
	if strings.Contains(d.Reason+logs.String(), "s3cr3t") {
		t.Fatalf("argument value leaked: %s / %s", d.Reason, logs.String())
	}
}

func TestNewPolicyErrors(t *testing.T) {
	_, err := NewPolicy(&PolicyOptions{Include: []string{"nope"}, Rules: []Rule{
		{Name: "ok", Effect: EffectAllow, Condition: "true"},
		{Name: "big-transfers", Effect: EffectDeny, Condition: `mcp.tool == "transfer" && user.email > 1000`},
	}}, nil, "routes[0].policy", nil)
	if err == nil {
		t.Fatal("want an error")
	}
	for _, want := range []string{
		`routes[0].policy.include: rule set "nope" is not defined`,
		`routes[0].policy.rules[1] (big-transfers): 1:38: found no matching overload for '_>_' applied to '(string, int)'`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q\nlacks %q", err, want)
		}
	}
}
