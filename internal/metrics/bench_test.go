package metrics

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/mcpgate/mcpgate/internal/authn"
	"github.com/mcpgate/mcpgate/internal/gateway"
	"github.com/mcpgate/mcpgate/internal/mcpsession"
)

// BenchmarkObservability compares one tool call through the gateway with metrics and
// tracing off, metrics on, and metrics and tracing on (every request sampled, spans
// batched to an exporter that drops them), in one run, in-process, against the same
// loopback upstream.
func BenchmarkObservability(b *testing.B) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"text","text":"sunny"}]}}`)
	}))
	defer up.Close()
	p := &authn.Principal{Issuer: "https://issuer.test", Subject: "alice", ClientID: "vscode", Scopes: []string{"mcp.tools"}}
	verifier := authn.VerifierFunc(func(context.Context, string) (*authn.Principal, error) { return p, nil })
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(tracetest.NewNoopExporter()))
	defer tp.Shutdown(context.Background())
	build := func(observer gateway.Observer, traced bool) http.Handler {
		sessions := mcpsession.NewMemory(0)
		_ = sessions.Bind(context.Background(), "bench", "bench-session", mcpsession.Key(p.Issuer, p.Subject, p.ClientID), mcpsession.Key(p.Issuer, p.Subject), 0)
		o := gateway.Options{Sessions: sessions, Observer: observer, Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)),
			Routes: []gateway.RouteOptions{{Name: "bench", Path: "/mcp", Upstream: up.URL, Verifier: verifier, Scopes: []string{"mcp.tools"}}}}
		if traced {
			o.TracerProvider = tp
		}
		gw, err := gateway.New(o)
		if err != nil {
			b.Fatal(err)
		}
		return gw.Handler()
	}
	body := `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"get_weather","arguments":{"city":"Paris"}}}`
	for _, tc := range []struct {
		name string
		h    http.Handler
	}{
		{"off", build(nil, false)},
		{"metrics", build(New(), false)},
		{"metrics+tracing", build(New(), true)},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest(http.MethodPost, "http://127.0.0.1/mcp", strings.NewReader(body))
				req.Header.Set("Authorization", "Bearer t")
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Accept", "application/json, text/event-stream")
				req.Header.Set("Mcp-Session-Id", "bench-session")
				rec := httptest.NewRecorder()
				tc.h.ServeHTTP(rec, req)
				if rec.Code != 200 {
					b.Fatalf("status %d: %s", rec.Code, rec.Body)
				}
			}
		})
	}
}

// BenchmarkObserve is the metrics' own cost per event.
func BenchmarkObserve(b *testing.B) {
	m := New()
	e := &gateway.Event{Route: "weather", HTTPMethod: "POST", Status: 200, Decision: "allow", Token: "valid",
		Principal: &authn.Principal{Subject: "alice"}, UpstreamLatency: 1e6, Latency: 2e6}
	b.ReportAllocs()
	for b.Loop() {
		m.Observe(context.Background(), e)
	}
}
