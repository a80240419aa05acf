package audit

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestEventProtocolVersion(t *testing.T) {
	b, err := json.Marshal(newEvent(input{Route: "r", Method: "tools/call", ProtocolVersion: "2026-07-28"}))
	if err != nil || !strings.Contains(string(b), `"protocolVersion":"2026-07-28"`) {
		t.Errorf("event = %s (%v)", b, err)
	}
	if b, _ := json.Marshal(newEvent(input{Route: "r", Method: "GET"})); strings.Contains(string(b), "protocolVersion") {
		t.Errorf("an unknown version is recorded: %s", b)
	}
}
