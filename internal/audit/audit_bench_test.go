package audit

import (
	"context"
	"encoding/json"
	"io"
	"testing"
	"time"
)

// BenchmarkNewEventAndRecord is the audit cost on the request path: building the event
// (hashing the arguments) and queueing it; the writer drains to io.Discard.
func BenchmarkNewEventAndRecord(b *testing.B) {
	a := New(Options{Buffer: 1 << 16}, NewJSONLines(io.Discard))
	defer a.Close(context.Background())
	in := input{Time: time.Now(), Route: "bank", Subject: "alice", Email: "alice@example.com", ClientID: "vscode",
		Method: "tools/call", Tool: "transfer", Arguments: json.RawMessage(`{"amount":12.5,"to":{"iban":"DE00123"},"memo":"rent"}`),
		Decision: "allow", Rules: []string{"staff"}, Status: 200, UpstreamStatus: 200, Latency: time.Millisecond, RequestID: json.RawMessage(`7`)}
	b.ReportAllocs()
	for b.Loop() {
		a.Record(newEvent(in))
	}
}
