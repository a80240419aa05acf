package authz

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/mcpgate/mcpgate/internal/authz/ruleexpr"
)

func bankRoute(t testing.TB, mode Refusal) *Route {
	t.Helper()
	p := mustPolicy(t, &PolicyOptions{Rules: []Rule{
		{Name: "finance-only-quotes", Effect: EffectDeny, Condition: `mcp.tool == "get_quote" && !("finance" in user.groups)`},
		{Name: "big-transfers", Effect: EffectDeny, Condition: `mcp.tool == "transfer" && mcp.arguments.amount > 1000`},
		{Name: "transfers-need-scope", Effect: EffectRequire, Condition: `mcp.tool == "transfer"`, Scopes: []string{"payments.write"}},
		{Name: "hr-prompts", Effect: EffectDeny, Condition: `mcp.prompt.startsWith("hr_") && !("hr" in user.groups)`},
		{Name: "secret-files", Effect: EffectDeny, Condition: `mcp.uri.startsWith("file:///secret/")`, Message: "secret files are off limits"},
		{Name: "staff", Effect: EffectAllow, Condition: `"staff" in user.groups`},
		{Name: "auditors-read", Effect: EffectAllow, Condition: `"auditor" in user.roles && (mcp.tool.startsWith("get_") || mcp.method == "resources/read")`},
		{Name: "small-payments-for-contractors", Effect: EffectAllow, Condition: `"contractors" in user.groups && mcp.tool == "pay" && mcp.arguments.amount < 50`},
	}}, nil)
	tools := NewTools(&ToolsOptions{
		Exclude:   []string{"debug_*"},
		Overrides: map[string]ToolOverride{"get_quote": {Name: "stock_quote", Description: "Latest \"price\" of a stock"}, "balance": {Description: "Account balance"}},
	})
	return NewRouteFrom("bank", p, tools, mode)
}

const toolsList = `{"jsonrpc":"2.0","id":7,"result":{"tools":[
 {"name":"get_quote","description":"Quote","inputSchema":{"type":"object","properties":{"symbol":{"type":"string","description":"a \"ticker\" like {X}"}}}},
 {"name":"transfer","description":"Move money","inputSchema":{"type":"object"}},
 {"name":"balance","inputSchema":{"type":"object"}},
 {"name":"debug_dump","description":"internal","inputSchema":{"type":"object"}},
 {"name":"get_balance","description":"Read","inputSchema":{"type":"object"}},
 {"name":"pay","description":"Pay","inputSchema":{"type":"object"}}
],"nextCursor":"abc"}}`

type listed struct {
	ID     any `json:"id"`
	Result struct {
		Tools []struct {
			Name        string `json:"name"`
			Description string `json:"description"`
			InputSchema any    `json:"inputSchema"`
		} `json:"tools"`
		Prompts           []struct{ Name string }        `json:"prompts"`
		Resources         []struct{ URI string }         `json:"resources"`
		ResourceTemplates []struct{ URITemplate string } `json:"resourceTemplates"`
		NextCursor        string                         `json:"nextCursor"`
	} `json:"result"`
}

func names(t *testing.T, msg []byte) (l listed, out []string) {
	t.Helper()
	if err := json.Unmarshal(msg, &l); err != nil {
		t.Fatalf("filtered message is not JSON: %v\n%s", err, msg)
	}
	for _, x := range l.Result.Tools {
		out = append(out, x.Name)
	}
	for _, x := range l.Result.Prompts {
		out = append(out, x.Name)
	}
	for _, x := range l.Result.Resources {
		out = append(out, x.URI)
	}
	for _, x := range l.Result.ResourceTemplates {
		out = append(out, x.URITemplate)
	}
	return l, out
}

