package mcp

import (
	"bytes"
	"net/http"
)

// MCP protocol versions the gateway knows by name. Versions are dates and compare as
// strings, as the Go SDK compares them: every version from 2026-07-28 on is stateless.
const (
	Version20260728 = "2026-07-28"
	Version20251125 = "2025-11-25"
	Version20250618 = "2025-06-18"
	Version20250326 = "2025-03-26"
	Version20241105 = "2024-11-05"
)

// MetaKeyProtocolVersion is the _meta key under which a 2026-07-28 request carries its
// protocol version (SEP-2575), next to the client's capabilities and identity.
const MetaKeyProtocolVersion = "io.modelcontextprotocol/protocolVersion"

// MCP-specific JSON-RPC error codes (-32020..-32099 are reserved for the specification
// from 2026-07-28 on).
const (
	// CodeHeaderMismatch: an MCP HTTP header (Mcp-Method, Mcp-Name, Mcp-Protocol-Version,
	// Mcp-Param-*) is missing, malformed, or does not match the JSON-RPC body (SEP-2243).
	CodeHeaderMismatch = -32020
	// CodeMissingRequiredClientCapabilities: the server needs a client capability the
	// request did not declare (SEP-2575).
	CodeMissingRequiredClientCapabilities = -32021
	// CodeUnsupportedProtocolVersion: the requested protocol version is not supported
	// (SEP-2575).
	CodeUnsupportedProtocolVersion = -32022
)

// Stateless reports whether protocol version v is 2026-07-28 or later: no initialize
// handshake and no session, per-request _meta, and the Mcp-Method / Mcp-Name headers.
func Stateless(v string) bool { return v >= Version20260728 }

// MetaProtocolVersion is the protocol version a request carries in
// params._meta["io.modelcontextprotocol/protocolVersion"] ("" when absent or not a
// string). It is what a 2026-07-28 server reads, decoded the same way (exact member names,
// the last of duplicates wins).
func (r *Request) MetaProtocolVersion() string {
	p := r.Params
	// Fast path: the member name holds "protocolVersion" unless a \u escape spells it.
	if len(p) == 0 || (!bytes.Contains(p, []byte("protocolVersion")) && !bytes.Contains(p, []byte(`\u`))) {
		return ""
	}
	var v struct {
		Meta struct {
			ProtocolVersion any `json:"io.modelcontextprotocol/protocolVersion"`
		} `json:"_meta"`
	}
	if decode(p, &v) != nil {
		return ""
	}
	s, _ := v.Meta.ProtocolVersion.(string)
	return s
}

// initializeVersion is the protocolVersion an initialize request asks for.
func (r *Request) initializeVersion() string {
	if r.Method != "initialize" || len(r.Params) == 0 {
		return ""
	}
	var p struct {
		ProtocolVersion string `json:"protocolVersion"`
	}
	if decode(r.Params, &p) != nil {
		return ""
	}
	return p.ProtocolVersion
}

// ProtocolVersion is the protocol version a request is made in: the Mcp-Protocol-Version
// header; without it, the version in the first request's _meta (2026-07-28), or the one
// an initialize asks for (the handshake of earlier versions). "" when none says.
func ProtocolVersion(h http.Header, msgs []Request) string {
	if v := h.Get("Mcp-Protocol-Version"); v != "" {
		return v
	}
	for i := range msgs {
		m := &msgs[i]
		if m.IsResponse() {
			continue
		}
		if v := m.MetaProtocolVersion(); v != "" {
			return v
		}
		return m.initializeVersion()
	}
	return ""
}
