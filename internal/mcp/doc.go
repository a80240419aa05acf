// Package mcp holds the small amount of MCP protocol knowledge the gateway needs: cheap
// parsing of JSON-RPC request bodies (method, id, tool name and arguments, resource uri,
// prompt name), JSON-RPC error responses, and an exact Server-Sent Events reader/writer so
// that streams can be inspected and rewritten event by event without buffering; and where a
// client looks for an MCP server's and an authorization server's metadata (wellknown.go).
package mcp
