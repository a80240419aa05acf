package routepolicy_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/internal/app"
	"github.com/mcpgate/mcpgate/internal/app/apptest"
	"github.com/mcpgate/mcpgate/internal/audit"
	"github.com/mcpgate/mcpgate/internal/authn"
	"github.com/mcpgate/mcpgate/internal/authz"
	"github.com/mcpgate/mcpgate/internal/authz/ruleexpr"
	"github.com/mcpgate/mcpgate/internal/config"
	"github.com/mcpgate/mcpgate/internal/gateway"
	"github.com/mcpgate/mcpgate/internal/jsonlimit"
	mcpmsg "github.com/mcpgate/mcpgate/internal/mcp"
	"github.com/mcpgate/mcpgate/internal/routepolicy"
)

// These tests assemble a gateway from a configuration as internal/app does
// (internal/app/apptest) and check what routepolicy decides through it.

// ---- policy, tools and audit through the gateway

const policyYAML = `
issuers: [{name: corp, issuer: https://idp.test, jwksURL: "https://idp.test/jwks"}]
ruleSets:
  baseline:
    - {name: finance-only-quotes, deny: 'mcp.tool == "get_quote" && !("finance" in user.groups)'}
    - {name: no-dynamic-admin, deny: 'client.dynamic && mcp.tool.startsWith("admin_")'}
routes:
  - name: bank
    path: /bank/mcp
    upstream: {url: "JSONURL"}
    auth: {issuers: [corp], audiences: [mcpgate-test]}
    policy:
      include: [baseline]
      rules:
        - {name: big-transfers, deny: 'mcp.tool == "transfer" && mcp.arguments.amount > 10000', message: "transfers above 10,000 need a human"}
        - {name: console-only-reset, deny: 'mcp.tool == "admin_reset" && !(client.id in ["ops-console", "dcr-ops"])'}
        - {name: banned, deny: 'user.sub == "banned"'}
        - {name: mallory-not-from-here, deny: 'mcp.tool == "balance" && user.sub == "mallory" && request.ip == "127.0.0.1" && request.route == "bank"'}
        - {name: no-time-travel, deny: 'user.sub == "marty" && request.time < timestamp("2020-01-01T00:00:00Z")'}
        - {name: staff, allow: '"staff" in user.groups'}
    tools:
      exclude: ["debug_*"]
      overrides:
        get_quote: {name: stock_quote, description: Latest price of a listed stock}
    auditArguments: {redactFields: [to]}
  - name: bank-sse
    path: /bank-sse/mcp
    upstream: {url: "SSEURL"}
    auth: {issuers: [corp], audiences: [mcpgate-test]}
    policy:
      include: [baseline]
      rules: [{name: staff, allow: '"staff" in user.groups'}]
    tools: {exclude: ["debug_*"]}
  - name: masked
    path: /masked/mcp
    upstream: {url: "JSONURL"}
    auth: {issuers: [corp], audiences: [mcpgate-test]}
    policy:
      refusal: mask
      rules:
        - {name: no-reset, deny: 'mcp.tool == "admin_reset"'}
        - {name: everyone, allow: 'true'}
  - name: stepup
    path: /stepup/mcp
    upstream: {url: "JSONURL"}
    auth: {issuers: [corp], audiences: [mcpgate-test]}
    policy:
      rules:
        - {name: transfers-need-scope, require: 'mcp.tool == "transfer"', scopes: [payments.write]}
        - {name: everyone, allow: 'true'}
  - name: limited
    path: /limited/mcp
    upstream: {url: "JSONURL"}
    auth: {issuers: [corp], audiences: [mcpgate-test]}
    rateLimit: {perUser: {requests: 3, per: 1h}}
`

func policyHarness(t *testing.T) (*apptest.Harness, *apptest.IDP, *apptest.Upstream) {
	t.Helper()
	p := apptest.NewIDP(t)
	up := apptest.NewUpstream(t)
	y := strings.NewReplacer("JSONURL", up.JSONURL, "SSEURL", up.SSEURL).Replace(policyYAML)
	h := apptest.NewHarness(t, y, apptest.Options{Reg: p.Reg, Dynamic: func(_ context.Context, id string) bool { return strings.HasPrefix(id, "dcr-") }})
	return h, p, up
}