func TestFilterToolsList(t *testing.T) {
	rt := bankRoute(t, RefusalReveal)
	tests := []struct {
		name string
		user ruleexpr.User
		want []string
	}{
		// alice is finance: she sees the renamed quote tool; debug_* is excluded for everyone.
		{"finance", alice, []string{"stock_quote", "transfer", "balance", "get_balance", "pay"}},
		// bob is not finance: he does not even see the quote tool. transfer stays (its deny
		// depends on the amount, its require leads to a step-up).
		{"staff", bob, []string{"transfer", "balance", "get_balance", "pay"}},
		// carol is no staff: default deny; her auditor role allows get_*, and an
		// argument-dependent allow keeps pay visible.
		{"contractor", carol, []string{"get_balance", "pay"}},
		{"contractor without role", ruleexpr.User{Groups: []string{"contractors"}}, []string{"pay"}},
		{"auditor", ruleexpr.User{Roles: []string{"auditor"}}, []string{"get_balance"}},
		{"anonymous", ruleexpr.User{}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := rt.ListFilter(&Vars{User: tt.user}, "tools/list")
			out, err := f.Filter([]byte(toolsList))
			if err != nil {
				t.Fatal(err)
			}
			l, got := names(t, out)
			if !slices.Equal(got, tt.want) {
				t.Fatalf("tools = %v, want %v\n%s", got, tt.want, out)
			}
			if l.Result.NextCursor != "abc" || l.ID != 7.0 {
				t.Fatalf("rest of the message lost: %s", out)
			}
			for _, tool := range l.Result.Tools {
				switch tool.Name {
				case "stock_quote":
					if tool.Description != `Latest "price" of a stock` || tool.InputSchema == nil {
						t.Errorf("override not applied: %+v", tool)
					}
				case "balance":
					if tool.Description != "Account balance" {
						t.Errorf("description not added: %+v", tool)
					}
				case "transfer":
					if tool.Description != "Move money" {
						t.Errorf("untouched tool changed: %+v", tool)
					}
				}
			}
		})
	}
}

