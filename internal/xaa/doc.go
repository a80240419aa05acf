// Package xaa is the client side of enterprise-managed authorization (the MCP extension
// io.modelcontextprotocol/enterprise-managed-authorization, also called Cross-App Access):
// a client that signed the user in at the enterprise IdP once gets access tokens for any
// MCP server the IdP allows, with no browser and no consent page.
//
// Two token requests make one access token:
//
//  1. [RequestIDJAG]: RFC 8693 token exchange at the IdP's token endpoint: the user's ID token
//     (or IdP refresh token) for an Identity Assertion JWT Authorization Grant (ID-JAG,
//     draft-ietf-oauth-identity-assertion-authz-grant) addressed to the MCP server's
//     authorization server (audience = its issuer, resource = the MCP server URL).
//  2. [ExchangeIDJAG]: the RFC 7523 jwt-bearer grant at the MCP server's authorization server,
//     with the ID-JAG as the assertion.
//
// [Client] does both, after discovering the MCP server's authorization server (RFC 9728
// protected resource metadata, then RFC 8414 / OpenID Connect metadata, which must list
// urn:ietf:params:oauth:grant-profile:id-jag in authorization_grant_profiles_supported).
//
// The ID-JAG and the tokens are credentials: this package never logs them. Client secrets
// are sent with HTTP Basic authentication (client_secret_basic).
//
//	c := &xaa.Client{
//		IdP: xaa.Credentials{TokenURL: "https://idp.example.com/token", ClientID: "agent", ClientSecret: idpSecret},
//		ResourceClients: map[string]xaa.Credentials{ // by resource AS issuer
//			"https://mcp.example.com": {ClientID: "agent", ClientSecret: rasSecret},
//		},
//	}
//	tok, err := c.Token(ctx, "https://mcp.example.com/weather/mcp", idToken, xaa.SubjectIDToken)
package xaa