func TestPolicyThroughGateway(t *testing.T) {
	h, p, up := policyHarness(t)
	bank := h.URL + "/bank/mcp"
	alice := apptest.NewClient(t, bank, p.Token(t, "alice", []string{"staff", "finance"}, "vscode", "mcp"))
	bob := apptest.NewClient(t, bank, p.Token(t, "bob", []string{"staff"}, "vscode", "mcp"))
	carol := apptest.NewClient(t, bank, p.Token(t, "carol", []string{"sales"}, "vscode", "mcp"))

	opsConsole := apptest.NewClient(t, bank, p.Token(t, "olga", []string{"staff", "finance"}, "ops-console", "mcp"))
	tests := []struct {
		name     string
		c        *apptest.Client
		tool     string
		args     string
		wantText string // allowed: the upstream's answer
		wantErr  string // refused: part of the JSON-RPC error message
		wantCall string // what the upstream received ("" when it must not be called)
	}{
		{"group-based allow", bob, "transfer", `{"amount":50,"to":"DE1"}`, "transfer done", "", `transfer {"amount":50,"to":"DE1"}`},
		{"no matching allow rule: default deny", carol, "transfer", `{"amount":50}`, "", "denied by policy: no allow rule matched", ""},
		{"argument-based deny", alice, "transfer", `{"amount":50000,"to":"DE2"}`, "", "denied by policy big-transfers: transfers above 10,000 need a human", ""},
		{"deny overrides allow", bob, "stock_quote", `{"symbol":"ACME"}`, "", "denied by policy finance-only-quotes", ""},
		{"renamed tool reaches the upstream under its real name", alice, "stock_quote", `{"symbol":"ACME"}`, "get_quote done", "", `get_quote {"symbol":"ACME"}`},
		{"old name of a renamed tool is unknown", alice, "get_quote", `{"symbol":"ACME"}`, "", "Unknown tool: get_quote", ""},
		{"excluded tool is unknown", alice, "debug_dump", `{}`, "", "Unknown tool: debug_dump", ""},
		{"client-based deny", alice, "admin_reset", `{}`, "", "denied by policy console-only-reset", ""},
		{"dynamic client denied", apptest.NewClient(t, bank, p.Token(t, "alice", []string{"staff"}, "dcr-ops", "mcp")), "admin_reset", `{}`, "", "denied by policy no-dynamic-admin", ""},
		{"request.ip", apptest.NewClient(t, bank, p.Token(t, "mallory", []string{"staff"}, "vscode", "mcp")), "balance", `{}`, "", "denied by policy mallory-not-from-here", ""},
		{"request.time", apptest.NewClient(t, bank, p.Token(t, "marty", []string{"staff"}, "vscode", "mcp")), "balance", `{}`, "balance done", "", `balance {}`},
		{"client-based allow", opsConsole, "admin_reset", `{}`, "admin_reset done", "", `admin_reset {}`},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(up.Called())
			resp, msg := tt.c.CallTool(100+i, tt.tool, tt.args)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %v", resp.StatusCode, msg)
			}
			if msg["id"] != float64(100+i) {
				t.Fatalf("answer to the wrong id: %v", msg)
			}
			calls := up.Called()[before:]
			if tt.wantErr != "" {
				_, m := apptest.ErrorOf(msg)
				if !strings.Contains(m, tt.wantErr) {
					t.Fatalf("error = %q, want %q (%v)", m, tt.wantErr, msg)
				}
				if len(calls) != 0 {
					t.Fatalf("a refused call reached the upstream: %v", calls)
				}
				return
			}
			text, isErr := apptest.ResultText(msg)
			if isErr || text != tt.wantText {
				t.Fatalf("result = %q (isError %v), want %q: %v", text, isErr, tt.wantText, msg)
			}
			if len(calls) != 1 || calls[0] != tt.wantCall {
				t.Fatalf("upstream received %v, want %q", calls, tt.wantCall)
			}
		})
	}

	t.Run("tools/list in a JSON response", func(t *testing.T) {
		for _, tc := range []struct {
			c    *apptest.Client
			want []string
		}{
			{alice, []string{"balance", "stock_quote", "transfer"}},                     // admin_reset only from the console
			{bob, []string{"balance", "transfer"}},                                      // no quotes for non-finance
			{opsConsole, []string{"admin_reset", "balance", "stock_quote", "transfer"}}, // never debug_dump
		} {
			if got := tc.c.ListTools(7); !slices.Equal(got, tc.want) {
				t.Errorf("tools = %v, want %v", got, tc.want)
			}
		}
		_, msg := alice.Post(`{"jsonrpc":"2.0","id":8,"method":"tools/list"}`)
		for _, x := range msg["result"].(map[string]any)["tools"].([]any) {
			if tl := x.(map[string]any); tl["name"] == "stock_quote" && tl["description"] != "Latest price of a listed stock" {
				t.Errorf("description not overridden: %v", tl)
			}
		}
	})

	t.Run("GET stream: a user closed out of the route is refused", func(t *testing.T) {
		for _, tc := range []struct {
			token  string
			denied bool
		}{{p.Token(t, "banned", []string{"staff"}, "vscode", "mcp"), true}, {alice.Token, false}} {
			c := &apptest.Client{T: t, URL: bank, Token: tc.token, Session: alice.Session, Proto: alice.Proto}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, bank, nil)
			req.Header.Set("Accept", "text/event-stream")
			req.Header.Set("Authorization", "Bearer "+c.Token)
			if !tc.denied { // alice's session is alice's alone (the gateway would answer 404 before the policy)
				req.Header.Set("Mcp-Session-Id", c.Session)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				cancel()
				t.Fatal(err)
			}
			var b []byte
			if resp.StatusCode == 403 {
				b, _ = io.ReadAll(resp.Body)
			}
			resp.Body.Close()
			cancel()
			if denied := resp.StatusCode == 403 && strings.Contains(string(b), "denied by policy banned"); denied != tc.denied {
				t.Fatalf("GET: %d %s (want denied=%v)", resp.StatusCode, b, tc.denied)
			}
		}
	})

	t.Run("batch is refused as a whole", func(t *testing.T) {
		before := len(up.Called())
		resp, err := alice.Do(http.MethodPost, `[{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"balance","arguments":{}}},`+
			`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"transfer","arguments":{"amount":99999}}}]`, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var arr []map[string]any
		if err := json.Unmarshal(b, &arr); err != nil || resp.StatusCode != 200 || len(arr) != 2 {
			t.Fatalf("batch answer %d %s", resp.StatusCode, b)
		}
		_, m1 := apptest.ErrorOf(arr[0])
		_, m2 := apptest.ErrorOf(arr[1])
		if arr[0]["id"] != float64(1) || !strings.Contains(m1, "not forwarded: message 2 of this batch was refused") ||
			arr[1]["id"] != float64(2) || !strings.Contains(m2, "big-transfers") {
			t.Fatalf("batch answers = %s", b)
		}
		if calls := up.Called()[before:]; len(calls) != 0 {
			t.Fatalf("a refused batch reached the upstream: %v", calls)
		}
	})

	t.Run("masked refusal looks like an unknown tool", func(t *testing.T) {
		c := apptest.NewClient(t, h.URL+"/masked/mcp", p.Token(t, "alice", nil, "vscode", "mcp"))
		_, denied := c.CallTool(1, "admin_reset", `{}`)
		code, msg := apptest.ErrorOf(denied)
		if code != -32602 || msg != "Unknown tool: admin_reset" || denied["error"].(map[string]any)["data"] != nil {
			t.Fatalf("masked refusal = %v", denied)
		}
		// The revealing route names the rule instead.
		_, revealed := alice.CallTool(2, "admin_reset", `{}`)
		if code, msg := apptest.ErrorOf(revealed); code != -32001 || !strings.Contains(msg, "console-only-reset") {
			t.Fatalf("revealed refusal = %v", revealed)
		}
	})

	t.Run("a case variant of name cannot smuggle a refused tool", func(t *testing.T) {
		// The upstream (like every MCP server: JSON.parse, Python, the Go SDK) reads
		// "name" exactly; a gateway matching "NAME" case-insensitively would decide on
		// "balance" and forward a call that runs admin_reset.
		before := len(up.Called())
		_, msg := alice.Post(`{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"admin_reset","NAME":"balance","arguments":{}}}`)
		if code, m := apptest.ErrorOf(msg); code != -32001 || !strings.Contains(m, "console-only-reset") {
			t.Fatalf("smuggled call = %v", msg)
		}
		if calls := up.Called()[before:]; len(calls) != 0 {
			t.Fatalf("the smuggled call reached the upstream: %v", calls)
		}
	})

	t.Run("require rule: step-up challenge", func(t *testing.T) {
		c := apptest.NewClient(t, h.URL+"/stepup/mcp", p.Token(t, "alice", nil, "vscode", "mcp profile"))
		resp, msg := c.CallTool(1, "transfer", `{"amount":1}`)
		wa := resp.Header.Get("WWW-Authenticate")
		if resp.StatusCode != 403 || !strings.Contains(wa, `error="insufficient_scope"`) || !strings.Contains(wa, `scope="payments.write mcp profile"`) ||
			!strings.Contains(wa, "resource_metadata=") {
			t.Fatalf("step-up = %d %q %v", resp.StatusCode, wa, msg)
		}
		c2 := apptest.NewClient(t, h.URL+"/stepup/mcp", p.Token(t, "alice", nil, "vscode", "mcp payments.write"))
		if _, msg := c2.CallTool(2, "transfer", `{"amount":1}`); msg["result"] == nil {
			t.Fatalf("with the scope: %v", msg)
		}
		// Other tools need no step-up.
		if _, msg := c.CallTool(3, "balance", `{}`); msg["result"] == nil {
			t.Fatalf("balance: %v", msg)
		}
	})

	t.Run("rate limit: 429 with Retry-After", func(t *testing.T) {
		tok := p.Token(t, "dave", nil, "vscode", "mcp")
		c := apptest.NewClient(t, h.URL+"/limited/mcp", tok) // initialize + initialized use 2 of 3
		if _, msg := c.CallTool(1, "balance", `{}`); msg["result"] == nil {
			t.Fatalf("third request: %v", msg)
		}
		resp, msg := c.CallTool(2, "balance", `{}`)
		ra := resp.Header.Get("Retry-After")
		code, m := apptest.ErrorOf(msg)
		data, _ := msg["error"].(map[string]any)["data"].(map[string]any)
		if resp.StatusCode != 429 || ra == "" || ra == "0" || code != -32000 || !strings.Contains(m, "rateLimit.perUser") ||
			!strings.Contains(m, "retry in "+ra+" s") || data["limit"] != "perUser" || fmt.Sprint(data["retryAfter"]) != ra {
			t.Fatalf("over the limit: %d Retry-After=%q %v", resp.StatusCode, ra, msg)
		}
		// Another user has their own bucket.
		e := apptest.NewClient(t, h.URL+"/limited/mcp", p.Token(t, "erin", nil, "vscode", "mcp"))
		if _, msg := e.CallTool(3, "balance", `{}`); msg["result"] == nil {
			t.Fatalf("another user: %v", msg)
		}
	})

	t.Run("audit: file and store, no token or secret", func(t *testing.T) {
		_, msg := alice.CallTool(500, "transfer", `{"amount":75,"to":"DE89-secret-iban","pin":"4321-secret-pin"}`)
		if msg["result"] == nil {
			t.Fatalf("transfer: %v", msg)
		}
		h.WaitAudit(t, func(e audit.Event) bool { return e.RequestID == "500" })
		h.Auditor.Close(context.Background()) // drain
		raw, err := os.ReadFile(h.AuditFile)
		if err != nil {
			t.Fatal(err)
		}
		for _, secret := range []string{alice.Token, bob.Token, "4321-secret-pin", "DE89-secret-iban", alice.Session} {
			if strings.Contains(string(raw), secret) {
				t.Fatalf("the audit file contains a secret %q", secret[:min(len(secret), 12)])
			}
			if strings.Contains(h.Logs.String(), secret) {
				t.Fatalf("the log contains a secret %q", secret[:min(len(secret), 12)])
			}
		}
		events, _, err := audit.ReadJSONLines(strings.NewReader(string(raw)), audit.Filter{Limit: -1})
		if err != nil {
			t.Fatal(err)
		}
		stored, err := h.Store.QueryAudit(context.Background(), audit.Filter{Limit: -1})
		if err != nil {
			t.Fatal(err)
		}
		if len(stored) != len(events) || len(events) < 20 {
			t.Fatalf("store has %d events, file %d", len(stored), len(events))
		}
		find := func(evs []audit.Event, f func(e audit.Event) bool) *audit.Event {
			for i := range evs {
				if f(evs[i]) {
					return &evs[i]
				}
			}
			return nil
		}
		for name, evs := range map[string][]audit.Event{"file": events, "store": stored} {
			allowed := find(evs, func(e audit.Event) bool { return e.RequestID == "500" })
			if allowed == nil || allowed.Decision != "allow" || allowed.Tool != "transfer" || allowed.User != "alice" || allowed.ClientID != "vscode" ||
				!slices.Equal(allowed.Rules, []string{"staff"}) || allowed.UpstreamStatus != 200 || allowed.ArgumentsHash == "" ||
				allowed.UserAgent != "hooks-test/1.0" || allowed.UpstreamAuth != "none" || allowed.SessionHash == "" ||
				!strings.Contains(string(allowed.Arguments), `"pin":"[redacted]"`) || !strings.Contains(string(allowed.Arguments), `"to":"[redacted]"`) {
				t.Fatalf("%s: allowed event = %+v", name, allowed)
			}
			denied := find(evs, func(e audit.Event) bool { return e.RequestID == "102" && e.Route == "bank" })
			if denied == nil || denied.Decision != "deny" || !slices.Equal(denied.Rules, []string{"big-transfers"}) || denied.UpstreamStatus != 0 || denied.Tool != "transfer" {
				t.Fatalf("%s: denied event = %+v", name, denied)
			}
			renamed := find(evs, func(e audit.Event) bool { return e.RequestID == "104" && e.Route == "bank" })
			if renamed == nil || renamed.Tool != "get_quote" || renamed.Decision != "allow" {
				t.Fatalf("%s: renamed call recorded as %+v, want the upstream name get_quote", name, renamed)
			}
			limited := find(evs, func(e audit.Event) bool { return e.Route == "limited" && e.Decision == "rate_limited" })
			if limited == nil || limited.Status != 429 || limited.User != "dave" {
				t.Fatalf("%s: rate-limited event = %+v", name, limited)
			}
			stepUp := find(evs, func(e audit.Event) bool { return e.Route == "stepup" && e.Decision == "insufficient_scope" })
			if stepUp == nil || stepUp.Status != 403 || !slices.Equal(stepUp.Rules, []string{"transfers-need-scope"}) {
				t.Fatalf("%s: step-up event = %+v", name, stepUp)
			}
		}
		if got, err := h.Store.QueryAudit(context.Background(), audit.Filter{Route: "bank", User: "bob", Decision: "deny"}); err != nil || len(got) != 1 || got[0].Tool != "get_quote" {
			t.Fatalf("store query for bob's denials = %+v, %v", got, err)
		}
	})
}

