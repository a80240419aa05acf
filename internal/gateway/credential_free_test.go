package gateway

import (
	"testing"

	"github.com/mcpgate/mcpgate/internal/mcp"
)

// TestNeedsNoCredential: which calls a connection route sends on without the user's
// credential before the user has connected.
func TestNeedsNoCredential(t *testing.T) {
	msgs := func(methods ...string) []mcp.Request {
		var out []mcp.Request
		for _, m := range methods {
			out = append(out, mcp.Request{Method: m, ID: []byte("1")})
		}
		return out
	}
	tests := []struct {
		name string
		call *Call
		want bool
	}{
		{"discover", &Call{HTTPMethod: "POST", Messages: msgs("server/discover")}, true},
		{"initialize", &Call{HTTPMethod: "POST", Messages: msgs("initialize")}, true},
		{"lists", &Call{HTTPMethod: "POST", Messages: msgs("tools/list", "prompts/list", "resources/list", "resources/templates/list")}, true},
		{"ping", &Call{HTTPMethod: "POST", Messages: msgs("ping")}, true},
		{"notification", &Call{HTTPMethod: "POST", Messages: msgs("notifications/initialized")}, true},
		{"tools/call", &Call{HTTPMethod: "POST", Messages: msgs("tools/call")}, false},
		{"resources/read", &Call{HTTPMethod: "POST", Messages: msgs("resources/read")}, false},
		{"prompts/get", &Call{HTTPMethod: "POST", Messages: msgs("prompts/get")}, false},
		{"subscriptions/listen", &Call{HTTPMethod: "POST", Messages: msgs("subscriptions/listen")}, false},
		{"batch with a call", &Call{HTTPMethod: "POST", Messages: msgs("tools/list", "tools/call")}, false},
		{"client response", &Call{HTTPMethod: "POST", Messages: msgs("")}, false},
		{"unknown method", &Call{HTTPMethod: "POST", Messages: msgs("x/y")}, false},
		{"GET stream", &Call{HTTPMethod: "GET"}, false},
		{"DELETE", &Call{HTTPMethod: "DELETE"}, false},
		{"nil", nil, false},
	}
	for _, tt := range tests {
		if got := tt.call.NeedsNoCredential(); got != tt.want {
			t.Errorf("%s: NeedsNoCredential = %v, want %v", tt.name, got, tt.want)
		}
	}
}
