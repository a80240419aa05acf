package gateway

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestBodyLimit(t *testing.T) {
	up, rec := echoUpstream(t)
	_, base := newGateway(t, Options{Routes: []RouteOptions{{Name: "small", Path: "/mcp", Upstream: up.URL, Mode: ModePermissive, MaxRequestBytes: 1024}}})
	big := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x","arguments":{"s":"` + strings.Repeat("a", 2000) + `"}}}`
	tests := []struct {
		name    string
		chunked bool
	}{{"content-length", false}, {"chunked", true}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, base+"/mcp", strings.NewReader(big))
			if tc.chunked {
				req.ContentLength = -1
				req.Body = io.NopCloser(struct{ io.Reader }{strings.NewReader(big)})
			}
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var b struct {
				Error struct {
					Code    int
					Message string
					Data    map[string]string
				}
			}
			_ = json.NewDecoder(resp.Body).Decode(&b)
			if resp.StatusCode != 413 || !strings.Contains(b.Error.Message, "1024 bytes") || b.Error.Data["route"] != "small" {
				t.Fatalf("status %d body %+v", resp.StatusCode, b)
			}
		})
	}
	if _, _, n := rec.last(); n != 0 {
		t.Fatalf("upstream reached %d times", n)
	}
	// Just under the limit passes.
	if resp, body := post(t, base+"/mcp", initBody, nil); resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
}

func TestUpstreamFailures(t *testing.T) {
	// A port with nothing listening.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	deadAddr := ln.Addr().String()
	ln.Close()
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body) // lets the server notice the gateway hanging up
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	defer slow.Close()
	tests := []struct {
		name, upstream string
		status         int
		msg, reason    string
	}{
		{"down", "http://" + deadAddr + "/mcp", 502, `route "weather": the upstream MCP server is unreachable`, "upstream_unreachable"},
		{"slow", slow.URL, 504, `route "weather": the upstream MCP server did not respond within 200ms`, "upstream_timeout"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, base := newGateway(t, Options{Routes: []RouteOptions{{Name: "weather", Path: "/mcp", Upstream: tc.upstream, Mode: ModePermissive, ResponseTimeout: 200 * time.Millisecond}}})
			start := time.Now()
			resp, body := post(t, base+"/mcp", `{"jsonrpc":"2.0","id":42,"method":"tools/list"}`, nil)
			if time.Since(start) > 3*time.Second {
				t.Errorf("took %v", time.Since(start))
			}
			var b struct {
				ID    int
				Error struct {
					Message string
					Data    map[string]string
				}
			}
			if err := json.Unmarshal([]byte(body), &b); err != nil {
				t.Fatalf("%v: %s", err, body)
			}
			if resp.StatusCode != tc.status || !strings.Contains(b.Error.Message, tc.msg) || b.ID != 42 || b.Error.Data["reason"] != tc.reason {
				t.Fatalf("status %d body %s", resp.StatusCode, body)
			}
			if strings.Contains(body, deadAddr) {
				t.Errorf("the upstream address leaks: %s", body)
			}
		})
	}
}