// tools/list answered as an SSE stream is filtered event by event: the progress event the
// upstream sends before it blocks arrives before the upstream is released, and the list
// that follows is filtered. A GET stream that replays the list (resumption with
// Last-Event-ID) is filtered too.
func TestListFilteringOnSSE(t *testing.T) {
	h, p, up := policyHarness(t)
	bob := apptest.NewClient(t, h.URL+"/bank-sse/mcp", p.Token(t, "bob", []string{"staff"}, "vscode", "mcp"))
	gate := make(chan struct{})
	up.ListGate.Store(&gate)
	resp, err := bob.Do(http.MethodPost, `{"jsonrpc":"2.0","id":9,"method":"tools/list","params":{"_meta":{"progressToken":"p9"}}}`, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		t.Fatalf("content type %q: the upstream should stream", ct)
	}
	br := bufio.NewReader(resp.Body)
	readEvent := func() (id, data string) {
		t.Helper()
		for {
			l, err := br.ReadString('\n')
			if err != nil {
				t.Fatalf("stream ended: %v", err)
			}
			l = strings.TrimRight(l, "\r\n")
			switch {
			case l == "" && data != "":
				return id, data
			case strings.HasPrefix(l, "id:"):
				id = strings.TrimSpace(strings.TrimPrefix(l, "id:"))
			case strings.HasPrefix(l, "data:"):
				data += strings.TrimSpace(strings.TrimPrefix(l, "data:"))
			}
		}
	}
	got := make(chan [2]string, 1)
	go func() { i, d := readEvent(); got <- [2]string{i, d} }()
	var progressID string
	select {
	case ev := <-got:
		if !strings.Contains(ev[1], "notifications/progress") {
			t.Fatalf("first event = %s", ev[1])
		}
		progressID = ev[0]
	case <-time.After(5 * time.Second):
		t.Fatal("the progress event did not arrive while the upstream was blocked: the stream is buffered")
	}
	close(gate)
	_, data := readEvent()
	var msg map[string]any
	json.Unmarshal([]byte(data), &msg)
	if names := apptest.ToolNames(t, msg); !slices.Equal(names, []string{"admin_reset", "balance", "transfer"}) {
		t.Fatalf("bob's tools on the SSE stream = %v (get_quote and debug_dump must be filtered)", names)
	}
	resp.Body.Close()
	up.ListGate.Store(nil)

	// Resume the stream after the progress event: the upstream replays the list on a GET.
	if progressID == "" {
		t.Fatal("the upstream sent no event ids; resumption cannot be tested")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, h.URL+"/bank-sse/mcp", nil)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Authorization", "Bearer "+bob.Token)
	req.Header.Set("Mcp-Session-Id", bob.Session)
	req.Header.Set("MCP-Protocol-Version", bob.Proto)
	req.Header.Set("Last-Event-ID", progressID)
	gresp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer gresp.Body.Close()
	if gresp.StatusCode != 200 {
		b, _ := io.ReadAll(gresp.Body)
		t.Fatalf("GET resume: %d %s", gresp.StatusCode, b)
	}
	br = bufio.NewReader(gresp.Body)
	_, data = readEvent()
	msg = nil
	json.Unmarshal([]byte(data), &msg)
	if names := apptest.ToolNames(t, msg); !slices.Equal(names, []string{"admin_reset", "balance", "transfer"}) {
		t.Fatalf("bob's tools replayed on the GET stream = %v", names)
	}
}

