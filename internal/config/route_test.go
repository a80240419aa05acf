package config

import (
	"strings"
	"testing"
)

func TestRouteValidateGateway(t *testing.T) {
	tests := []struct {
		name string
		r    Route
		want []string // substrings of the problems, in order; none = valid
	}{
		{"valid identity", Route{ForwardIdentity: &ForwardIdentity{Subject: "X-User-Sub", Email: "X-User-Email"}}, nil},
		{"reserved header", Route{ForwardIdentity: &ForwardIdentity{Subject: "Authorization"}}, []string{`forwardIdentity.subject: "Authorization" is reserved`}},
		{"MCP headers are reserved", Route{ForwardIdentity: &ForwardIdentity{Subject: "Mcp-Name", Email: "mcp-method", Name: "Mcp-Param-Region", Groups: "MCP_Session_Id", ClientID: "mcp_protocol_version"}},
			[]string{`subject: "Mcp-Name" is reserved`, `email: "mcp-method" is reserved`, `name: "Mcp-Param-Region" is reserved`, `groups: "MCP_Session_Id" is reserved`, `clientId: "mcp_protocol_version" is reserved`}},
		{"Mcp look-alikes that are not MCP headers", Route{ForwardIdentity: &ForwardIdentity{Subject: "X-Mcp-Name", Email: "Mcp-Names-Of-User"}}, nil},
		{"bad header name", Route{ForwardIdentity: &ForwardIdentity{Email: "X User"}}, []string{"not a valid HTTP header name"}},
		{"duplicate", Route{ForwardIdentity: &ForwardIdentity{Subject: "X-User", Email: "x-user"}}, []string{`forwardIdentity.email: "x-user" is already used for subject`}},
		{"negative timeouts", Route{Upstream: Upstream{ConnectTimeout: -1, ResponseTimeout: -1}, Limits: Limits{StreamIdleTimeout: -1}},
			[]string{"connectTimeout: must not be negative", "responseTimeout: must not be negative", "streamIdleTimeout: must not be negative"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var p Problems
			tc.r.validateGateway("routes[0]", &p)
			if len(p.list) != len(tc.want) {
				t.Fatalf("problems %q, want %d", p.list, len(tc.want))
			}
			for i, w := range tc.want {
				if !strings.Contains(p.list[i], w) {
					t.Errorf("problem %q lacks %q", p.list[i], w)
				}
			}
		})
	}
}
