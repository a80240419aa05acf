package routepolicy_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/internal/app"
	"github.com/mcpgate/mcpgate/internal/authn"
	"github.com/mcpgate/mcpgate/internal/config"
	"github.com/mcpgate/mcpgate/internal/gateway"
	"github.com/mcpgate/mcpgate/internal/jsonlimit"
	mcpmsg "github.com/mcpgate/mcpgate/internal/mcp"
	"github.com/mcpgate/mcpgate/internal/routepolicy"
)

// TestSimulate: the simulator decides through the route's own interceptor (same verdict,
// same rule names as Intercept, which the audit event records) and traces every rule.
func TestSimulate(t *testing.T) {
	cfg, _, err := config.Parse("t.yaml", []byte(`
routes:
  - name: bank
    path: /bank/mcp
    upstream: {url: "http://127.0.0.1:1"}
    auth: {mode: permissive}
    rateLimit: {perUser: {requests: 1, per: 1h}}
    policy:
      default: deny
      rules:
        - {name: big-transfers, deny: 'mcp.tool == "transfer" && mcp.arguments.amount > 10000'}
        - {name: staff, allow: '"staff" in user.groups'}
    tools: {exclude: ["debug_*"]}
`), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	in, _, err := app.RouteHooks(cfg, 0, app.HookDeps{})
	if err != nil {
		t.Fatal(err)
	}
	ic := in.(*routepolicy.Interceptor)
	call := func(user string, groups []string, tool string, args map[string]any) *gateway.Call {
		body, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": map[string]any{"name": tool, "arguments": args}})
		msgs, batch, err := mcpmsg.ParseRequest(body, jsonlimit.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		return &gateway.Call{Route: "bank", HTTPMethod: "POST", Principal: &authn.Principal{Subject: user, Groups: groups, ClientID: "cli"},
			Messages: msgs, Batch: batch, Time: time.Now()}
	}
	outcome := func(s routepolicy.Simulation, name string) string {
		for _, r := range s.Rules {
			if r.Name == name {
				return r.Outcome
			}
		}
		return "absent"
	}
	tests := []struct {
		name       string
		c          *gateway.Call
		decision   string
		reasons    []string
		big, staff string
	}{
		{"allow", call("alice", []string{"staff"}, "transfer", map[string]any{"amount": 5}), "allow", []string{"allowed by rule staff"}, "no match", "matched"},
		{"deny", call("carol", []string{"staff"}, "transfer", map[string]any{"amount": 50000}), "deny", []string{"denied by rule big-transfers"}, "matched", "not reached"},
		{"default deny", call("bob", nil, "balance", nil), "deny", nil, "ruled out", "no match"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// The simulator consumes no rate limit: run it twice with perUser 1/h.
			ic.Simulate(context.Background(), tc.c)
			s := ic.Simulate(context.Background(), tc.c)
			real := ic.Intercept(context.Background(), tc.c)
			if s.Verdict.Decision != real.Decision || !slices.Equal(s.Verdict.Reasons, real.Reasons) || !slices.Equal(s.Verdict.Rules, real.Rules) {
				t.Fatalf("simulated %s %v, the gateway decided %s %v", s.Verdict.Decision, s.Verdict.Reasons, real.Decision, real.Reasons)
			}
			if s.Verdict.Decision != tc.decision || (tc.reasons != nil && !slices.Equal(s.Verdict.Reasons, tc.reasons)) {
				t.Fatalf("got %s %v, want %s %v", s.Verdict.Decision, s.Verdict.Reasons, tc.decision, tc.reasons)
			}
			if g := outcome(s, "big-transfers"); g != tc.big {
				t.Errorf("big-transfers: %s, want %s (%+v)", g, tc.big, s.Rules)
			}
			if g := outcome(s, "staff"); g != tc.staff {
				t.Errorf("staff: %s, want %s (%+v)", g, tc.staff, s.Rules)
			}
		})
	}
	if s := ic.Simulate(context.Background(), call("alice", []string{"staff"}, "debug_dump", nil)); s.Exposed || s.Verdict.Decision == "allow" {
		t.Fatalf("hidden tool: %+v", s)
	}
}
