package upstream_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gosdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpgate/mcpgate/internal/app"
	"github.com/mcpgate/mcpgate/internal/app/apptest"
	"github.com/mcpgate/mcpgate/internal/config"
	"github.com/mcpgate/mcpgate/internal/secrets"
	"github.com/mcpgate/mcpgate/internal/store"
	"github.com/mcpgate/mcpgate/internal/upstream"
)

// mrtrUpstream is a go-sdk v1.8.0 server (both protocol versions) for a connection route:
// "balance" answers with the Authorization it got; "confirm" asks, the MRTR way, for a
// form elicitation with a requestState of its own, and completes only when the retry
// carries that state and the answer. Every request it sees is recorded.
type mrtrUpstream struct {
	URL  string
	mu   sync.Mutex
	seen []upstreamSaw
}

type upstreamSaw struct {
	Method, Tool, Authorization, RequestState string
	InputResponses                            map[string]json.RawMessage
}

const upstreamState = "upstream-own-state-1"

func newMRTRUpstream(t *testing.T) *mrtrUpstream {
	t.Helper()
	srv := gosdk.NewServer(&gosdk.Implementation{Name: "tracker", Version: "1"}, nil)
	gosdk.AddTool(srv, &gosdk.Tool{Name: "balance"}, func(ctx context.Context, req *gosdk.CallToolRequest, _ struct{}) (*gosdk.CallToolResult, any, error) {
		return &gosdk.CallToolResult{Content: []gosdk.Content{&gosdk.TextContent{Text: "balance for " + req.Extra.Header.Get("Authorization")}}}, nil, nil
	})
	gosdk.AddTool(srv, &gosdk.Tool{Name: "confirm"}, func(ctx context.Context, req *gosdk.CallToolRequest, _ struct{}) (*gosdk.CallToolResult, any, error) {
		er, _ := req.Params.InputResponses["sure"].(*gosdk.ElicitResult)
		if req.Params.RequestState != upstreamState || er == nil || er.Action != "accept" {
			return &gosdk.CallToolResult{RequestState: upstreamState, InputRequests: gosdk.InputRequestMap{
				"sure": &gosdk.ElicitParams{Mode: "form", Message: "Sure?", RequestedSchema: map[string]any{"type": "object", "properties": map[string]any{}}},
			}}, nil, nil
		}
		return &gosdk.CallToolResult{Content: []gosdk.Content{&gosdk.TextContent{Text: "confirmed"}}}, nil, nil
	})
	h := gosdk.NewStreamableHTTPHandler(func(*http.Request) *gosdk.Server { return srv }, &gosdk.StreamableHTTPOptions{JSONResponse: true, Stateless: true})
	u := &mrtrUpstream{}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var m struct {
			Method string
			Params struct {
				Name           string                     `json:"name"`
				RequestState   string                     `json:"requestState"`
				InputResponses map[string]json.RawMessage `json:"inputResponses"`
			}
		}
		json.Unmarshal(body, &m)
		u.mu.Lock()
		u.seen = append(u.seen, upstreamSaw{m.Method, m.Params.Name, r.Header.Get("Authorization"), m.Params.RequestState, m.Params.InputResponses})
		u.mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(body))
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	u.URL = ts.URL
	return u
}

func (u *mrtrUpstream) calls(tool string) []upstreamSaw {
	u.mu.Lock()
	defer u.mu.Unlock()
	var out []upstreamSaw
	for _, s := range u.seen {
		if s.Method == "tools/call" && s.Tool == tool {
			out = append(out, s)
		}
	}
	return out
}

// subjectOf reads the sub claim of a token (the tests' own tokens: no verification).
func subjectOf(t *testing.T, tok string) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c struct{ Sub string }
	json.Unmarshal(b, &c)
	return c.Sub
}

// mrtrEnv is a gateway with the tracker connection route in front of a mrtrUpstream.
type mrtrEnv struct {
	h          *apptest.Harness
	set        *upstream.Set
	st         store.Store
	connectURL string
}

