package storetest

import (
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/internal/audit"
	"github.com/mcpgate/mcpgate/internal/store"
)

// testAudit: events come back whole, oldest first, filtered like audit.Filter.Match and
// limited to the most recent ones.
func testAudit(t *testing.T, s store.Store) {
	al, ok := s.(store.AuditLog)
	if !ok {
		t.Fatalf("%T does not keep audit events (store.AuditLog)", s)
	}
	t0 := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	events := []audit.Event{
		{Time: t0, Route: "bank", User: "alice", Email: "Alice@Example.com", ClientID: "vscode", Method: "tools/call", Tool: "transfer",
			ArgumentsHash: "abc", Decision: "deny", Rules: []string{"big-transfers"}, Reason: "denied by rule big-transfers", Status: 200, LatencyMS: 1.5, UserAgent: "ua/1"},
		{Time: t0.Add(time.Minute), Route: "bank", User: "bob", Method: "tools/call", Tool: "balance", Decision: "allow", Status: 200, UpstreamStatus: 200},
		{Time: t0.Add(2 * time.Minute), Route: "docs", User: "alice", Method: "prompts/get", Prompt: "summary", Decision: "allow", Status: 200},
		{Time: t0.Add(3 * time.Minute), Route: "docs", User: "alice", Method: "resources/read", Resource: "file:///a", Decision: "insufficient_scope", Status: 403},
	}
	// Appended out of order: queries still return time order.
	for _, i := range []int{2, 0, 3, 1} {
		must(t, al.AppendAudit(ctx, events[i]))
	}
	tests := []struct {
		name string
		f    audit.Filter
		want []int
	}{
		{"all", audit.Filter{}, []int{0, 1, 2, 3}},
		{"user by subject", audit.Filter{User: "alice"}, []int{0, 2, 3}},
		{"user by email, any case", audit.Filter{User: "alice@example.COM"}, []int{0}},
		{"tool", audit.Filter{Tool: "transfer"}, []int{0}},
		{"prompt via tool filter", audit.Filter{Tool: "summary"}, []int{2}},
		{"resource via tool filter", audit.Filter{Tool: "file:///a"}, []int{3}},
		{"decision", audit.Filter{Decision: "allow"}, []int{1, 2}},
		{"route", audit.Filter{Route: "docs"}, []int{2, 3}},
		{"since", audit.Filter{Since: t0.Add(90 * time.Second)}, []int{2, 3}},
		{"before", audit.Filter{Before: t0.Add(2 * time.Minute)}, []int{0, 1}},
		{"before and since", audit.Filter{Since: t0.Add(time.Minute), Before: t0.Add(3 * time.Minute)}, []int{1, 2}},
		{"limit keeps the most recent", audit.Filter{Limit: 2}, []int{2, 3}},
		{"next page: before the oldest shown", audit.Filter{Limit: 2, Before: t0.Add(2 * time.Minute)}, []int{0, 1}},
		{"negative limit: all", audit.Filter{Limit: -1}, []int{0, 1, 2, 3}},
		{"combined", audit.Filter{User: "alice", Route: "bank", Decision: "deny"}, []int{0}},
		{"nothing", audit.Filter{User: "carol"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := al.QueryAudit(ctx, tt.f)
			must(t, err)
			if len(got) != len(tt.want) {
				t.Fatalf("got %d events %v, want %v", len(got), got, tt.want)
			}
			for i, w := range tt.want {
				g, e := got[i], events[w]
				if !g.Time.Equal(e.Time) || g.Route != e.Route || g.User != e.User || g.Tool != e.Tool || g.Prompt != e.Prompt ||
					g.Resource != e.Resource || g.Decision != e.Decision || g.Status != e.Status || g.Email != e.Email ||
					g.Reason != e.Reason || len(g.Rules) != len(e.Rules) || g.UserAgent != e.UserAgent || g.ArgumentsHash != e.ArgumentsHash {
					t.Fatalf("event %d = %+v, want %+v", i, g, e)
				}
			}
		})
	}
}
