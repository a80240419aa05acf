package authz

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/mcpgate/mcpgate/internal/authz/ruleexpr"
	"github.com/mcpgate/mcpgate/internal/jsonlimit"
	"github.com/mcpgate/mcpgate/internal/mcp"
)

func TestCheck(t *testing.T) {
	callMsg := func(tool string) []byte {
		return []byte(fmt.Sprintf(`{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":%q,"arguments":{"symbol":"ACME"}}}`, tool))
	}
	tests := []struct {
		name      string
		mode      Refusal
		user      ruleexpr.User
		method    string
		tool      string
		upstream  string // tool name the upstream must receive ("" = not forwarded)
		code      int
		message   string
		stepUp    []string
		effect    Effect
		hasRename bool
	}{
		{name: "renamed tool reaches upstream under its real name", user: alice, tool: "stock_quote", upstream: "get_quote", effect: EffectAllow, hasRename: true},
		{name: "old name of a renamed tool is unknown", user: alice, tool: "get_quote", code: -32602, message: "Unknown tool: get_quote", effect: EffectHidden},
		{name: "excluded tool is unknown even in reveal mode", user: alice, tool: "debug_dump", code: -32602, message: "Unknown tool: debug_dump", effect: EffectHidden},
		{name: "plain allowed tool", user: bob, tool: "balance", upstream: "balance", effect: EffectAllow},
		{name: "reveal names the rule", mode: RefusalReveal, user: bob, tool: "stock_quote", code: mcp.CodeUnauthorized, message: "denied by policy finance-only-quotes", effect: EffectDeny},
		{name: "mask answers as unknown tool, with the name the client used", mode: RefusalMask, user: bob, tool: "stock_quote", code: -32602, message: "Unknown tool: stock_quote", effect: EffectDeny},
		{name: "default deny masked", mode: RefusalMask, user: ruleexpr.User{}, tool: "balance", code: -32602, message: "Unknown tool: balance", effect: EffectDefault},
		{name: "default deny revealed", user: ruleexpr.User{}, tool: "balance", code: mcp.CodeUnauthorized, message: "denied by policy: no allow rule matched tool balance", effect: EffectDefault},
		{name: "require: step-up, never masked", mode: RefusalMask, user: bob, tool: "transfer", code: mcp.CodeUnauthorized, message: "insufficient scope", stepUp: []string{"payments.write"}, effect: EffectRequire},
		{name: "masked prompt", mode: RefusalMask, user: bob, method: "prompts/get", tool: "hr_review", code: -32602, message: "Unknown prompt: hr_review", effect: EffectDeny},
		{name: "masked resource", mode: RefusalMask, user: alice, method: "resources/read", tool: "file:///secret/k", code: -32002, message: "Resource not found", effect: EffectDeny},
		{name: "revealed resource", user: alice, method: "resources/read", tool: "file:///secret/k", code: mcp.CodeUnauthorized, message: "denied by policy secret-files: secret files are off limits", effect: EffectDeny},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rt := bankRoute(t, tt.mode)
			v := &Vars{User: tt.user, MCP: ruleexpr.MCP{Method: "tools/call", Tool: tt.tool}}
			msg := callMsg(tt.tool)
			if tt.tool == "transfer" {
				v.MCP.RawArguments = []byte(`{"amount": 10}`)
			}
			switch tt.method {
			case "prompts/get":
				v.MCP = ruleexpr.MCP{Method: tt.method, Prompt: tt.tool}
			case "resources/read":
				v.MCP = ruleexpr.MCP{Method: tt.method, URI: tt.tool}
			}
			res := rt.Check(v, msg)
			if res.Decision.Effect != tt.effect {
				t.Errorf("effect = %s (%s), want %s", res.Decision.Effect, res.Decision.Reason, tt.effect)
			}
			if tt.upstream != "" {
				if !res.Forward() {
					t.Fatalf("refused: %+v", res.Error)
				}
				sent := msg
				if res.Message != nil {
					sent = res.Message
				}
				if (res.Message != nil) != tt.hasRename {
					t.Errorf("message rewritten = %v, want %v", res.Message != nil, tt.hasRename)
				}
				reqs, _, err := mcp.ParseRequest(sent, jsonlimit.Limits{})
				if err != nil || reqs[0].Tool != tt.upstream || string(reqs[0].Arguments) != `{"symbol":"ACME"}` || string(reqs[0].ID) != "3" {
					t.Fatalf("upstream gets %s (%v), want tool %s", sent, err, tt.upstream)
				}
				if v.MCP.Tool != tt.upstream || res.Tool != tt.upstream {
					t.Errorf("rules saw tool %q, result %q; want the upstream name %q", v.MCP.Tool, res.Tool, tt.upstream)
				}
				return
			}
			if res.Forward() {
				t.Fatalf("forwarded; want refusal %d", tt.code)
			}
			exact := tt.effect == EffectDeny && tt.code == mcp.CodeUnauthorized // revealed rule refusals: the whole message
			if res.Error.Code != tt.code || !strings.HasPrefix(res.Error.Message, tt.message) || exact && res.Error.Message != tt.message {
				t.Fatalf("error = %d %q, want %d %q…", res.Error.Code, res.Error.Message, tt.code, tt.message)
			}
			if !slices.Equal(res.StepUpScopes, tt.stepUp) {
				t.Fatalf("step-up scopes = %v, want %v", res.StepUpScopes, tt.stepUp)
			}
			// The rendered response is a JSON-RPC error for the request id.
			var resp struct {
				ID    int `json:"id"`
				Error struct {
					Code    int
					Message string
					Data    json.RawMessage
				}
			}
			if err := json.Unmarshal(res.Error.Response(json.RawMessage("3")), &resp); err != nil || resp.ID != 3 || resp.Error.Code != tt.code {
				t.Fatalf("response %+v %v", resp, err)
			}
			if tt.code == -32602 && resp.Error.Data != nil {
				t.Errorf("a masked refusal must look like the server's own error, without data: %s", resp.Error.Data)
			}
		})
	}
}

