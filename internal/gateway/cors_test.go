package gateway

import (
	"net/http"
	"strings"
	"testing"
)

func TestOriginAndCORS(t *testing.T) {
	up, _ := echoUpstream(t)
	_, base := newGateway(t, Options{Routes: []RouteOptions{
		{Name: "web", Path: "/web/mcp", Upstream: up.URL, Verifier: testVerifier(t), Scopes: []string{"mcp.tools"},
			CORS: &CORSOptions{AllowOrigins: []string{"https://app.example.com"}, AllowHeaders: []string{"X-Trace"}}, AllowedOrigins: []string{"https://tool.example.com"}},
	}})
	tok := mintToken(t, nil)
	tests := []struct {
		name, method, origin, reqMethod string
		auth                            bool
		status                          int
		acao                            string
		checkHdr                        map[string]string
	}{
		{name: "preflight from CORS origin needs no token", method: "OPTIONS", origin: "https://app.example.com", reqMethod: "POST", status: 204, acao: "https://app.example.com",
			checkHdr: map[string]string{"Access-Control-Allow-Headers": "Mcp-Session-Id", "Access-Control-Allow-Methods": "DELETE", "Access-Control-Max-Age": "600", "Access-Control-Expose-Headers": "WWW-Authenticate"}},
		{name: "preflight extra allowed header", method: "OPTIONS", origin: "https://app.example.com", reqMethod: "POST", status: 204, acao: "https://app.example.com",
			checkHdr: map[string]string{"Access-Control-Allow-Headers": "X-Trace"}},
		{name: "preflight from foreign origin", method: "OPTIONS", origin: "https://evil.example.com", reqMethod: "POST", status: 403},
		{name: "401 readable cross-origin", method: "POST", origin: "https://app.example.com", status: 401, acao: "https://app.example.com",
			checkHdr: map[string]string{"Access-Control-Expose-Headers": "Mcp-Session-Id"}},
		{name: "CORS origin with token", method: "POST", origin: "https://app.example.com", auth: true, status: 200, acao: "https://app.example.com"},
		{name: "allowed (non-CORS) origin", method: "POST", origin: "https://tool.example.com", auth: true, status: 200},
		{name: "own origin", method: "POST", origin: base, auth: true, status: 200},
		{name: "foreign origin refused even with a token", method: "POST", origin: "https://evil.example.com", auth: true, status: 403},
		{name: "null origin refused", method: "POST", origin: "null", auth: true, status: 403},
		{name: "no origin accepted", method: "POST", auth: true, status: 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var body *strings.Reader = strings.NewReader(initBody)
			req, _ := http.NewRequest(tc.method, base+"/web/mcp", body)
			if tc.origin != "" {
				req.Header.Set("Origin", tc.origin)
			}
			if tc.reqMethod != "" {
				req.Header.Set("Access-Control-Request-Method", tc.reqMethod)
				req.Header.Set("Access-Control-Request-Headers", "authorization, content-type, mcp-session-id")
			}
			if tc.auth {
				req.Header.Set("Authorization", "Bearer "+tok)
			}
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			if got := resp.Header.Get("Access-Control-Allow-Origin"); got != tc.acao {
				t.Errorf("ACAO %q, want %q", got, tc.acao)
			}
			for k, v := range tc.checkHdr {
				if !strings.Contains(resp.Header.Get(k), v) {
					t.Errorf("%s = %q, want it to contain %q", k, resp.Header.Get(k), v)
				}
			}
			if tc.status == 403 && !strings.Contains(resp.Header.Get("Content-Type"), "json") {
				t.Errorf("403 is not JSON")
			}
		})
	}
}

func TestHostValidation(t *testing.T) {
	up, _ := echoUpstream(t)
	_, base := newGateway(t, Options{PublicURL: "https://mcp.example.com", AllowedHosts: []string{"gw.internal"}, Routes: []RouteOptions{{Name: "r", Path: "/mcp", Upstream: up.URL, Mode: ModePermissive}}})
	port := base[strings.LastIndex(base, ":"):]
	tests := []struct {
		host   string
		status int
	}{
		{"evil.example.com", 403},
		{"evil.example.com" + port, 403},
		{"localhost" + port, 200},
		{"127.0.0.1" + port, 200},
		{"[::1]" + port, 200},
		{"mcp.example.com", 200},
		{"gw.internal:8080", 200},
	}
	for _, tc := range tests {
		t.Run(tc.host, func(t *testing.T) {
			resp, body := post(t, base+"/mcp", initBody, map[string]string{"Host": tc.host})
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d want %d: %s", resp.StatusCode, tc.status, body)
			}
		})
	}
}
