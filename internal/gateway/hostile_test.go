package gateway

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/internal/httplimit"
	"github.com/mcpgate/mcpgate/internal/jsonlimit"
)

// The attacks of issue 25, each against a real gateway on loopback.

// vmRSS is this process's resident set, in bytes (Linux), or -1.
func vmRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for l := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return -1
}

func TestDeepJSONRefused(t *testing.T) {
	up, seen := echoUpstream(t)
	obs := newAllObserved()
	_, base := newGateway(t, Options{Routes: []RouteOptions{
		{Name: "open", Path: "/mcp", Upstream: up.URL, Mode: ModePermissive, Observer: obs},
		{Name: "tight", Path: "/tight/mcp", Upstream: up.URL, Mode: ModePermissive, JSONLimits: limitsOf(8, 50), Observer: obs},
	}})
	head := `{"jsonrpc":"2.0","id":1,"method":"ping","params":`
	nest := func(open, close string, n int) string {
		return head + strings.Repeat(open, n) + "0" + strings.Repeat(close, n) + "}"
	}
	tests := []struct {
		name, path, body string
		status           int
		limit            string
	}{
		// The body of the report: ~4 MB, under the 4 MiB limit, 2,000,000 levels.
		{"two million arrays", "/mcp", head + strings.Repeat("[", 2_000_000) + strings.Repeat("]", 2_000_000) + "}", 400, "deeper than 64"},
		{"objects over the limit", "/mcp", nest(`{"a":`, "}", 64), 400, "deeper than 64"},
		{"mixed over the limit", "/mcp", nest(`[{"a":`, "}]", 32), 400, "deeper than 64"},
		{"arrays just under the limit", "/mcp", nest("[", "]", 63), 200, ""},
		{"objects just under the limit", "/mcp", nest(`{"a":`, "}", 63), 200, ""},
		{"a batch nested too deep", "/mcp", "[" + nest("[", "]", 70) + "]", 400, "deeper than 64"},
		{"a route's own depth", "/tight/mcp", nest("[", "]", 8), 400, "deeper than 8"},
		{"a route's own value count", "/tight/mcp", head + "[" + strings.Repeat("0,", 60) + "0]}", 400, "more than 50 values"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, before := seen.last()
			rss := vmRSS()
			resp, body := post(t, base+tc.path, tc.body, nil)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %.300s", resp.StatusCode, tc.status, body)
			}
			if grown := vmRSS() - rss; rss > 0 && grown > 100<<20 {
				t.Errorf("RSS grew by %d MB for a %d-byte body", grown>>20, len(tc.body))
			}
			_, _, after := seen.last()
			if tc.status != 400 {
				return
			}
			if after != before {
				t.Error("the refused body reached the upstream")
			}
			if !strings.Contains(body, `"code":-32700`) || !strings.Contains(body, tc.limit) || !strings.Contains(body, "limits.maxJSON") {
				t.Errorf("the refusal does not name the limit: %.300s", body)
			}
		})
	}
	// The process still serves.
	if resp, body := post(t, base+"/mcp", initBody, nil); resp.StatusCode != 200 {
		t.Fatalf("after the attacks: %d %s", resp.StatusCode, body)
	}
	for range len(tests) {
		if e := obs.next(t); e.Status == 400 && !strings.Contains(strings.Join(e.Reasons, ","), "json_limit") {
			t.Errorf("audit event of a refused body lacks json_limit: %+v", e.Reasons)
		}
	}
}