func TestFilterOtherLists(t *testing.T) {
	rt := bankRoute(t, RefusalReveal)
	tests := []struct {
		method, msg string
		user        ruleexpr.User
		want        []string
	}{
		{"prompts/list", `{"jsonrpc":"2.0","id":1,"result":{"prompts":[{"name":"hr_review"},{"name":"summary","arguments":[]}]}}`, bob, []string{"summary"}},
		{"prompts/list", `{"jsonrpc":"2.0","id":1,"result":{"prompts":[{"name":"hr_review"},{"name":"summary"}]}}`, ruleexpr.User{Groups: []string{"staff", "hr"}}, []string{"hr_review", "summary"}},
		{"resources/list", `{"jsonrpc":"2.0","id":1,"result":{"resources":[{"uri":"file:///secret/keys","name":"k"},{"uri":"file:///docs/a","name":"a"}]}}`, alice, []string{"file:///docs/a"}},
		{"resources/list", `{"jsonrpc":"2.0","id":1,"result":{"resources":[{"uri":"file:///docs/a"}]}}`, ruleexpr.User{Roles: []string{"auditor"}}, []string{"file:///docs/a"}},
		{"resources/templates/list", `{"jsonrpc":"2.0","id":1,"result":{"resourceTemplates":[{"uriTemplate":"file:///secret/{name}"},{"uriTemplate":"file:///docs/{name}"}]}}`, alice, []string{"file:///docs/{name}"}},
	}
	for _, tt := range tests {
		t.Run(tt.method+"/"+tt.user.Subject+strings.Join(tt.user.Groups, ","), func(t *testing.T) {
			out, err := rt.ListFilter(&Vars{User: tt.user}, tt.method).Filter([]byte(tt.msg))
			if err != nil {
				t.Fatal(err)
			}
			if _, got := names(t, out); !slices.Equal(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestFilterPassThrough(t *testing.T) {
	rt := bankRoute(t, RefusalReveal)
	f := rt.ListFilter(&Vars{User: bob}, "tools/list")
	for _, msg := range []string{
		`{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":1,"progress":5}}`,
		`{"jsonrpc":"2.0","id":9,"method":"sampling/createMessage","params":{"result":{"tools":[{"name":"get_quote"}]}}}`,
		`{"jsonrpc":"2.0","id":7,"error":{"code":-32603,"message":"boom"}}`,
		`{"jsonrpc":"2.0","id":7,"result":{}}`,
		`{"jsonrpc":"2.0","id":7,"result":{"tools":null}}`,
	} {
		in := []byte(msg)
		out, err := f.Filter(in)
		if err != nil {
			t.Fatal(err)
		}
		if &out[0] != &in[0] || len(out) != len(in) {
			t.Fatalf("changed: %s", out)
		}
	}
	// Nothing to do: no filter at all.
	if f := NewRouteFrom("plain", nil, nil, "").ListFilter(&Vars{}, "tools/list"); f != nil {
		t.Fatal("a route without policy or tools section needs no filter")
	}
	// default: deny without rules hides everything
	denyAll := NewRouteFrom("closed", mustPolicy(t, &PolicyOptions{Default: "deny"}, nil), nil, "")
	out0, err := denyAll.ListFilter(&Vars{User: alice}, "tools/list").Filter([]byte(toolsList))
	if err != nil {
		t.Fatal(err)
	}
	if _, got := names(t, out0); len(got) != 0 {
		t.Fatalf("default deny lists %v", got)
	}
	if f := rt.ListFilter(&Vars{}, "tools/call"); f != nil {
		t.Fatal("tools/call responses are not filtered")
	}
	// An unchanged list is returned without copying.
	in := []byte(`{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"transfer"},{"name":"pay"}]}}`)
	out, err := f.Filter(in)
	if err != nil || &out[0] != &in[0] {
		t.Fatalf("unchanged list was copied (%v)", err)
	}
}

func TestFilterHostile(t *testing.T) {
	rt := bankRoute(t, RefusalReveal)
	f := rt.ListFilter(&Vars{User: bob}, "tools/list")
	tests := []struct {
		name, msg string
		want      []string
		err       bool
	}{
		{"escaped key", `{"jsonrpc":"2.0","id":1,"result":{"tools":[{"na\u006de":"get_quote"},{"name":"pay"}]}}`, []string{"pay"}, false},
		{"case-folded key", `{"jsonrpc":"2.0","id":1,"result":{"tools":[{"NAME":"get_quote"},{"name":"pay"}]}}`, []string{"pay"}, false},
		{"duplicate names", `{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"pay","Name":"get_quote"},{"name":"pay"}]}}`, []string{"pay"}, false},
		{"name not a string", `{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":1},"x",{"name":"pay"}]}}`, []string{"pay"}, false},
		{"escaped value", `{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"get_\u0071uote"},{"name":"pay"}]}}`, []string{"pay"}, false},
		{"duplicate tools arrays", `{"jsonrpc":"2.0","id":1,"result":{"tools":[],"Tools":[{"name":"get_quote"}]}}`, nil, true},
		{"truncated", `{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"get_quote"}`, nil, true},
		{"garbage", `{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name" "x"}]}}`, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := f.Filter([]byte(tt.msg))
			if tt.err {
				if err == nil {
					t.Fatalf("want an error, got %s", out)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if _, got := names(t, out); !slices.Equal(got, tt.want) {
				t.Fatalf("got %v, want %v: %s", got, tt.want, out)
			}
		})
	}
}

func TestFilterBatch(t *testing.T) {
	rt := bankRoute(t, RefusalReveal)
	f := rt.BatchListFilter(&Vars{User: bob}, map[string]string{`1`: "tools/list", `"p"`: "prompts/list", `3`: "tools/call"})
	in := `[{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"get_quote"},{"name":"pay"}]}},` +
		`{"jsonrpc":"2.0","id":"p","result":{"prompts":[{"name":"hr_x"},{"name":"ok"}]}},` +
		`{"jsonrpc":"2.0","id":3,"result":{"content":[],"tools":[{"name":"get_quote"}]}}]`
	out, err := f.Filter([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	var msgs []json.RawMessage
	if err := json.Unmarshal(out, &msgs); err != nil || len(msgs) != 3 {
		t.Fatalf("%v: %s", err, out)
	}
	for i, want := range [][]string{{"pay"}, {"ok"}, {"get_quote"}} {
		if _, got := names(t, msgs[i]); !slices.Equal(got, want) {
			t.Errorf("message %d: %v, want %v", i, got, want)
		}
	}
}

// TestStreamFilter: on the GET stream the request is unknown; list results replayed there
// (resumption) are recognised by their arrays and filtered all the same.
func TestStreamFilter(t *testing.T) {
	rt := bankRoute(t, RefusalReveal)
	f := rt.StreamFilter(&Vars{User: bob})
	tests := []struct {
		msg  string
		want []string
		same bool
		err  bool
	}{
		{msg: toolsList, want: []string{"transfer", "balance", "get_balance", "pay"}},
		{msg: `{"jsonrpc":"2.0","id":2,"result":{"prompts":[{"name":"hr_x"},{"name":"ok"}]}}`, want: []string{"ok"}},
		{msg: `{"jsonrpc":"2.0","id":3,"result":{"content":[{"type":"text","text":"hi"}]}}`, same: true},
		{msg: `{"jsonrpc":"2.0","method":"notifications/tools/list_changed"}`, same: true},
		{msg: `{"jsonrpc":"2.0","id":4,"result":{"tools":[],"prompts":[]}}`, err: true},
	}
	for _, tt := range tests {
		in := []byte(tt.msg)
		out, err := f.Filter(in)
		if tt.err {
			if err == nil {
				t.Errorf("%s: want an error", tt.msg)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if tt.same {
			if &out[0] != &in[0] {
				t.Errorf("%s was copied", tt.msg)
			}
			continue
		}
		if _, got := names(t, out); !slices.Equal(got, tt.want) {
			t.Errorf("got %v, want %v", got, tt.want)
		}
	}
}
