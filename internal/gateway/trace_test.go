package gateway

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/mcpgate/mcpgate/internal/authn"
)

// One tool call is one server span with children for the token check, the policy, the
// upstream credential and the upstream call; the upstream gets the trace context, and no
// attribute holds the token or an argument value.
func TestTraceOfToolCall(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	up, seen := echoUpstream(t)
	_, base := newGateway(t, Options{TracerProvider: tp, Routes: []RouteOptions{{
		Name: "weather", Path: "/mcp", Upstream: up.URL, Verifier: testVerifier(t),
		Interceptor: InterceptorFunc(func(context.Context, *Call) Verdict { return Verdict{Decision: "allow"} }),
		Credentials: UpstreamCredentialsFunc(func(context.Context, *authn.Principal, *http.Request) (http.Header, error) {
			return http.Header{"Authorization": {"Bearer upstream-secret-token"}}, nil
		}),
	}}})
	tok := mintToken(t, nil)
	const clientTrace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	call := `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"get_forecast","arguments":{"city":"SecretCity"}}}`
	resp, body := post(t, base+"/mcp", call, map[string]string{"Authorization": "Bearer " + tok, "traceparent": clientTrace})
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	// The server span ends when the handler returns, which can be after the client has
	// read the response: wait for it.
	var spans []sdktrace.ReadOnlySpan
	byName := map[string]sdktrace.ReadOnlySpan{}
	for deadline := time.Now().Add(5 * time.Second); byName["POST /mcp"] == nil && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		spans = rec.Ended()
		for _, s := range spans {
			byName[s.Name()] = s
		}
	}
	root := byName["POST /mcp"]
	if root == nil {
		t.Fatalf("no server span among %d spans", len(spans))
	}
	if root.SpanKind() != trace.SpanKindServer || root.SpanContext().TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Errorf("server span: kind %v trace %s, want the client's trace", root.SpanKind(), root.SpanContext().TraceID())
	}
	for _, name := range []string{"authenticate", "policy", "upstream_credential", "upstream"} {
		s := byName[name]
		if s == nil {
			t.Errorf("no %s span", name)
			continue
		}
		if s.Parent().SpanID() != root.SpanContext().SpanID() {
			t.Errorf("%s is not a child of the request span", name)
		}
	}
	attrs := map[string]string{}
	for _, s := range spans {
		for _, kv := range s.Attributes() {
			v := kv.Value.String()
			attrs[string(kv.Key)] = v
			for _, secret := range []string{tok, "upstream-secret-token", "SecretCity", "alice"} {
				if strings.Contains(v, secret) {
					t.Errorf("span %s attribute %s holds %q", s.Name(), kv.Key, secret)
				}
			}
		}
	}
	for k, want := range map[string]string{"mcpgate.route": "weather", "mcp.method.name": "tools/call", "mcp.target": "get_forecast", "mcpgate.decision": "allow"} {
		if attrs[k] != want {
			t.Errorf("attribute %s = %q, want %q", k, attrs[k], want)
		}
	}
	if attrs["mcpgate.subject_hash"] == "" {
		t.Error("no subject hash")
	}
	hdr, _, _ := seen.last()
	tp2 := hdr.Get("Traceparent")
	if up := byName["upstream"]; up == nil || !strings.Contains(tp2, up.SpanContext().TraceID().String()) || !strings.Contains(tp2, up.SpanContext().SpanID().String()) {
		t.Errorf("upstream traceparent %q does not carry the upstream span", tp2)
	}
}

// Without a provider, nothing is traced and the client's trace context passes unchanged.
func TestNoTracingByDefault(t *testing.T) {
	up, seen := echoUpstream(t)
	_, base := newGateway(t, Options{Routes: []RouteOptions{{Name: "r", Path: "/mcp", Upstream: up.URL, Mode: ModePermissive}}})
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	post(t, base+"/mcp", initBody, map[string]string{"traceparent": tp})
	if h, _, _ := seen.last(); h.Get("Traceparent") != tp {
		t.Errorf("traceparent = %q", h.Get("Traceparent"))
	}
}
