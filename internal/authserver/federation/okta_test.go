package federation_test

import (
	"strings"
	"testing"
)

const (
	oktaSecret = "okta-mcpgate-secret-7c21"
	oktaDana   = "00u8k2n4q6s8u0w2y4a6"
)

// TestBridgeOktaLike: the go-sdk MCP client signs in through mcpgate's okta preset bridged
// to oidc-provider shaped like an Okta custom authorization server (issuer .../oauth2/default,
// /v1/authorize|token|keys, the groups claim behind the groups scope); the user's Okta token
// is exchanged (Okta On-Behalf-Of token exchange) for the tool's upstream.
func TestBridgeOktaLike(t *testing.T) {
	testBridgeNodeIdP(t, nodeIdP{
		script: "okta-like.mjs", jwksPath: "/v1/keys", config: "testdata/mcpgate-okta.yaml",
		env: func(issuer string) map[string]string {
			return map[string]string{"OKTA_ISSUER": issuer, "OKTA_CLIENT_SECRET": oktaSecret}
		},
		checkIssuer: func(t *testing.T, issuer string) {
			if !strings.HasSuffix(issuer, "/oauth2/default") {
				t.Fatalf("issuer %q is not Okta-shaped", issuer)
			}
		},
		connector: "okta", user: oktaDana, email: "dana@example.com", name: "Dana Okta",
	})
}
