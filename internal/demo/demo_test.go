package demo

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// headerTransport adds fixed headers, as the gateway would when forwarding.
type headerTransport struct{ h http.Header }

func (t headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	for k, v := range t.h {
		r.Header[k] = v
	}
	return http.DefaultTransport.RoundTrip(r)
}

func connect(t *testing.T, h http.Handler, hdr http.Header) *mcp.ClientSession {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	c := mcp.NewClient(&mcp.Implementation{Name: "demo-test", Version: "1"}, nil)
	s, err := c.Connect(t.Context(), &mcp.StreamableClientTransport{
		Endpoint: srv.URL, HTTPClient: &http.Client{Transport: headerTransport{hdr}}, DisableStandaloneSSE: true,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func call(t *testing.T, s *mcp.ClientSession, tool string, args map[string]any) *mcp.CallToolResult {
	t.Helper()
	res, err := s.CallTool(context.Background(), &mcp.CallToolParams{Name: tool, Arguments: args})
	if err != nil {
		t.Fatalf("%s: %v", tool, err)
	}
	return res
}

func text(res *mcp.CallToolResult) string {
	var b strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String()
}

func decode[T any](t *testing.T, res *mcp.CallToolResult) T {
	t.Helper()
	var v T
	b, _ := json.Marshal(res.StructuredContent)
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("structured content %s: %v", b, err)
	}
	return v
}

func TestWeather(t *testing.T) {
	s := connect(t, Weather(nil), nil)
	tools, err := s.ListTools(t.Context(), nil)
	if err != nil || len(tools.Tools) != 1 || tools.Tools[0].Name != "get_forecast" {
		t.Fatalf("tools = %+v, %v", tools, err)
	}
	tests := []struct {
		name    string
		args    map[string]any
		days    int
		wantErr string
	}{
		{"default days", map[string]any{"city": "Paris"}, 3, ""},
		{"two days", map[string]any{"city": "Oslo", "days": 2}, 2, ""},
		{"too many days", map[string]any{"city": "Oslo", "days": 9}, 0, "between 1 and 7"},
		{"no city", map[string]any{"city": " "}, 0, "city is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := call(t, s, "get_forecast", tt.args)
			if tt.wantErr != "" {
				if !res.IsError || !strings.Contains(text(res), tt.wantErr) {
					t.Fatalf("want tool error %q, got %v %q", tt.wantErr, res.IsError, text(res))
				}
				return
			}
			f := decode[Forecast](t, res)
			if res.IsError || len(f.Days) != tt.days || f.City != tt.args["city"] {
				t.Fatalf("forecast = %+v (%q)", f, text(res))
			}
			for _, d := range f.Days {
				if d.LowC >= d.HighC {
					t.Errorf("low %d >= high %d", d.LowC, d.HighC)
				}
			}
			again := decode[Forecast](t, call(t, s, "get_forecast", tt.args))
			if again.Days[0] != f.Days[0] {
				t.Errorf("forecast not deterministic: %+v vs %+v", again.Days[0], f.Days[0])
			}
		})
	}
}

func TestStocks(t *testing.T) {
	s := connect(t, Stocks(nil), nil)
	tests := []struct {
		symbol, want string
		wantErr      bool
	}{
		{"ACME", "ACME", false},
		{"msft", "MSFT", false},
		{"not a symbol", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.symbol, func(t *testing.T) {
			res := call(t, s, "get_quote", map[string]any{"symbol": tt.symbol})
			if res.IsError != tt.wantErr {
				t.Fatalf("IsError = %v: %q", res.IsError, text(res))
			}
			if tt.wantErr {
				return
			}
			q := decode[Quote](t, res)
			if q.Symbol != tt.want || q.Price <= 0 || !strings.HasPrefix(text(res), tt.want+":") {
				t.Fatalf("quote = %+v %q", q, text(res))
			}
		})
	}
}

func jwtWith(claims map[string]any) string {
	b, _ := json.Marshal(claims)
	enc := base64.RawURLEncoding
	return enc.EncodeToString([]byte(`{"alg":"RS256"}`)) + "." + enc.EncodeToString(b) + ".c2ln"
}

func TestWhoami(t *testing.T) {
	tests := []struct {
		name   string
		header http.Header
		want   Identity
	}{
		{"no token", nil, Identity{}},
		{"opaque token", http.Header{"Authorization": {"Bearer abc"}}, Identity{Authenticated: true, TokenType: "opaque"}},
		{
			"jwt and identity headers",
			http.Header{
				"Authorization":      {"Bearer " + jwtWith(map[string]any{"sub": "alice", "email": "alice@example.com", "iss": "https://as.example", "aud": "http://127.0.0.1:9/whoami", "groups": []string{"engineering"}})},
				"X-Mcp-User-Email":   {"alice@example.com"},
				"X-Mcp-User-Subject": {"alice"},
			},
			Identity{
				Authenticated: true, TokenType: "jwt", Subject: "alice", Email: "alice@example.com", Issuer: "https://as.example",
				Audience: []string{"http://127.0.0.1:9/whoami"}, Groups: []string{"engineering"},
				Headers: map[string]string{"X-Mcp-User-Email": "alice@example.com", "X-Mcp-User-Subject": "alice"},
			},
		},
		{
			"aud list and scp",
			http.Header{"Authorization": {"Bearer " + jwtWith(map[string]any{"sub": "bob", "aud": []string{"a", "b"}, "scp": "mcp.tools"})}},
			Identity{Authenticated: true, TokenType: "jwt", Subject: "bob", Audience: []string{"a", "b"}, Scope: "mcp.tools"},
		},
		{
			"entra v1 claims",
			http.Header{"Authorization": {"Bearer " + jwtWith(map[string]any{"sub": "p1", "aud": "api://tasks", "oid": "o-1", "tid": "t-1", "upn": "alice@contoso.onmicrosoft.com"})}},
			Identity{Authenticated: true, TokenType: "jwt", Subject: "p1", Audience: []string{"api://tasks"}, ObjectID: "o-1", TenantID: "t-1", UPN: "alice@contoso.onmicrosoft.com"},
		},
		{
			"entra v2 claims",
			http.Header{"Authorization": {"Bearer " + jwtWith(map[string]any{"sub": "p2", "aud": "f11e", "oid": "o-2", "tid": "t-1", "preferred_username": "bob@contoso.onmicrosoft.com"})}},
			Identity{Authenticated: true, TokenType: "jwt", Subject: "p2", Audience: []string{"f11e"}, ObjectID: "o-2", TenantID: "t-1", PreferredUsername: "bob@contoso.onmicrosoft.com"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := connect(t, Whoami(nil), tt.header)
			res := call(t, s, "whoami", map[string]any{})
			got := decode[Identity](t, res)
			gb, _ := json.Marshal(got)
			wb, _ := json.Marshal(tt.want)
			if string(gb) != string(wb) {
				t.Fatalf("identity = %s, want %s", gb, wb)
			}
			if tt.want.Subject != "" && !strings.Contains(text(res), tt.want.Subject) {
				t.Errorf("text %q lacks the subject", text(res))
			}
		})
	}
}

// TestToolAnnotations: every demo tool says it only reads (so clients do not label it
// destructive or open-world) and its output schema uses one type per value (MCP
// Inspector 2.x warns about type lists such as ["null","array"]).
func TestToolAnnotations(t *testing.T) {
	for name, h := range Handlers(nil) {
		t.Run(name, func(t *testing.T) {
			tools, err := connect(t, h, nil).ListTools(t.Context(), nil)
			if err != nil || len(tools.Tools) == 0 {
				t.Fatalf("tools = %+v, %v", tools, err)
			}
			for _, tool := range tools.Tools {
				a := tool.Annotations
				if a == nil || !a.ReadOnlyHint || !a.IdempotentHint || a.DestructiveHint == nil || *a.DestructiveHint ||
					a.OpenWorldHint == nil || *a.OpenWorldHint || a.Title == "" {
					t.Errorf("%s: annotations = %+v, want read-only, idempotent, not destructive, closed world, titled", tool.Name, a)
				}
				b, _ := json.Marshal(tool.OutputSchema)
				if tool.OutputSchema == nil || strings.Contains(string(b), `"type":[`) {
					t.Errorf("%s: output schema %s should exist and name one type per value", tool.Name, b)
				}
			}
		})
	}
}