// Another principal's session id is refused on POST, GET and DELETE, as if it did not
// exist; the owner's session survives.
func TestSessionsBoundToPrincipal(t *testing.T) {
	up, seen := echoUpstream(t)
	obs := newAllObserved()
	_, base := newGateway(t, Options{Routes: []RouteOptions{{Name: "r", Path: "/mcp", Upstream: up.URL, Verifier: testVerifier(t), Observer: obs}}})
	alice := mintToken(t, nil)
	bob := mintToken(t, map[string]any{"sub": "bob"})
	aliceOtherClient := mintToken(t, map[string]any{"client_id": "cursor"})

	resp, body := post(t, base+"/mcp", initBody, map[string]string{"Authorization": "Bearer " + alice})
	sid := resp.Header.Get("Mcp-Session-Id")
	if resp.StatusCode != 200 || sid == "" {
		t.Fatalf("initialize: %d %q %s", resp.StatusCode, sid, body)
	}
	obs.next(t)
	call := `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"x","arguments":{}}}`
	do := func(method, tok, sid string) (int, string) {
		req, _ := http.NewRequest(method, base+"/mcp", nil)
		if method == http.MethodPost {
			req.Body = io.NopCloser(strings.NewReader(call))
			req.ContentLength = int64(len(call))
			req.Header.Set("Content-Type", "application/json")
		}
		req.Header.Set("Accept", "application/json, text/event-stream")
		req.Header.Set("Authorization", "Bearer "+tok)
		if sid != "" {
			req.Header.Set("Mcp-Session-Id", sid)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, tc := range []struct{ who, tok, sid, reason string }{
		{"bob", bob, sid, "session_not_owned"},
		{"alice from another client", aliceOtherClient, sid, "session_not_owned"},
		{"alice with an id never handed out", alice, "sess-forged", "session_unknown"},
	} {
		for _, m := range []string{http.MethodPost, http.MethodGet, http.MethodDelete} {
			_, _, before := seen.last()
			status, body := do(m, tc.tok, tc.sid)
			if status != 404 || !strings.Contains(body, "session not found") {
				t.Errorf("%s %s with alice's session: %d %s", tc.who, m, status, body)
			}
			if _, _, after := seen.last(); after != before {
				t.Errorf("%s %s reached the upstream", tc.who, m)
			}
			if e := obs.next(t); !strings.Contains(strings.Join(e.Reasons, ","), tc.reason) {
				t.Errorf("%s %s: audit reasons %v, want %s", tc.who, m, e.Reasons, tc.reason)
			}
		}
	}
	if status, body := do(http.MethodPost, alice, sid); status != 200 {
		t.Fatalf("alice's own session after bob's DELETE: %d %s", status, body)
	}
	if status, _ := do(http.MethodDelete, alice, sid); status != 200 {
		t.Fatalf("alice's DELETE: %d", status)
	}
	if status, _ := do(http.MethodPost, alice, sid); status != 404 {
		t.Fatalf("a deleted session still answers: %d", status)
	}
}

func TestSessionAndStreamCaps(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	var n atomic.Int64
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet:
			w.Header().Set("Content-Type", "text/event-stream")
			w.WriteHeader(200)
			w.(http.Flusher).Flush()
			select {
			case <-release:
			case <-r.Context().Done():
			}
		case http.MethodPost:
			w.Header().Set("Mcp-Session-Id", fmt.Sprint("s", n.Add(1)))
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"jsonrpc":"2.0","id":1,"result":{}}`)
		}
	}))
	t.Cleanup(up.Close)
	_, base := newGateway(t, Options{Routes: []RouteOptions{{Name: "r", Path: "/mcp", Upstream: up.URL, Verifier: testVerifier(t),
		MaxSessionsPerUser: 2, MaxStreamsPerUser: 2, MaxStreams: 3}}})
	alice := map[string]string{"Authorization": "Bearer " + mintToken(t, nil)}
	var sids []string
	for i := range 3 {
		resp, body := post(t, base+"/mcp", initBody, alice)
		if i < 2 {
			if resp.StatusCode != 200 {
				t.Fatalf("initialize %d: %d %s", i, resp.StatusCode, body)
			}
			sids = append(sids, resp.Header.Get("Mcp-Session-Id"))
			continue
		}
		if resp.StatusCode != 429 || !strings.Contains(body, "limits.maxSessionsPerUser") {
			t.Fatalf("third session: %d %s", resp.StatusCode, body)
		}
	}
	// Another user is not limited by alice's sessions.
	bob := map[string]string{"Authorization": "Bearer " + mintToken(t, map[string]any{"sub": "bob"})}
	if resp, body := post(t, base+"/mcp", initBody, bob); resp.StatusCode != 200 {
		t.Fatalf("bob's session: %d %s", resp.StatusCode, body)
	}

	open := func(hdr map[string]string, sid string) (*http.Response, context.CancelFunc) {
		ctx, cancel := context.WithCancel(context.Background())
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/mcp", nil)
		req.Header.Set("Accept", "text/event-stream")
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		if sid != "" {
			req.Header.Set("Mcp-Session-Id", sid)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		return resp, cancel
	}
	r1, c1 := open(alice, sids[0])
	defer c1()
	r2, c2 := open(alice, sids[1])
	r3, c3 := open(alice, sids[0])
	defer c3()
	if r1.StatusCode != 200 || r2.StatusCode != 200 {
		t.Fatalf("streams: %d %d", r1.StatusCode, r2.StatusCode)
	}
	b3, _ := io.ReadAll(r3.Body)
	if r3.StatusCode != 429 || r3.Header.Get("Retry-After") == "" || !strings.Contains(string(b3), "limits.maxStreamsPerUser") {
		t.Fatalf("third stream of alice: %d %s", r3.StatusCode, b3)
	}
	rb, cb := open(bob, "")
	defer cb()
	if rb.StatusCode != 200 {
		t.Fatalf("bob's stream: %d", rb.StatusCode)
	}
	rb2, cb2 := open(bob, "")
	defer cb2()
	b, _ := io.ReadAll(rb2.Body)
	if rb2.StatusCode != 429 || !strings.Contains(string(b), "limits.maxStreams)") {
		t.Fatalf("fourth stream on the route: %d %s", rb2.StatusCode, b)
	}
	// Closing a stream frees its slot.
	c2()
	r2.Body.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		r, c := open(alice, sids[1])
		if r.StatusCode == 200 {
			c()
			break
		}
		r.Body.Close()
		c()
		if time.Now().After(deadline) {
			t.Fatalf("the closed stream's slot was not given back: %d", r.StatusCode)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestLookAlikeIdentityHeadersDropped(t *testing.T) {
	up, seen := echoUpstream(t)
	ident := IdentityHeaders{Subject: "X-User-Sub", Groups: "X-User-Groups"}
	_, base := newGateway(t, Options{TrustedProxies: nil, Routes: []RouteOptions{{Name: "r", Path: "/mcp", Upstream: up.URL, Verifier: testVerifier(t), Identity: ident}}})
	req, _ := http.NewRequest(http.MethodPost, base+"/mcp", strings.NewReader(initBody))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Authorization", "Bearer "+mintToken(t, nil))
	spoofed := []string{"X_User_Sub", "X-User_groups", "X.user.sub", "x_user-SUB", "X_Forwarded_For", "X_Forwarded.Host", "X_Real_IP", "Authori_zation"}
	for _, k := range spoofed {
		req.Header[k] = []string{"root"} // not canonicalized: sent as written
	}
	req.Header["X_Custom_Thing"] = []string{"kept"}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	got, _, _ := seen.last()
	for k, vs := range got {
		for _, v := range vs {
			if v == "root" {
				t.Errorf("look-alike header %s reached the upstream", k)
			}
		}
	}
	if got.Get("X-User-Sub") != "alice" {
		t.Errorf("the real identity header: %q", got.Get("X-User-Sub"))
	}
	if !slices.ContainsFunc(slices.Collect(maps.Keys(got)), func(k string) bool { return strings.EqualFold(k, "X_Custom_Thing") }) {
		t.Errorf("an unrelated header with underscores was dropped: %v", got)
	}
}

// An upstream's cookies, internal redirects and challenges, on the proxy path and the
// SSE relay.
func TestUpstreamResponseHeadersFiltered(t *testing.T) {
	var upURL string
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Add("Set-Cookie", "__Host-mcpgate_session=evil; Path=/; Secure")
		h.Add("Set-Cookie", "mcpgate_csrf=evil; Path=/")
		h.Add("Set-Cookie", "app=1; Path=/; Domain=127.0.0.1")
		switch r.URL.Query().Get("case") {
		case "redirect":
			h.Set("Location", upURL+"/mcp/next?x=1")
			w.WriteHeader(http.StatusFound)
		case "redirect-other":
			h.Set("Location", "http://10.1.2.3:8080/admin")
			w.WriteHeader(http.StatusTemporaryRedirect)
		case "redirect-relative":
			h.Set("Location", "/weather/mcp/next")
			w.WriteHeader(http.StatusSeeOther)
		case "401":
			h.Set("WWW-Authenticate", `Bearer resource_metadata="http://evil.example/.well-known/oauth-protected-resource"`)
			w.WriteHeader(http.StatusUnauthorized)
		default:
			if r.Method == http.MethodGet {
				h.Set("Content-Type", "text/event-stream")
				w.WriteHeader(200)
				io.WriteString(w, ": hi\n\n")
				return
			}
			h.Set("Content-Type", "application/json")
			io.WriteString(w, `{"jsonrpc":"2.0","id":1,"result":{}}`)
		}
	}))
	t.Cleanup(up.Close)
	upURL = up.URL
	gw, base := newGateway(t, Options{Routes: []RouteOptions{
		{Name: "r", Path: "/weather/mcp", Upstream: up.URL + "/mcp", Mode: ModePermissive},
		{Name: "cookies", Path: "/app/mcp", Upstream: up.URL + "/mcp", Mode: ModePermissive, PassCookies: true},
	}})
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(path, method string) *http.Response {
		var body io.Reader
		if method == http.MethodPost {
			body = strings.NewReader(initBody)
		}
		req, _ := http.NewRequest(method, base+path, body)
		req.Header.Set("Accept", "application/json, text/event-stream")
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		io.ReadAll(resp.Body)
		return resp
	}
	for _, relay := range []bool{true, false} {
		gw.relays.off = !relay
		for _, m := range []string{http.MethodPost, http.MethodGet} {
			resp := get("/weather/mcp", m)
			if c := resp.Header.Values("Set-Cookie"); len(c) != 0 {
				t.Errorf("%s (relay %v): upstream cookies reached the client: %q", m, relay, c)
			}
			resp = get("/app/mcp", m)
			c := resp.Header.Values("Set-Cookie")
			if len(c) != 1 || !strings.HasPrefix(c[0], "app=1") || !strings.Contains(c[0], "Path=/app/mcp") || strings.Contains(c[0], "Domain") {
				t.Errorf("%s (relay %v): passed cookies %q, want only app=1 scoped to /app/mcp", m, relay, c)
			}
		}
	}
	if loc := get("/weather/mcp?case=redirect", http.MethodPost).Header.Get("Location"); loc != base+"/weather/mcp/next?x=1" {
		t.Errorf("redirect under the upstream: Location %q, want it under the route", loc)
	}
	if resp := get("/weather/mcp?case=redirect-other", http.MethodPost); resp.Header.Get("Location") != "" {
		t.Errorf("redirect to an internal address passed: %q", resp.Header.Get("Location"))
	}
	if loc := get("/weather/mcp?case=redirect-relative", http.MethodPost).Header.Get("Location"); loc != "/weather/mcp/next" {
		t.Errorf("relative redirect: %q", loc)
	}
	resp := get("/weather/mcp?case=401", http.MethodPost)
	www := resp.Header.Get("WWW-Authenticate")
	if resp.StatusCode != 401 || strings.Contains(www, "evil") || !strings.Contains(www, base+"/.well-known/oauth-protected-resource/weather/mcp") {
		t.Errorf("upstream 401: %d %q, want the gateway's own challenge", resp.StatusCode, www)
	}
}

// A body trickled in is cut at its deadline on every path the listener serves; a body at
// a decent rate, and a long response stream after a body, are not.
func TestSlowBodyCut(t *testing.T) {
	up, _ := echoUpstream(t)
	fallbackErr := make(chan error, 1)
	gw, err := New(Options{
		Body:   httplimit.BodyOptions{Timeout: 500 * time.Millisecond, MinRate: 2000},
		Routes: []RouteOptions{{Name: "r", Path: "/mcp", Upstream: up.URL, Mode: ModePermissive}},
		Fallback: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { // e.g. /register
			_, err := io.ReadAll(r.Body)
			fallbackErr <- err
		}),
	})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- gw.Serve(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-done })
	addr := ln.Addr().String()

	trickle := func(path string, every time.Duration, n int) (string, time.Duration) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		start := time.Now()
		fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: 100000\r\n\r\n", path)
		go func() {
			for range n {
				if _, err := c.Write([]byte(" ")); err != nil {
					return
				}
				time.Sleep(every)
			}
		}()
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return "read: " + err.Error(), time.Since(start)
		}
		b, _ := io.ReadAll(resp.Body)
		return strconv.Itoa(resp.StatusCode) + " " + string(b), time.Since(start)
	}
	got, took := trickle("/mcp", 200*time.Millisecond, 100)
	if !strings.HasPrefix(got, "408 ") || !strings.Contains(got, "too slowly") || took > 3*time.Second {
		t.Errorf("slow body on a route: %q after %v", got, took)
	}
	trickle("/register", 200*time.Millisecond, 100)
	select {
	case err := <-fallbackErr:
		if err == nil || !strings.Contains(err.Error(), "too slowly") {
			t.Errorf("slow body on the fallback: read error %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Error("the fallback's slow body was never cut")
	}

	// 40 KB at about 20 KB/s: 2 s in all, well over the grace period, above the rate.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	body := `{"jsonrpc":"2.0","id":1,"method":"ping","params":{"pad":"` + strings.Repeat("x", 40_000) + `"}}`
	fmt.Fprintf(c, "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: %d\r\n\r\n", len(body))
	for i := 0; i < len(body); i += 2000 {
		c.Write([]byte(body[i:min(i+2000, len(body))]))
		time.Sleep(100 * time.Millisecond)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("a body at a decent rate: %v %v", resp, err)
	}
}

func limitsOf(depth, values int) (l jsonlimit.Limits) {
	l.MaxDepth, l.MaxValues = depth, values
	return l
}

// allObserved hands over every observer event (observed keeps only streams).
type allObserved struct{ observed }

func newAllObserved() *allObserved { return &allObserved{observed{ch: make(chan *Event, 64)}} }

func (o *allObserved) Observe(_ context.Context, e *Event) { o.ch <- e }
