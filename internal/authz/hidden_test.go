package authz

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/mcpgate/mcpgate/internal/authz/ruleexpr"
)

// TestExplainHidden: with policy.explainHidden, a list request that asks gets, beside the
// filtered list, the hidden items with the rules and reasons; the visible items are those
// the plain filter keeps. Routes without explainHidden (and mask routes) never explain.
func TestExplainHidden(t *testing.T) {
	rt := bankRoute(t, RefusalReveal)
	rt.explain = true
	tests := []struct {
		name    string
		user    ruleexpr.User
		visible []string
		hidden  map[string][]string // name -> rules
	}{
		{"staff", bob, []string{"transfer", "balance", "get_balance", "pay"},
			map[string][]string{"stock_quote": {"finance-only-quotes"}, "debug_dump": nil}},
		{"anonymous", ruleexpr.User{}, nil, map[string][]string{"stock_quote": {"finance-only-quotes"}, "transfer": nil, "balance": nil,
			"debug_dump": nil, "get_balance": nil, "pay": nil}},
		{"finance", alice, []string{"stock_quote", "transfer", "balance", "get_balance", "pay"}, map[string][]string{"debug_dump": nil}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plain, _ := rt.ListFilter(&Vars{User: tt.user}, "tools/list").Filter([]byte(toolsList))
			out, err := rt.ExplainListFilter(&Vars{User: tt.user}, "tools/list").Filter([]byte(toolsList))
			if err != nil {
				t.Fatal(err)
			}
			_, got := names(t, out)
			_, want := names(t, plain)
			if !slices.Equal(got, want) || !slices.Equal(got, tt.visible) {
				t.Fatalf("visible %v, plain filter %v, want %v", got, want, tt.visible)
			}
			var m struct {
				Result struct {
					Meta       map[string][]Hidden `json:"_meta"`
					NextCursor string              `json:"nextCursor"`
				} `json:"result"`
			}
			if err := json.Unmarshal(out, &m); err != nil || m.Result.NextCursor != "abc" {
				t.Fatalf("%v: %s", err, out)
			}
			hidden := m.Result.Meta[HiddenMetaKey]
			if len(hidden) != len(tt.hidden) {
				t.Fatalf("hidden %+v, want %v", hidden, tt.hidden)
			}
			for _, h := range hidden {
				rules, ok := tt.hidden[h.Name]
				if !ok || !slices.Equal(h.Rules, rules) || h.Reason == "" {
					t.Errorf("hidden %+v, want rules %v", h, rules)
				}
			}
		})
	}
	t.Run("reasons", func(t *testing.T) {
		out, _ := rt.ExplainListFilter(&Vars{User: bob}, "tools/list").Filter([]byte(toolsList))
		var m struct {
			Result struct {
				Meta map[string][]Hidden `json:"_meta"`
			} `json:"result"`
		}
		json.Unmarshal(out, &m)
		want := map[string]string{
			"stock_quote": "denied by rule finance-only-quotes",
			"debug_dump":  "tool debug_dump is not exposed on this route (its tools section)",
		}
		for _, h := range m.Result.Meta[HiddenMetaKey] {
			if h.Reason != want[h.Name] {
				t.Errorf("%s: reason %q, want %q", h.Name, h.Reason, want[h.Name])
			}
		}
	})
	t.Run("existing _meta kept, nothing hidden is an empty list", func(t *testing.T) {
		open := NewRouteFrom("open", nil, nil, RefusalReveal)
		open.explain = true
		msg := `{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"a","inputSchema":{}}],"_meta":{"x":1}}}`
		out, err := open.ExplainListFilter(&Vars{}, "tools/list").Filter([]byte(msg))
		if err != nil {
			t.Fatal(err)
		}
		var m struct {
			Result struct {
				Meta map[string]json.RawMessage `json:"_meta"`
			} `json:"result"`
		}
		json.Unmarshal(out, &m)
		if string(m.Result.Meta["x"]) != "1" || string(m.Result.Meta[HiddenMetaKey]) != "[]" {
			t.Fatalf("%s", out)
		}
	})
	t.Run("not explaining", func(t *testing.T) {
		if f := bankRoute(t, RefusalReveal).ExplainListFilter(&Vars{User: bob}, "tools/list"); f != nil {
			t.Fatal("a route without explainHidden explains")
		}
		masked, err := NewRoute(RouteOptions{Name: "m", Policy: &PolicyOptions{Refusal: RefusalMask, ExplainHidden: true}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if masked.Explains() {
			t.Fatal("a mask route explains")
		}
	})
}

func TestWantsExplanation(t *testing.T) {
	for params, want := range map[string]bool{
		`{"_meta":{"io.mcpgate/explain":true}}`:   true,
		`{"_meta":{"io.mcpgate/explain":"true"}}`: false,
		`{"_meta":{"io.mcpgate/explain":false}}`:  false,
		`{"cursor":"x"}`:                          false,
		``:                                        false,
		`[1]`:                                     false,
	} {
		if got := WantsExplanation(json.RawMessage(params)); got != want {
			t.Errorf("%s: %v, want %v", params, got, want)
		}
	}
}