func TestHeadersToUpstream(t *testing.T) {
	up, rec := echoUpstream(t)
	ident := IdentityHeaders{Subject: "X-User-Sub", Email: "X-User-Email", Name: "X-User-Name", Groups: "X-User-Groups", ClientID: "X-Client-Id"}
	_, base := newGateway(t, Options{
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
		Routes: []RouteOptions{
			{Name: "strip", Path: "/strip/mcp", Upstream: up.URL, Verifier: testVerifier(t), Identity: ident},
			{Name: "pass", Path: "/pass/mcp", Upstream: up.URL, Verifier: testVerifier(t), Passthrough: true,
				// an interceptor sees no token, yet passthrough still forwards it
				Interceptor: InterceptorFunc(func(_ context.Context, c *Call) Verdict {
					if c.Header.Get("Authorization") != "" {
						t.Error("the interceptor saw the token")
					}
					return Verdict{}
				})},
			{Name: "anon", Path: "/anon/mcp", Upstream: up.URL, Mode: ModeOptional, Verifier: testVerifier(t), Identity: ident},
		}})
	tok := mintToken(t, nil)
	spoof := map[string]string{
		"X-User-Sub": "root", "X-User-Email": "root@evil", "X-User-Groups": "admins", "X-Client-Id": "evil",
		"Cookie": "session=secret", "Connection": "X-Hop", "X-Hop": "1",
		"MCP-Protocol-Version": "2025-06-18", "Last-Event-ID": "ev-9", "X-Forwarded-Host": "evil.example", "X-Forwarded-For": "6.6.6.6",
	}
	tests := []struct {
		name, path string
		auth       bool
		want       map[string]string // "" = must be absent
	}{
		{"token stripped, identity from the token", "/strip/mcp", true, map[string]string{
			"Authorization": "", "X-User-Sub": "alice", "X-User-Email": "alice@example.com", "X-User-Name": "Alice",
			"X-User-Groups": "eng,ops", "X-Client-Id": "vscode", "Cookie": "", "X-Hop": "",
			"Mcp-Protocol-Version": "2025-06-18", "Last-Event-Id": "ev-9",
			"X-Forwarded-For": "127.0.0.1", "X-Forwarded-Host": strings.TrimPrefix(base, "http://"), "X-Forwarded-Proto": "http"}},
		{"passthrough forwards the token", "/pass/mcp", true, map[string]string{"Authorization": "Bearer " + tok}},
		{"anonymous: spoofed identity removed", "/anon/mcp", false, map[string]string{"X-User-Sub": "", "X-User-Email": "", "X-User-Groups": "", "X-Client-Id": ""}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := map[string]string{}
			for k, v := range spoof {
				h[k] = v
			}
			if tc.auth {
				h["Authorization"] = "Bearer " + tok
			}
			resp, body := post(t, base+tc.path, initBody, h)
			if resp.StatusCode != 200 {
				t.Fatalf("%d %s", resp.StatusCode, body)
			}
			if !strings.HasPrefix(resp.Header.Get("Mcp-Session-Id"), "sess-") {
				t.Errorf("session header not returned")
			}
			got, upBody, _ := rec.last()
			if upBody != initBody {
				t.Errorf("body changed: %s", upBody)
			}
			for k, want := range tc.want {
				if g := got.Get(k); g != want {
					t.Errorf("upstream %s = %q, want %q", k, g, want)
				}
			}
		})
	}
}

func TestTrustedProxies(t *testing.T) {
	up, _ := echoUpstream(t)
	route := RouteOptions{Name: "r", Path: "/r/mcp", Upstream: up.URL, Verifier: testVerifier(t)}
	tests := []struct {
		name    string
		trusted string
		public  string
		want    string // resource
	}{
		{"untrusted peer: forwarded headers ignored", "10.0.0.0/8", "", "http://HOST/r/mcp"},
		{"trusted peer: forwarded headers honoured", "127.0.0.0/8", "", "https://mcp.example.com/r/mcp"},
		{"public URL wins", "127.0.0.0/8", "HTTPS://Gateway.Example.com:443/", "https://gateway.example.com/r/mcp"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, base := newGateway(t, Options{PublicURL: tc.public, TrustedProxies: []netip.Prefix{netip.MustParsePrefix(tc.trusted)}, Routes: []RouteOptions{route}})
			want := strings.ReplaceAll(tc.want, "HOST", strings.TrimPrefix(base, "http://"))
			req, _ := http.NewRequest(http.MethodGet, base+"/.well-known/oauth-protected-resource/r/mcp", nil)
			req.Header.Set("X-Forwarded-Proto", "https")
			req.Header.Set("X-Forwarded-Host", "MCP.example.com")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var md protectedResourceMetadata
			_ = json.NewDecoder(resp.Body).Decode(&md)
			resp.Body.Close()
			if md.Resource != want {
				t.Errorf("resource %q, want %q", md.Resource, want)
			}
			// The challenge names the same metadata URL.
			resp2, _ := post(t, base+"/r/mcp", initBody, map[string]string{"X-Forwarded-Proto": "https", "X-Forwarded-Host": "MCP.example.com"})
			wantMD := strings.Replace(want, "/r/mcp", "/.well-known/oauth-protected-resource/r/mcp", 1)
			if w := resp2.Header.Get("WWW-Authenticate"); !strings.Contains(w, `resource_metadata="`+wantMD+`"`) {
				t.Errorf("challenge %q, want metadata %q", w, wantMD)
			}
		})
	}
}

