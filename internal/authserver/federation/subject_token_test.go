package federation

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/mcpgate/mcpgate/internal/authn"
	"github.com/mcpgate/mcpgate/internal/config"
	"github.com/mcpgate/mcpgate/internal/upstream"
)

// TestSubjectTokenNeverSendsMcpgateTokensToTheIdP: a user who signed in with a local account
// holds an mcpgate token, which must never become an OBO assertion at the IdP; a caller
// whose token came from the IdP itself (direct mode) keeps using it.
func TestSubjectTokenNeverSendsMcpgateTokensToTheIdP(t *testing.T) {
	s := &Set{Connectors: []*Connector{{cfg: config.AuthServerConnector{ID: "contoso"}, name: "Contoso"}}, issuer: "https://mcp.example.com"}
	tests := []struct {
		name       string
		issuer     string
		wantReason string
	}{
		{name: "local account, mcpgate token", issuer: "https://mcp.example.com", wantReason: upstream.ReasonNoUpstreamIdentity},
		{name: "local account, issuer with trailing slash", issuer: "https://mcp.example.com/", wantReason: upstream.ReasonNoUpstreamIdentity},
		{name: "direct mode, IdP token", issuer: "https://login.microsoftonline.com/tid/v2.0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &authn.Principal{Subject: "local-bob", Issuer: tt.issuer}
			tok, err := s.SubjectToken(context.Background(), upstream.Request{Principal: p, Token: "caller-token", Route: "files"})
			if tok != "" {
				t.Fatalf("SubjectToken returned a token for a principal without an upstream identity")
			}
			if tt.wantReason == "" {
				if err != nil {
					t.Fatalf("direct mode: want no error (the caller's token is the assertion), got %v", err)
				}
				return
			}
			var f *upstream.Failure
			if !errors.As(err, &f) || f.Reason != tt.wantReason || !f.Permanent || !strings.Contains(f.Description, `"Sign in with Contoso"`) {
				t.Fatalf("want a permanent %s failure naming the connector, got %#v", tt.wantReason, err)
			}
		})
	}
}
