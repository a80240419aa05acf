package audit

import (
	"context"
	"encoding/json"
	"io"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/internal/authn"
	"github.com/mcpgate/mcpgate/internal/gateway"
)

// The observer's behaviour through a gateway is tested in internal/routepolicy and
// internal/upstream (audit events of allowed, refused and failed calls).

func BenchmarkObserve(b *testing.B) {
	a := New(Options{Buffer: 1 << 16}, NewJSONLines(io.Discard))
	defer a.Close(context.Background())
	o := NewObserver(a, ObserverOptions{Arguments: NewRedactor(&RedactOptions{}), UpstreamAuth: "none"})
	e := &gateway.Event{Route: "bank", Start: time.Now(), HTTPMethod: "POST", MCPMethod: "tools/call", Tool: "transfer",
		Arguments: json.RawMessage(`{"amount":50,"to":"DE1","pin":"1234"}`), RequestID: json.RawMessage("1"), SessionID: "s1",
		Principal: &authn.Principal{Subject: "alice", ClientID: "vscode"}, Status: 200, UpstreamStatus: 200, Decision: "allow",
		Rules: []string{"staff"}, UserAgent: "ua/1"}
	b.ReportAllocs()
	for b.Loop() {
		o.Observe(context.Background(), e)
	}
}
