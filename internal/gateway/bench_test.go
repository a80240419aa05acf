package gateway

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/mcpgate/mcpgate/internal/authn"
	"github.com/mcpgate/mcpgate/internal/mcpsession"
)

// BenchmarkProxyPath compares, per request, a bare httputil.ReverseProxy and the gateway
// (strict route, token check from a cache, MCP parsing, access log to a discarding
// handler, identity header) in front of the same loopback upstream. The handlers are
// called in-process, so the numbers isolate the proxy's own cost plus one upstream round
// trip.
func BenchmarkProxyPath(b *testing.B) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"text","text":"sunny"}]}}`)
	}))
	defer up.Close()
	u, _ := url.Parse(up.URL)
	rp := httputil.NewSingleHostReverseProxy(u)
	// The default FlushInterval (0) already streams SSE and bodies of unknown length as they
	// come (ReverseProxy flushes those immediately) and writes a whole JSON response at once;
	// -1 would flush after every write, two more write system calls per request.
	tok := mintToken(b, nil)
	p, err := testVerifier(b).Verify(context.Background(), tok)
	if err != nil {
		b.Fatal(err)
	}
	var cache sync.Map
	cache.Store(tok, p)
	cached := authn.VerifierFunc(func(_ context.Context, t string) (*authn.Principal, error) {
		if p, ok := cache.Load(t); ok {
			return p.(*authn.Principal), nil
		}
		return nil, &authn.Error{Code: authn.CodeInvalidToken, Description: "unknown"}
	})
	// The client's session, as the gateway bound it when the upstream handed it out.
	sessions := mcpsession.NewMemory(0)
	if err := sessions.Bind(context.Background(), "bench", "bench-session", mcpsession.Key(p.Issuer, p.Subject, p.ClientID), mcpsession.Key(p.Issuer, p.Subject), 0); err != nil {
		b.Fatal(err)
	}
	gw, err := New(Options{Sessions: sessions, Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)), Routes: []RouteOptions{{Name: "bench", Path: "/mcp", Upstream: up.URL, Verifier: cached, Scopes: []string{"mcp.tools"}, Identity: IdentityHeaders{Subject: "X-User"}}}})
	if err != nil {
		b.Fatal(err)
	}
	body := `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"get_weather","arguments":{"city":"Paris"}}}`
	for _, tc := range []struct {
		name string
		h    http.Handler
	}{{"bare", rp}, {"gateway", gw.Handler()}} {
		one := func(b *testing.B) {
			req := httptest.NewRequest(http.MethodPost, "http://127.0.0.1/mcp", strings.NewReader(body))
			// The headers an MCP client sends (the load test's requests carry the same).
			req.Header.Set("Authorization", "Bearer "+tok)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "application/json, text/event-stream")
			req.Header.Set("Mcp-Session-Id", "bench-session")
			req.Header.Set("MCP-Protocol-Version", "2025-06-18")
			req.Header.Set("User-Agent", "Go-http-client/1.1")
			rec := httptest.NewRecorder()
			tc.h.ServeHTTP(rec, req)
			if rec.Code != 200 {
				b.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
		}
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				one(b)
			}
		})
		b.Run(tc.name+"-parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.SetParallelism(8)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					one(b)
				}
			})
		})
	}
}