func newMRTREnv(t *testing.T, e *entraEnv, up *mrtrUpstream, ttl time.Duration) *mrtrEnv {
	const wait = 3 * time.Second // gateway.Options.InputWait: a still-unconnected retry is asked again after it
	t.Helper()
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	public := "http://mcpgate.invalid"
	y := strings.NewReplacer("PUBLIC", public, "ISSUER", e.em.V2Issuer(tenantID), "ENTRA", e.URL, "JSONURL", closed.URL,
		"TOKENURL", e.em.TokenURL(tenantID), "MCPAPI", mcpAPIID, "SECRET", mcpSecret, "DOWN", closed.URL, "TRACKERURL", up.URL).Replace(credsYAML)
	cfg, _, err := config.Parse("creds.yaml", []byte(y), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	keys, err := secrets.NewKeyring("k1", secrets.Key{ID: "k1", Material: make([]byte, 32)})
	if err != nil {
		t.Fatal(err)
	}
	st := store.NewMemory()
	set, err := upstream.Build(app.UpstreamOptions(cfg), upstream.BuildOptions{Store: st, Keys: keys,
		CurrentUser: func(*http.Request) (string, bool) { return "", false }})
	if err != nil {
		t.Fatal(err)
	}
	h := apptest.NewHarness(t, y, apptest.Options{Reg: e.registry(t), Creds: set, RequestStateTTL: ttl, InputWait: wait})
	return &mrtrEnv{h: h, set: set, st: st, connectURL: public + "/connections/tracker/connect"}
}

func (m *mrtrEnv) link(t *testing.T, token string) {
	t.Helper()
	if err := m.set.Connections.Link(context.Background(), "tracker", subjectOf(t, token), "tracker-token-"+subjectOf(t, token)[:6], "", "", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
}

func (m *mrtrEnv) unlink(t *testing.T, token string) {
	t.Helper()
	if err := m.st.DeleteConnection(context.Background(), subjectOf(t, token), "tracker"); err != nil {
		t.Fatal(err)
	}
}

// post2026 sends a 2026-07-28 tools/call of tool from a client that declares URL
// elicitation, with requestState and inputResponses when given, and arguments (default
// {}), and returns the answer.
func (m *mrtrEnv) post2026(t *testing.T, token string, id int, tool, state, responses string, args ...string) (int, map[string]any) {
	t.Helper()
	arguments := json.RawMessage(`{}`)
	if len(args) > 0 {
		arguments = json.RawMessage(args[0])
	}
	params := map[string]any{"name": tool, "arguments": arguments, "_meta": map[string]any{
		"io.modelcontextprotocol/protocolVersion":    "2026-07-28",
		"io.modelcontextprotocol/clientCapabilities": map[string]any{"elicitation": map[string]any{"url": map[string]any{}}},
		"io.modelcontextprotocol/clientInfo":         map[string]any{"name": "raw", "version": "1"},
	}}
	if state != "" {
		params["requestState"] = state
	}
	if responses != "" {
		params["inputResponses"] = json.RawMessage(responses)
	}
	body, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": params})
	c := &apptest.Client{T: t, URL: m.h.URL + "/tracker/mcp", Token: token}
	resp, err := c.Do(http.MethodPost, string(body), map[string]string{"Mcp-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call", "Mcp-Name": tool})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var msg map[string]any
	if err := json.Unmarshal(b, &msg); err != nil {
		t.Fatalf("status %d, body %q: %v", resp.StatusCode, b, err)
	}
	return resp.StatusCode, msg
}

// stateOf returns the requestState of an input-required result, checking its shape:
// one URL elicitation to the connect page (and no elicitationId: 2026-07-28 has none).
func (m *mrtrEnv) stateOf(t *testing.T, msg map[string]any) string {
	t.Helper()
	res, _ := msg["result"].(map[string]any)
	if res == nil || res["resultType"] != "input_required" {
		t.Fatalf("not an input-required result: %v", msg)
	}
	irs, _ := res["inputRequests"].(map[string]any)
	if len(irs) != 1 {
		t.Fatalf("inputRequests = %v", res["inputRequests"])
	}
	for _, v := range irs {
		ir := v.(map[string]any)
		p := ir["params"].(map[string]any)
		if ir["method"] != "elicitation/create" || p["mode"] != "url" || p["url"] != m.connectURL || !strings.Contains(p["message"].(string), m.connectURL) || p["elicitationId"] != nil {
			t.Fatalf("input request = %v", ir)
		}
	}
	s, _ := res["requestState"].(string)
	if !strings.HasPrefix(s, "mcpgate.") {
		t.Fatalf("requestState = %q", s)
	}
	return s
}

// TestConnectionInputRequests: on a connection route, a 2026-07-28 client is asked to
// connect through an MRTR input request (URL elicitation and a sealed requestState),
// and its retry succeeds once the user has connected; a requestState tampered with,
// presented by another user or for another request, or expired is refused; the
// upstream's own MRTR passes through untouched, and the upstream never sees mcpgate's
// state (issue 15).
func TestConnectionInputRequests(t *testing.T) {
	e := newEntra(t)
	up := newMRTRUpstream(t)
	env := newMRTREnv(t, e, up, 0)
	alice := e.userToken(t, "alice@contoso.com", "alice-pw")
	bob := e.userToken(t, "bob@contoso.com", "bob-pw")

	// sdkClient is a go-sdk v1.8.0 client on 2026-07-28 declaring URL elicitation; onURL
	// plays the user for each URL elicitation (the returned action is the client's answer).
	sdkClient := func(t *testing.T, token string, onURL func(url string) string) *gosdk.ClientSession {
		t.Helper()
		client := gosdk.NewClient(&gosdk.Implementation{Name: "mrtr", Version: "1"}, &gosdk.ClientOptions{
			Capabilities: &gosdk.ClientCapabilities{Elicitation: &gosdk.ElicitationCapabilities{Form: &gosdk.FormElicitationCapabilities{}, URL: &gosdk.URLElicitationCapabilities{}}},
			ElicitationHandler: func(ctx context.Context, req *gosdk.ElicitRequest) (*gosdk.ElicitResult, error) {
				if req.Params.Mode == "url" {
					return &gosdk.ElicitResult{Action: onURL(req.Params.URL)}, nil
				}
				return &gosdk.ElicitResult{Action: "accept", Content: map[string]any{}}, nil // the upstream's form
			},
		})
		tr := &gosdk.StreamableClientTransport{Endpoint: env.h.URL + "/tracker/mcp", HTTPClient: &http.Client{Transport: bearerTransport{token: token}}, DisableStandaloneSSE: true}
		sess, err := client.Connect(t.Context(), tr, &gosdk.ClientSessionOptions{ProtocolVersion: "2026-07-28"})
		if err != nil {
			t.Fatalf("connect: %v", err)
		}
		t.Cleanup(func() { sess.Close() })
		return sess
	}
	text := func(res *gosdk.CallToolResult) string {
		var b strings.Builder
		for _, c := range res.Content {
			if tc, ok := c.(*gosdk.TextContent); ok {
				b.WriteString(tc.Text)
			}
		}
		return b.String()
	}

	t.Run("bob declines: the call ends with a tool error carrying the URL, no loop", func(t *testing.T) {
		var asked atomic.Int32
		sess := sdkClient(t, bob, func(url string) string {
			asked.Add(1)
			return "decline"
		})
		res, err := sess.CallTool(t.Context(), &gosdk.CallToolParams{Name: "balance"})
		if err != nil || !res.IsError || !strings.Contains(text(res), env.connectURL) || asked.Load() != 1 {
			t.Fatalf("result %v, err %v, asked %d times", res, err, asked.Load())
		}
	})

	t.Run("alice connects when asked, and the retry succeeds", func(t *testing.T) {
		var asked atomic.Int32
		sess := sdkClient(t, alice, func(url string) string {
			asked.Add(1)
			if url != env.connectURL {
				t.Errorf("elicitation URL %q, want %q", url, env.connectURL)
			}
			env.link(t, alice) // the user connects in the browser
			return "accept"
		})
		if lt, err := sess.ListTools(t.Context(), nil); err != nil || len(lt.Tools) != 2 {
			t.Fatalf("tools/list: %v %v", lt, err)
		}
		res, err := sess.CallTool(t.Context(), &gosdk.CallToolParams{Name: "balance"})
		if err != nil || res.IsError || text(res) != "balance for Bearer tracker-token-"+subjectOf(t, alice)[:6] || asked.Load() != 1 {
			t.Fatalf("result %v, err %v, asked %d times", res, err, asked.Load())
		}
	})

	t.Run("alice's client retries as soon as the browser opens: the retry waits until she has connected", func(t *testing.T) {
		env.unlink(t, alice)
		var asked atomic.Int32
		sess := sdkClient(t, alice, func(string) string {
			asked.Add(1)
			go func() { time.Sleep(time.Second); env.link(t, alice) }() // the user takes a while
			return "accept"
		})
		start := time.Now()
		res, err := sess.CallTool(t.Context(), &gosdk.CallToolParams{Name: "balance"})
		if err != nil || res.IsError || asked.Load() != 1 || time.Since(start) < time.Second {
			t.Fatalf("result %v, err %v, asked %d times, after %s", res, err, asked.Load(), time.Since(start))
		}
	})

	t.Run("the upstream's own MRTR passes through untouched", func(t *testing.T) {
		sess := sdkClient(t, alice, func(string) string { t.Error("asked to connect while connected"); return "cancel" })
		res, err := sess.CallTool(t.Context(), &gosdk.CallToolParams{Name: "confirm"})
		if err != nil || text(res) != "confirmed" {
			t.Fatalf("result %v, err %v", res, err)
		}
	})

	t.Run("connection lost between the upstream's rounds: mcpgate's state carries the upstream's", func(t *testing.T) {
		// Round 1: the upstream asks (form); while the user answers, the connection is
		// revoked; round 2: mcpgate asks to connect, keeping the upstream's state and the
		// answer; round 3: the upstream gets both back and completes.
		var asked atomic.Int32
		client := gosdk.NewClient(&gosdk.Implementation{Name: "mrtr", Version: "1"}, &gosdk.ClientOptions{
			Capabilities: &gosdk.ClientCapabilities{Elicitation: &gosdk.ElicitationCapabilities{Form: &gosdk.FormElicitationCapabilities{}, URL: &gosdk.URLElicitationCapabilities{}}},
			ElicitationHandler: func(ctx context.Context, req *gosdk.ElicitRequest) (*gosdk.ElicitResult, error) {
				if req.Params.Mode == "url" {
					asked.Add(1)
					env.link(t, alice)
					return &gosdk.ElicitResult{Action: "accept"}, nil
				}
				env.unlink(t, alice)
				return &gosdk.ElicitResult{Action: "accept", Content: map[string]any{}}, nil
			},
		})
		tr := &gosdk.StreamableClientTransport{Endpoint: env.h.URL + "/tracker/mcp", HTTPClient: &http.Client{Transport: bearerTransport{token: alice}}, DisableStandaloneSSE: true}
		sess, err := client.Connect(t.Context(), tr, &gosdk.ClientSessionOptions{ProtocolVersion: "2026-07-28"})
		if err != nil {
			t.Fatal(err)
		}
		defer sess.Close()
		before := len(up.calls("confirm"))
		res, err := sess.CallTool(t.Context(), &gosdk.CallToolParams{Name: "confirm"})
		if err != nil || text(res) != "confirmed" || asked.Load() != 1 {
			t.Fatalf("result %v, err %v, asked to connect %d times", res, err, asked.Load())
		}
		calls := up.calls("confirm")[before:]
		if len(calls) != 2 || calls[1].RequestState != upstreamState || len(calls[1].InputResponses) != 1 || calls[1].InputResponses["sure"] == nil {
			t.Fatalf("the upstream saw %+v; want the first call, then its own state and answer back", calls)
		}
	})

	// Raw 2026-07-28 requests: bob (not connected) gets a state, which is then abused.
	_, msg := env.post2026(t, bob, 1, "balance", "", "")
	bobState := env.stateOf(t, msg)
	key := ""
	for k := range msg["result"].(map[string]any)["inputRequests"].(map[string]any) {
		key = k
	}
	accept := fmt.Sprintf(`{%q:{"action":"accept"}}`, key)
	tampered := []byte(bobState)
	tampered[len(tampered)-5] ^= 1
	short := newMRTREnv(t, e, up, time.Second)
	_, msg = short.post2026(t, bob, 1, "balance", "", "")
	expiring := short.stateOf(t, msg)
	time.Sleep(1100 * time.Millisecond)

	tests := []struct {
		name              string
		env               *mrtrEnv
		token, tool, st   string
		wantCode          int
		wantReason, wantM string
		args              []string
	}{
		{"tampered", env, bob, "balance", string(tampered), -32602, "request_state_invalid", "altered", nil},
		{"another user's", env, alice, "balance", bobState, -32602, "request_state_other_user", "another user", nil},
		{"for another tool", env, bob, "confirm", bobState, -32602, "request_state_other_request", "another request", nil},
		{"for other arguments", env, bob, "balance", bobState, -32602, "request_state_other_request", "arguments", []string{`{"amount":1000}`}},
		{"expired", short, bob, "balance", expiring, -32602, "request_state_expired", "expired", nil},
		{"truncated", env, bob, "balance", bobState[:len(bobState)-21], -32602, "request_state_invalid", "altered", nil},
		{"sealed with an unknown key", env, bob, "balance", "mcpgate.rs1.v1.old.AAAA", -32602, "request_state_invalid", "no longer has", nil},
	}
	for _, tt := range tests {
		t.Run("requestState "+tt.name+" is refused", func(t *testing.T) {
			status, msg := tt.env.post2026(t, tt.token, 9, tt.tool, tt.st, accept, tt.args...)
			code, m := apptest.ErrorOf(msg)
			d, _ := msg["error"].(map[string]any)["data"].(map[string]any)
			if status != 200 || code != tt.wantCode || d["reason"] != tt.wantReason || !strings.Contains(m, tt.wantM) || msg["id"] != float64(9) {
				t.Fatalf("status %d, answer %v", status, msg)
			}
		})
	}

	t.Run("a state spelled with JSON escapes is still recognised as mcpgate's", func(t *testing.T) {
		body := `{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"balance","arguments":{},` +
			`"requestState":"\u006d` + strings.TrimPrefix(bobState, "m") + `","inputResponses":` + accept + `,` +
			`"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{"elicitation":{"url":{}}}}}}`
		c := &apptest.Client{T: t, URL: env.h.URL + "/tracker/mcp", Token: alice}
		resp, err := c.Do(http.MethodPost, body, map[string]string{"Mcp-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call", "Mcp-Name": "balance"})
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var msg map[string]any
		json.NewDecoder(resp.Body).Decode(&msg)
		if d, _ := msg["error"].(map[string]any)["data"].(map[string]any); d["reason"] != "request_state_other_user" {
			t.Fatalf("answer %v", msg)
		}
	})

	t.Run("bob still not connected: his retry waits, then is asked again, with a fresh state", func(t *testing.T) {
		_, msg := env.post2026(t, bob, 2, "balance", bobState, accept)
		if s := env.stateOf(t, msg); s == bobState {
			t.Fatal("the same state again")
		}
	})

	t.Run("bob connects: his retry with the state succeeds", func(t *testing.T) {
		env.link(t, bob)
		_, msg := env.post2026(t, bob, 3, "balance", bobState, accept)
		if text, isErr := apptest.ResultText(msg); isErr || !strings.Contains(text, "tracker-token-") {
			t.Fatalf("answer %v", msg)
		}
	})

	t.Run("a 2026-07-28 client without URL elicitation gets a tool error with the URL", func(t *testing.T) {
		env.unlink(t, bob)
		client := gosdk.NewClient(&gosdk.Implementation{Name: "plain", Version: "1"}, nil)
		tr := &gosdk.StreamableClientTransport{Endpoint: env.h.URL + "/tracker/mcp", HTTPClient: &http.Client{Transport: bearerTransport{token: bob}}, DisableStandaloneSSE: true}
		sess, err := client.Connect(t.Context(), tr, &gosdk.ClientSessionOptions{ProtocolVersion: "2026-07-28"})
		if err != nil {
			t.Fatal(err)
		}
		defer sess.Close()
		res, err := sess.CallTool(t.Context(), &gosdk.CallToolParams{Name: "balance"})
		if err != nil || !res.IsError || !strings.Contains(text(res), env.connectURL) {
			t.Fatalf("result %v, err %v", res, err)
		}
	})

	t.Run("the upstream never saw mcpgate's state nor an answer to mcpgate's request", func(t *testing.T) {
		up.mu.Lock()
		defer up.mu.Unlock()
		for _, s := range up.seen {
			if strings.HasPrefix(s.RequestState, "mcpgate.") || s.InputResponses[key] != nil {
				t.Errorf("the upstream got %+v", s)
			}
			if s.Method == "tools/call" && s.Authorization == "" {
				t.Errorf("a call reached the upstream without the user's credential: %+v", s)
			}
		}
	})
}
