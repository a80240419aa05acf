package mcp

import (
	"fmt"
	"net/url"
	"strings"
)

// ProtectedResourceMetadataURLs lists where the protected resource metadata of an MCP
// server is looked for, in order (RFC 9728 §3.1, MCP 2025-11-25): the well-known URL with
// the server's path inserted, then the root one. Nil when serverURL does not parse.
func ProtectedResourceMetadataURLs(serverURL string) []string {
	u, err := url.Parse(serverURL)
	if err != nil {
		return nil
	}
	root := u.Scheme + "://" + u.Host + "/.well-known/oauth-protected-resource"
	if p := strings.TrimSuffix(u.EscapedPath(), "/"); p != "" {
		return []string{root + p, root}
	}
	return []string{root}
}

// AuthServerMetadataURLs lists where the metadata of an authorization server is looked
// for, in the order of the MCP authorization specification (2025-11-25): RFC 8414 path
// insertion, OpenID Connect path insertion, then OpenID Connect path appending; for an
// issuer without a path, RFC 8414 then OpenID Connect.
func AuthServerMetadataURLs(issuer string) ([]string, error) {
	u, err := url.Parse(issuer)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("authorization server %q is not a URL", issuer)
	}
	base := u.Scheme + "://" + u.Host
	p := strings.TrimSuffix(u.EscapedPath(), "/")
	if p == "" {
		return []string{base + "/.well-known/oauth-authorization-server", base + "/.well-known/openid-configuration"}, nil
	}
	return []string{
		base + "/.well-known/oauth-authorization-server" + p,
		base + "/.well-known/openid-configuration" + p,
		base + p + "/.well-known/openid-configuration",
	}, nil
}
