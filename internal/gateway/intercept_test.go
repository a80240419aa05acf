package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/internal/authn"
	"github.com/mcpgate/mcpgate/internal/mcp"
)

// Call.RemoteIP believes X-Forwarded-For only from trusted proxies, and then only up to
// the first address that is not a trusted proxy (counting from the right).
func TestCallRemoteIPAndTime(t *testing.T) {
	up, _ := echoUpstream(t)
	tests := []struct {
		name    string
		trusted []netip.Prefix
		xff     string
		want    string
	}{
		{"no trusted proxies: the peer", nil, "203.0.113.7", "127.0.0.1"},
		{"trusted peer: the forwarded client", []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, "203.0.113.7", "203.0.113.7"},
		{"right-most untrusted hop", []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, "198.51.100.1, 10.0.0.1", "10.0.0.1"},
		{"trusted hops are skipped", []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("10.0.0.0/8")}, "198.51.100.1, 10.0.0.1", "198.51.100.1"},
		{"malformed chain: the peer", []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, "not-an-ip", "127.0.0.1"},
		{"trusted peer without the header", []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, "", "127.0.0.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var (
				mu   sync.Mutex
				call *Call
				ev   *Event
			)
			ic := InterceptorFunc(func(_ context.Context, c *Call) Verdict { mu.Lock(); call = c; mu.Unlock(); return Verdict{} })
			evc := make(chan *Event, 1)
			ob := ObserverFunc(func(_ context.Context, e *Event) { evc <- e })
			_, base := newGateway(t, Options{TrustedProxies: tt.trusted, Routes: []RouteOptions{{Name: "r", Path: "/mcp", Upstream: up.URL, Mode: ModePermissive, Interceptor: ic, Observer: ob}}})
			start := time.Now()
			hdr := map[string]string{"User-Agent": "ua-test/2"}
			if tt.xff != "" {
				hdr["X-Forwarded-For"] = tt.xff
			}
			resp, _ := post(t, base+"/mcp", initBody, hdr)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			ev = waitEvent(t, evc) // the observer runs after the response was sent
			mu.Lock()
			defer mu.Unlock()
			if call.RemoteIP.String() != tt.want || ev.RemoteIP != call.RemoteIP {
				t.Fatalf("RemoteIP = %s (event %s), want %s", call.RemoteIP, ev.RemoteIP, tt.want)
			}
			if call.Time.Before(start.Add(-time.Second)) || call.Time.After(time.Now()) {
				t.Fatalf("Time = %v", call.Time)
			}
			if ev.UserAgent != "ua-test/2" || string(call.Messages[0].Raw) != initBody {
				t.Fatalf("UserAgent = %q, Raw = %s", ev.UserAgent, call.Messages[0].Raw)
			}
		})
	}
}

// bodyUpstream records the body and Content-Length it receives.
func bodyUpstream(t *testing.T) (*httptest.Server, func() (string, int64)) {
	var (
		mu   sync.Mutex
		body string
		cl   int64
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		body, cl = string(b), r.ContentLength
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"jsonrpc":"2.0","id":1,"result":{}}`)
	}))
	t.Cleanup(srv.Close)
	return srv, func() (string, int64) { mu.Lock(); defer mu.Unlock(); return body, cl }
}

func TestVerdictBodyRulesAndTool(t *testing.T) {
	up, got := bodyUpstream(t)
	replaced := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a_much_longer_upstream_name","arguments":{}}}`
	var (
		mu sync.Mutex
		ev *Event
	)
	ic := InterceptorFunc(func(_ context.Context, c *Call) Verdict {
		return Verdict{Body: []byte(replaced), Tool: "a_much_longer_upstream_name", Rules: []string{"r1"}, Reasons: []string{"allowed by rule r1"}}
	})
	evc := make(chan *Event, 1)
	ob := ObserverFunc(func(_ context.Context, e *Event) { evc <- e })
	_, base := newGateway(t, Options{Routes: []RouteOptions{{Name: "r", Path: "/mcp", Upstream: up.URL, Mode: ModePermissive, Interceptor: ic, Observer: ob}}})
	resp, _ := post(t, base+"/mcp", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"short","arguments":{}}}`, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	body, cl := got()
	if body != replaced || cl != int64(len(replaced)) {
		t.Fatalf("upstream got %d bytes (Content-Length %d): %s", len(body), cl, body)
	}
	ev = waitEvent(t, evc) // the observer runs after the response was sent
	mu.Lock()
	defer mu.Unlock()
	if ev.Tool != "a_much_longer_upstream_name" || len(ev.Rules) != 1 || ev.Rules[0] != "r1" || ev.Decision != "allow" {
		t.Fatalf("event = %+v", ev)
	}
}

func TestDenialForms(t *testing.T) {
	up, _ := echoUpstream(t)
	tests := []struct {
		name       string
		deny       Denial
		body       string
		wantStatus int
		wantHeader [2]string
		check      func(t *testing.T, b string)
	}{
		{"rate limit: 429 with Retry-After rounded up", Denial{RetryAfter: 1500 * time.Millisecond, Code: mcp.CodeServerError, Message: "slow down"},
			`{"jsonrpc":"2.0","id":3,"method":"ping"}`, 429, [2]string{"Retry-After", "2"}, func(t *testing.T, b string) {
				if !strings.Contains(b, `"id":3`) || !strings.Contains(b, "slow down") {
					t.Fatal(b)
				}
			}},
		{"batch refusal: one answer per message", Denial{Message: "no", Responses: []json.RawMessage{
			mcp.ErrorResponse(json.RawMessage("1"), -32001, "refused", nil), mcp.ErrorResponse(json.RawMessage(`"b"`), -32001, "not forwarded", nil)}},
			`[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","id":"b","method":"ping"}]`, 200, [2]string{}, func(t *testing.T, b string) {
				var arr []map[string]any
				if err := json.Unmarshal([]byte(b), &arr); err != nil || len(arr) != 2 || arr[1]["id"] != "b" {
					t.Fatal(b)
				}
			}},
		{"notification refused: 403", Denial{Message: "no"}, `{"jsonrpc":"2.0","method":"notifications/initialized"}`, 403, [2]string{}, func(t *testing.T, b string) {}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := tt.deny
			ic := InterceptorFunc(func(context.Context, *Call) Verdict { return Verdict{Deny: &d} })
			_, base := newGateway(t, Options{Routes: []RouteOptions{{Name: "r", Path: "/mcp", Upstream: up.URL, Mode: ModePermissive, Interceptor: ic}}})
			resp, b := post(t, base+"/mcp", tt.body, nil)
			if resp.StatusCode != tt.wantStatus || (tt.wantHeader[0] != "" && resp.Header.Get(tt.wantHeader[0]) != tt.wantHeader[1]) {
				t.Fatalf("%d %v %s", resp.StatusCode, resp.Header, b)
			}
			tt.check(t, b)
		})
	}
}

