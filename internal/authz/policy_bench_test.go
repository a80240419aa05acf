package authz

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/internal/authz/ruleexpr"
)

// tenRules is a realistic 10-rule policy: group, role, client, argument, time and IP rules.
var tenRules = &PolicyOptions{Rules: []Rule{
	{Name: "block-dynamic-clients-from-admin", Effect: EffectDeny, Condition: `client.dynamic && mcp.tool.startsWith("admin_")`},
	{Name: "big-transfers", Effect: EffectDeny, Condition: `mcp.tool == "transfer" && mcp.arguments.amount > 10000`},
	{Name: "finance-only-quotes", Effect: EffectDeny, Condition: `mcp.tool == "get_quote" && !("finance" in user.groups)`},
	{Name: "no-contractors-at-night", Effect: EffectDeny, Condition: `"contractor" in user.roles && request.time.getHours() < 6`},
	{Name: "blocked-ip", Effect: EffectDeny, Condition: `request.ip == "203.0.113.7"`},
	{Name: "transfers-need-scope", Effect: EffectRequire, Condition: `mcp.tool == "transfer"`, Scopes: []string{"payments.write"}},
	{Name: "staff", Effect: EffectAllow, Condition: `"staff" in user.groups`},
	{Name: "finance", Effect: EffectAllow, Condition: `"finance" in user.groups && mcp.tool in ["get_quote", "transfer", "balance"]`},
	{Name: "readers-read", Effect: EffectAllow, Condition: `mcp.method == "resources/read" && user.email.endsWith("@example.com")`},
	{Name: "tenant", Effect: EffectAllow, Condition: `user.claims.?tid.orValue("") == "t1"`},
}}

func benchVars() *Vars {
	return &Vars{
		User: ruleexpr.User{Subject: "alice", Email: "alice@example.com", Groups: []string{"staff", "finance"},
			Roles: []string{"employee"}, Scopes: []string{"mcp.tools", "payments.write"}, Claims: map[string]any{"tid": "t1"}},
		Client:  ruleexpr.Client{ID: "vscode", Dynamic: true},
		MCP:     ruleexpr.MCP{Method: "tools/call", Tool: "transfer", Arguments: map[string]any{"amount": 500.0, "to": "bob"}},
		Request: ruleexpr.Request{Route: "bank", IP: "127.0.0.1", Time: time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)},
	}
}

func BenchmarkDecision10Rules(b *testing.B) {
	p, err := NewPolicy(tenRules, nil, "routes[0].policy", nil)
	if err != nil {
		b.Fatal(err)
	}
	tmpl := benchVars()
	b.ReportAllocs()
	for b.Loop() {
		v := *tmpl // a fresh Vars per request, as the gateway builds one
		d := p.Decide(&v)
		if !d.Allow {
			b.Fatal(d)
		}
	}
}

// thousandTools is a tools/list result of 1,000 realistic tools (name, description,
// a small JSON schema): about 300 KB.
func thousandTools() []byte {
	var b strings.Builder
	b.WriteString(`{"jsonrpc":"2.0","id":1,"result":{"tools":[`)
	for i := range 1000 {
		if i > 0 {
			b.WriteByte(',')
		}
		prefix := []string{"get", "list", "create", "admin", "transfer"}[i%5]
		fmt.Fprintf(&b, `{"name":"%s_item_%d","description":"Does %s on item %d. Returns a JSON document describing the \"result\".",`+
			`"inputSchema":{"type":"object","properties":{"id":{"type":"string","description":"Item id"},"limit":{"type":"integer","minimum":1,"maximum":100},"tags":{"type":"array","items":{"type":"string"}}},"required":["id"]},`+
			`"annotations":{"readOnlyHint":%v}}`, prefix, i, prefix, i, prefix == "get" || prefix == "list")
	}
	b.WriteString(`],"nextCursor":"next-page"}}`)
	return []byte(b.String())
}

// BenchmarkFilter1000Tools filters a 1,000-tool list for a user who may not see a fifth
// of it (the 10-rule policy plus an exclude glob and two renames).
func BenchmarkFilter1000Tools(b *testing.B) {
	msg := thousandTools()
	pol := *tenRules
	pol.Rules = append(slices.Clone(pol.Rules), Rule{Name: "no-admin-for-finance", Effect: EffectDeny, Condition: `mcp.tool.startsWith("admin_") && "finance" in user.groups`})
	p, err := NewPolicy(&pol, nil, "routes[0].policy", nil)
	if err != nil {
		b.Fatal(err)
	}
	rt := NewRouteFrom("bench", p, NewTools(&ToolsOptions{
		Exclude:   []string{"*_item_99?"},
		Overrides: map[string]ToolOverride{"get_item_0": {Name: "fetch_item_0"}, "list_item_1": {Description: "Lists"}},
	}), RefusalReveal)
	v := benchVars()
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	var out []byte
	for b.Loop() {
		out, err = rt.ListFilter(v, "tools/list").Filter(msg)
		if err != nil {
			b.Fatal(err)
		}
	}
	// 200 admin_* tools are denied to this user, 8 more excluded by the glob.
	var l struct {
		Result struct{ Tools []struct{ Name string } }
	}
	if err := json.Unmarshal(out, &l); err != nil || len(l.Result.Tools) != 792 || l.Result.Tools[0].Name != "fetch_item_0" {
		b.Fatalf("filtered list: %d tools (%v)", len(l.Result.Tools), err)
	}
}

// BenchmarkFilter1000ToolsPassThrough: same list, a user who may see everything and no
// tools section: the message is scanned and returned as is.
func BenchmarkFilter1000ToolsPassThrough(b *testing.B) {
	msg := thousandTools()
	p, _ := NewPolicy(&PolicyOptions{Rules: []Rule{{Name: "staff", Effect: EffectAllow, Condition: `"staff" in user.groups`}}}, nil, "p", nil)
	rt := NewRouteFrom("bench", p, nil, RefusalReveal)
	v := benchVars()
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		out, err := rt.ListFilter(v, "tools/list").Filter(msg)
		if err != nil || len(out) != len(msg) {
			b.Fatal(err)
		}
	}
}

// BenchmarkBaselineJSONRoundTrip1000Tools is the baseline: decoding the same list with
// encoding/json into generic values and encoding it again, which any filter that
// unmarshals the message pays before evaluating a single rule.
func BenchmarkBaselineJSONRoundTrip1000Tools(b *testing.B) {
	msg := thousandTools()
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		var m map[string]any
		if err := json.Unmarshal(msg, &m); err != nil {
			b.Fatal(err)
		}
		if _, err := json.Marshal(m); err != nil {
			b.Fatal(err)
		}
	}
}
