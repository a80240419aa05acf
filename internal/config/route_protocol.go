package config

import "strings"

// reservedMCPHeader reports whether an identity header name is, or would reach a server
// as, one of the MCP request headers: Mcp-Session-Id, MCP-Protocol-Version, and the
// 2026-07-28 Mcp-Method, Mcp-Name and Mcp-Param-* (SEP-2243), which a server checks
// against the body and balancers route on. The name is folded (case, '-', '_' and '.'
// ignored) because CGI, Rack and WSGI servers read Mcp_Name as Mcp-Name.
func reservedMCPHeader(name string) bool {
	f := strings.Map(func(r rune) rune {
		switch r {
		case '-', '_', '.':
			return -1
		}
		return r
	}, strings.ToLower(name))
	switch f {
	case "mcpsessionid", "mcpprotocolversion", "mcpmethod", "mcpname":
		return true
	}
	return strings.HasPrefix(f, "mcpparam")
}