// TestFilterSSE streams an upstream's SSE response through the filter event by event: the
// second event is only produced after the first one was filtered and delivered, so a
// filter that buffered the stream would deadlock.
func TestFilterSSE(t *testing.T) {
	rt := bankRoute(t, RefusalReveal)
	next := make(chan struct{})
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fl := w.(http.Flusher)
		io.WriteString(w, "id: 1\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progress\":1}}\n\n")
		fl.Flush()
		<-next
		// the result spans two data: lines (SSE joins them with \n)
		io.WriteString(w, "id: 2\nevent: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":5,\"result\":{\"tools\":[{\"name\":\"get_quote\"},\n")
		io.WriteString(w, "data: {\"name\":\"pay\"},{\"name\":\"debug_x\"}]}}\n\n")
		fl.Flush()
	}))
	defer upstream.Close()
	resp, err := http.Get(upstream.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	f := rt.ListFilter(&Vars{User: bob}, "tools/list")
	rd := mcp.NewSSEReader(resp.Body, 0)
	var got []string
	for i := 0; ; i++ {
		ev, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data := []byte(ev.Data())
		out, err := f.Filter(data)
		if err != nil {
			t.Fatal(err)
		}
		ev.SetData(string(out))
		got = append(got, string(ev.AppendTo(nil)))
		if i == 0 {
			if &out[0] != &data[0] {
				t.Error("notification was copied")
			}
			close(next) // only now let the upstream produce the list
		}
	}
	if len(got) != 2 {
		t.Fatalf("got %d events: %q", len(got), got)
	}
	if !strings.Contains(got[0], "notifications/progress") {
		t.Errorf("first event = %q", got[0])
	}
	if !strings.HasPrefix(got[1], "id: 2\nevent: message\ndata: ") {
		t.Errorf("event fields not preserved: %q", got[1])
	}
	data := strings.TrimSuffix(strings.TrimPrefix(got[1], "id: 2\nevent: message\ndata: "), "\n\n")
	if _, names := names(t, []byte(strings.ReplaceAll(data, "\ndata: ", "\n"))); !slices.Equal(names, []string{"pay"}) {
		t.Fatalf("filtered tools = %v in %q", names, got[1])
	}
}
