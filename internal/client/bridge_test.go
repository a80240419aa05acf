package client

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// recordingTransport records the requests a Bridge makes.
type recordingTransport struct {
	mu   sync.Mutex
	reqs []*http.Request
}

func (r *recordingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	r.reqs = append(r.reqs, req.Clone(context.Background()))
	r.mu.Unlock()
	return http.DefaultTransport.RoundTrip(req)
}

// bridgeSession runs a Bridge over pipes and returns a send function and the output lines.
func bridgeSession(t *testing.T, url string, rt http.RoundTripper) (send func(string), lines <-chan map[string]any, stop func()) {
	t.Helper()
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	b := &Bridge{URL: url, HTTP: &http.Client{Transport: rt}, In: inR, Out: outW, RetryDelay: 20 * time.Millisecond}
	done := make(chan error, 1)
	go func() { done <- b.Run(context.Background()); outW.Close() }()
	ch := make(chan map[string]any, 100)
	go func() {
		sc := bufio.NewScanner(outR)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var m map[string]any
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				t.Errorf("bridge wrote a non-JSON line: %q", sc.Text())
				continue
			}
			ch <- m
		}
		close(ch)
	}()
	send = func(s string) { io.WriteString(inW, s+"\n") }
	stop = func() {
		inW.Close()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("bridge: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("bridge did not stop after stdin closed")
		}
	}
	return send, ch, stop
}

func waitFor(t *testing.T, lines <-chan map[string]any, pred func(map[string]any) bool) map[string]any {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case m, ok := <-lines:
			if !ok {
				t.Fatal("bridge output ended")
			}
			if pred(m) {
				return m
			}
		case <-timeout:
			t.Fatal("timed out waiting for a message from the bridge")
		}
	}
}

func hasID(id float64) func(map[string]any) bool {
	return func(m map[string]any) bool { v, ok := m["id"].(float64); return ok && v == id && m["method"] == nil }
}

// The bridge resumes a POST's SSE stream that the server closes early (SEP-1699) with a GET
// carrying Last-Event-ID, relays server notifications, and keeps the session headers.
func TestBridgeResumesStreams(t *testing.T) {
	s := mcp.NewServer(&mcp.Implementation{Name: "resume", Version: "1"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "slow"}, func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, struct{}, error) {
		//lint:ignore SA1019 a server notification the bridge must relay; logging is still served
		req.Session.Log(ctx, &mcp.LoggingMessageParams{Level: "info", Data: "before close"})
		req.Extra.CloseSSEStream(mcp.CloseSSEStreamArgs{RetryAfter: 20 * time.Millisecond})
		time.Sleep(100 * time.Millisecond)
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "done after resume"}}}, struct{}{}, nil
	})
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, &mcp.StreamableHTTPOptions{EventStore: mcp.NewMemoryEventStore(nil)})
	srv := httptest.NewServer(h)
	defer srv.Close()

	rec := &recordingTransport{}
	send, lines, stop := bridgeSession(t, srv.URL, rec)
	send(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`)
	init := waitFor(t, lines, hasID(1))
	if pv := init["result"].(map[string]any)["protocolVersion"]; pv != "2025-11-25" {
		t.Fatalf("initialize result = %v", init)
	}
	send(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	send(`{"jsonrpc":"2.0","id":2,"method":"logging/setLevel","params":{"level":"debug"}}`)
	waitFor(t, lines, hasID(2))
	send(`{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"slow","arguments":{}}}`)
	waitFor(t, lines, func(m map[string]any) bool { return m["method"] == "notifications/message" })
	res := waitFor(t, lines, hasID(3))
	b, _ := json.Marshal(res)
	if !strings.Contains(string(b), "done after resume") {
		t.Fatalf("tools/call result = %s", b)
	}
	stop()

	rec.mu.Lock()
	defer rec.mu.Unlock()
	var resumed, deleted bool
	for i, r := range rec.reqs {
		if i > 0 && r.Header.Get("Mcp-Session-Id") == "" {
			t.Errorf("request %d (%s) lacks Mcp-Session-Id", i, r.Method)
		}
		if i > 0 && r.Method != http.MethodDelete && r.Header.Get("MCP-Protocol-Version") != "2025-11-25" {
			t.Errorf("request %d (%s) lacks MCP-Protocol-Version", i, r.Method)
		}
		if r.Method == http.MethodGet && r.Header.Get("Last-Event-ID") != "" {
			resumed = true
		}
		if r.Method == http.MethodDelete {
			deleted = true
		}
	}
	if !resumed {
		t.Error("no GET with Last-Event-ID: the stream was not resumed")
	}
	if !deleted {
		t.Error("the session was not ended with DELETE when stdin closed")
	}
}

// HTTP errors become JSON-RPC errors for requests so the stdio client is never left waiting;
// notifications get nothing back.
func TestBridgeErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token", error_description="token expired"`)
		w.WriteHeader(http.StatusUnauthorized)
	}))
	defer srv.Close()
	send, lines, stop := bridgeSession(t, srv.URL, http.DefaultTransport)
	send(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	send(`not json`)
	waitFor(t, lines, func(m map[string]any) bool {
		e, _ := m["error"].(map[string]any)
		return e != nil && e["code"] == float64(-32700)
	})
	send(`{"jsonrpc":"2.0","id":"a","method":"tools/list"}`)
	m := waitFor(t, lines, func(m map[string]any) bool { return m["id"] == "a" })
	e, _ := m["error"].(map[string]any)
	if e == nil || !strings.Contains(e["message"].(string), "HTTP 401") || !strings.Contains(e["message"].(string), "token expired") {
		t.Fatalf("error = %v", m)
	}
	stop()
}