func TestMetadata(t *testing.T) {
	up, _ := echoUpstream(t)
	one := []RouteOptions{{Name: "weather", Path: "/weather/mcp", Upstream: up.URL, Verifier: testVerifier(t), Scopes: []string{"mcp.tools"},
		AuthorizationServers: []string{"https://as.example.com"}, ResourceName: "Weather"}}
	two := append(one, RouteOptions{Name: "files", Path: "/files/mcp", Upstream: up.URL, Verifier: testVerifier(t), ScopesSupported: []string{"files.read", "files.write"}})
	tests := []struct {
		name   string
		routes []RouteOptions
		path   string
		status int
		want   protectedResourceMetadata
	}{
		{"path form", one, "/.well-known/oauth-protected-resource/weather/mcp", 200, protectedResourceMetadata{Resource: "BASE/weather/mcp", AuthorizationServers: []string{"https://as.example.com"}, ScopesSupported: []string{"mcp.tools"}, BearerMethodsSupported: []string{"header"}, ResourceName: "Weather"}},
		{"root form with one route", one, "/.well-known/oauth-protected-resource", 200, protectedResourceMetadata{Resource: "BASE/weather/mcp", AuthorizationServers: []string{"https://as.example.com"}, ScopesSupported: []string{"mcp.tools"}, BearerMethodsSupported: []string{"header"}, ResourceName: "Weather"}},
		{"root form ambiguous with two", two, "/.well-known/oauth-protected-resource", 404, protectedResourceMetadata{}},
		{"second route", two, "/.well-known/oauth-protected-resource/files/mcp", 200, protectedResourceMetadata{Resource: "BASE/files/mcp", ScopesSupported: []string{"files.read", "files.write"}, BearerMethodsSupported: []string{"header"}, ResourceName: "files"}},
		{"unknown", one, "/.well-known/oauth-protected-resource/nope", 404, protectedResourceMetadata{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, base := newGateway(t, Options{Routes: tc.routes})
			resp, err := http.Get(base + tc.path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d", resp.StatusCode)
			}
			if tc.status != 200 {
				return
			}
			var got protectedResourceMetadata
			if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
				t.Fatal(err)
			}
			tc.want.Resource = strings.Replace(tc.want.Resource, "BASE", base, 1)
			g, _ := json.Marshal(got)
			w, _ := json.Marshal(tc.want)
			if string(g) != string(w) {
				t.Errorf("got %s\nwant %s", g, w)
			}
			if resp.Header.Get("Access-Control-Allow-Origin") != "*" {
				t.Error("metadata not readable cross-origin")
			}
		})
	}
}