type renderedErr struct{ res Response }

func (e *renderedErr) Error() string                  { return "provider failed: secret-detail" }
func (e *renderedErr) GatewayResponse(*Call) Response { return e.res }

func TestCredentialErrorRendering(t *testing.T) {
	up, rec := echoUpstream(t)
	tests := []struct {
		name       string
		err        error
		proto      string
		wantStatus int
		want       []string
		header     string
	}{
		{"plain error: 502, details only in the log", errors.New("boom secret-detail"), "", 502, []string{`"reason":"upstream_credential"`}, ""},
		{"wrapped CredentialError with a result", fmt.Errorf("ctx: %w", &renderedErr{Response{Result: map[string]any{"isError": true}, Reason: "connection_missing"}}), "", 200,
			[]string{`"result":{"isError":true}`, `"id":5`}, ""},
		{"status and header", &renderedErr{Response{Status: 401, Header: http.Header{"Www-Authenticate": {`Bearer error="insufficient_claims"`}},
			Error: &mcp.ErrorObject{Code: -32001, Message: "sign in again"}, Reason: "interaction_required"}}, "", 401, []string{"sign in again"}, `Bearer error="insufficient_claims"`},
		{"the call carries the protocol version", &renderedErr{}, "2025-11-25", 200, []string{`"id":5`}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var seen *Call
			creds := UpstreamCredentialsFunc(func(context.Context, *authn.Principal, *http.Request) (http.Header, error) { return nil, tt.err })
			var re *renderedErr
			if errors.As(tt.err, &re) && tt.proto != "" {
				// check what the renderer is given
				creds = UpstreamCredentialsFunc(func(context.Context, *authn.Principal, *http.Request) (http.Header, error) {
					return nil, &callSpy{renderedErr: re, seen: &seen}
				})
			}
			_, base := newGateway(t, Options{Routes: []RouteOptions{{Name: "r", Path: "/mcp", Upstream: up.URL, Mode: ModePermissive, Credentials: creds}}})
			_, _, before := rec.last()
			hdr := map[string]string{}
			if tt.proto != "" {
				hdr["MCP-Protocol-Version"] = tt.proto
			}
			resp, b := post(t, base+"/mcp", `{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"x"}}`, hdr)
			if resp.StatusCode != tt.wantStatus || strings.Contains(b, "secret-detail") {
				t.Fatalf("%d %s", resp.StatusCode, b)
			}
			for _, w := range tt.want {
				if !strings.Contains(b, w) {
					t.Fatalf("body %s lacks %s", b, w)
				}
			}
			if tt.header != "" && resp.Header.Get("WWW-Authenticate") != tt.header {
				t.Fatalf("WWW-Authenticate = %q", resp.Header.Get("WWW-Authenticate"))
			}
			if _, _, n := rec.last(); n != before {
				t.Fatal("the upstream was called without a credential")
			}
			if tt.proto != "" && (seen == nil || seen.ProtocolVersion() != tt.proto || seen.Messages[0].Tool != "x") {
				t.Fatalf("the renderer saw %+v", seen)
			}
		})
	}
}

type callSpy struct {
	*renderedErr
	seen **Call
}

func (s *callSpy) GatewayResponse(c *Call) Response { *s.seen = c; return s.renderedErr.res }

// waitEvent returns the observer's event: the observer is told after the response has
// been sent, so a client may have its answer first.
func waitEvent(t *testing.T, c <-chan *Event) *Event {
	t.Helper()
	select {
	case e := <-c:
		return e
	case <-time.After(5 * time.Second):
		t.Fatal("the observer was not told about the request")
		return nil
	}
}