// ---- benchmarks: the hooks' cost per request, without HTTP

func benchHooks(b *testing.B) (*routepolicy.Interceptor, *authn.Principal) {
	cfg, _, err := config.Parse("bench.yaml", []byte(strings.NewReplacer("JSONURL", "http://127.0.0.1:1", "SSEURL", "http://127.0.0.1:1").Replace(policyYAML)),
		func(string) (string, bool) { return "", false })
	if err != nil {
		b.Fatal(err)
	}
	in, _, err := app.RouteHooks(cfg, 0, app.HookDeps{DynamicClient: func(context.Context, string) bool { return false }})
	if err != nil {
		b.Fatal(err)
	}
	p := &authn.Principal{Subject: "alice", ClientID: "vscode", Groups: []string{"staff", "finance"}, Scopes: []string{"mcp"}}
	return in.(*routepolicy.Interceptor), p
}

func BenchmarkIntercept(b *testing.B) {
	for _, bc := range []struct{ name, body string }{
		{"tools_call", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"transfer","arguments":{"amount":50,"to":"DE1"}}}`},
		{"tools_call_renamed", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"stock_quote","arguments":{"symbol":"ACME"}}}`},
		{"tools_call_denied", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"transfer","arguments":{"amount":50000}}}`},
		{"tools_list", `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`},
	} {
		b.Run(bc.name, func(b *testing.B) {
			ic, p := benchHooks(b)
			msgs, batch, perr := mcpParse([]byte(bc.body))
			call := &gateway.Call{Route: "bank", HTTPMethod: http.MethodPost, Principal: p, Messages: msgs, Batch: batch, ParseErr: perr, Time: time.Now()}
			b.ReportAllocs()
			for b.Loop() {
				ic.Intercept(context.Background(), call)
			}
		})
	}
	// Baseline in the same run: the policy decision alone (authz.Route.Check).
	b.Run("baseline_authz_check", func(b *testing.B) {
		ic, p := benchHooks(b)
		msgs, _, _ := mcpParse([]byte(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"transfer","arguments":{"amount":50,"to":"DE1"}}}`))
		base := authzVars(p)
		b.ReportAllocs()
		for b.Loop() {
			v := base
			ic.Authz().Check(routepolicy.WithMessage(&v, &msgs[0]), msgs[0].Raw)
		}
	})
}

func mcpParse(b []byte) ([]mcpmsg.Request, bool, error) {
	return mcpmsg.ParseRequest(b, jsonlimit.Limits{})
}

func authzVars(p *authn.Principal) authz.Vars {
	return authz.Vars{User: authz.UserFrom(p), Client: ruleexpr.Client{ID: p.ClientID}, Request: ruleexpr.Request{Route: "bank", IP: "127.0.0.1", Time: time.Now()}}
}