func TestCanonicalURL(t *testing.T) {
	for in, want := range map[string]string{
		"HTTPS://Example.COM:443/":    "https://example.com",
		"http://h:80/a/b/":            "http://h/a/b",
		"http://127.0.0.1:8080/mcp#x": "http://127.0.0.1:8080/mcp",
		"https://h:8443/Path":         "https://h:8443/Path",
	} {
		if got, err := canonicalURL(in); err != nil || got != want {
			t.Errorf("canonicalURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := canonicalURL("ftp://x"); err == nil {
		t.Error("ftp accepted")
	}
}

// TestResponseSentBeforeFinish: the client has the whole response while the access log
// and the observer (finish) still run, so their time is not in the client's latency.
func TestResponseSentBeforeFinish(t *testing.T) {
	up, _ := echoUpstream(t)
	for _, tc := range []struct {
		name string
		ic   Interceptor
	}{
		{"plain copy", nil},
		{"rewritten JSON", InterceptorFunc(func(context.Context, *Call) Verdict {
			return Verdict{Rewrite: func(_ context.Context, b []byte) ([]byte, error) { return b, nil }}
		})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			release := make(chan struct{})
			observed := make(chan struct{}, 1)
			ob := ObserverFunc(func(context.Context, *Event) {
				observed <- struct{}{}
				<-release
			})
			_, base := newGateway(t, Options{Routes: []RouteOptions{{Name: "r", Path: "/mcp", Upstream: up.URL, Mode: ModePermissive, Interceptor: tc.ic, Observer: ob}}})
			t.Cleanup(func() { close(release) }) // runs before the gateway's cleanup, which waits for the handler
			done := make(chan string, 1)
			go func() {
				req, _ := http.NewRequest(http.MethodPost, base+"/mcp", strings.NewReader(`{"jsonrpc":"2.0","id":5,"method":"ping"}`))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Accept", "application/json, text/event-stream")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					done <- "error: " + err.Error()
					return
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				done <- string(b)
			}()
			select {
			case <-observed:
			case <-time.After(10 * time.Second):
				t.Fatal("the observer was never called")
			}
			select {
			case b := <-done:
				if !strings.Contains(b, `"id":5`) {
					t.Fatalf("response = %q", b)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("the client did not get the response while the observer was running")
			}
		})
	}
}

// TestForwardedChain: X-Forwarded-For is extended (every line of it, in order) only when
// the peer is a trusted proxy; from anyone else it is replaced. X-Forwarded-Proto is the
// gateway's public scheme, which a trusted proxy's X-Forwarded-Proto sets.
func TestForwardedChain(t *testing.T) {
	up, rec := echoUpstream(t)
	route := RouteOptions{Name: "r", Path: "/r/mcp", Upstream: up.URL, Verifier: testVerifier(t), Mode: ModePermissive}
	tests := []struct {
		name, trusted, want, proto string
	}{
		{"trusted peer: chain extended", "127.0.0.0/8", "6.6.6.6, 7.7.7.7, 127.0.0.1", "https"},
		{"untrusted peer: chain replaced", "10.0.0.0/8", "127.0.0.1", "http"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, base := newGateway(t, Options{TrustedProxies: []netip.Prefix{netip.MustParsePrefix(tc.trusted)}, Routes: []RouteOptions{route}})
			req, _ := http.NewRequest(http.MethodPost, base+"/r/mcp", strings.NewReader(initBody))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Add("X-Forwarded-For", "6.6.6.6")
			req.Header.Add("X-Forwarded-For", "7.7.7.7")
			req.Header.Set("X-Forwarded-Proto", "https")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			got, _, _ := rec.last()
			if xff := got.Values("X-Forwarded-For"); len(xff) != 1 || xff[0] != tc.want {
				t.Errorf("X-Forwarded-For = %q, want [%q]", xff, tc.want)
			}
			if p := got.Values("X-Forwarded-Proto"); len(p) != 1 || p[0] != tc.proto {
				t.Errorf("X-Forwarded-Proto = %q, want [%s]", p, tc.proto)
			}
		})
	}
}

func TestMediaType(t *testing.T) {
	for in, want := range map[string]string{
		"application/json":                  "application/json",
		"text/event-stream; charset=utf-8":  "text/event-stream",
		" Text/Event-Stream ;charset=UTF-8": "text/event-stream",
		"APPLICATION/JSON":                  "application/json",
		"":                                  "",
		";":                                 "",
	} {
		if got := mediaType(in); got != want {
			t.Errorf("mediaType(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestRequestBodyRead: a body of unknown length (chunked) under the limit reaches the
// upstream whole; one shorter than its Content-Length is refused (400 bad_body) and never
// forwarded.
func TestRequestBodyRead(t *testing.T) {
	up, rec := echoUpstream(t)
	_, base := newGateway(t, Options{Routes: []RouteOptions{{Name: "r", Path: "/mcp", Upstream: up.URL, Mode: ModePermissive, MaxRequestBytes: 1024}}})
	t.Run("chunked under the limit", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, base+"/mcp", nil)
		req.ContentLength = -1
		req.Body = io.NopCloser(struct{ io.Reader }{strings.NewReader(initBody)})
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if _, body, _ := rec.last(); resp.StatusCode != 200 || body != initBody {
			t.Fatalf("status %d, upstream got %q", resp.StatusCode, body)
		}
	})
	t.Run("shorter than its Content-Length", func(t *testing.T) {
		_, _, before := rec.last()
		c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_, _ = io.WriteString(c, "POST /mcp HTTP/1.1\r\nHost: "+strings.TrimPrefix(base, "http://")+"\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n"+initBody)
		_ = c.(*net.TCPConn).CloseWrite()
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 400 || !strings.Contains(string(b), "bad_body") {
			t.Fatalf("status %d: %s", resp.StatusCode, b)
		}
		if _, _, after := rec.last(); after != before {
			t.Fatal("the truncated request reached the upstream")
		}
	})
}
