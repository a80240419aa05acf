package authz

import (
	"encoding/json"
	"strings"

	"github.com/mcpgate/mcpgate/internal/mcp"
)

// Refusal says how refused calls are answered.
type Refusal string

// Refusal modes.
const (
	// RefusalReveal answers "denied by policy <rule>: <message>" (the default).
	RefusalReveal Refusal = "reveal"
	// RefusalMask answers exactly as an MCP server answers for an unknown tool, prompt or
	// resource, so that a refusal does not tell the caller the item exists.
	RefusalMask Refusal = "mask"
)

// RPCError is a JSON-RPC error object the gateway sends instead of forwarding a call.
type RPCError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Data    any    `json:"data,omitempty"`
}

// DenialData is the data of a revealed refusal.
type DenialData struct {
	Rules  []string `json:"rules,omitempty"`
	Reason string   `json:"reason"`
}

// Response renders the error as a JSON-RPC response to id (nil id → null).
func (e *RPCError) Response(id json.RawMessage) []byte {
	if len(id) == 0 {
		id = json.RawMessage("null")
	}
	out, _ := json.Marshal(struct {
		JSONRPC string          `json:"jsonrpc"`
		ID      json.RawMessage `json:"id"`
		Error   *RPCError       `json:"error"`
	}{"2.0", id, e})
	return out
}

// unknownError is the error an MCP server gives for a tool, prompt or resource it does not
// have (method is tools/call, prompts/get or resources/read; name is the name or URI the
// client used).
func unknownError(method, name string) *RPCError {
	switch method {
	case "prompts/get":
		return &RPCError{Code: mcp.CodeInvalidParams, Message: "Unknown prompt: " + name}
	case "resources/read", "resources/subscribe":
		return &RPCError{Code: mcp.CodeResourceNotFound, Message: "Resource not found", Data: map[string]string{"uri": name}}
	}
	return &RPCError{Code: mcp.CodeInvalidParams, Message: "Unknown tool: " + name}
}

// refusalError builds the error for a refused request. mode decides between revealing the
// rule and masking the refusal as an unknown item (masking applies to tools/call,
// prompts/get and resources/read; other methods are always revealed). name is what the
// client asked for (its tool name, prompt name or URI).
func refusalError(d Decision, mode Refusal, method, name string) *RPCError {
	if mode == RefusalMask && gated(method) {
		return unknownError(method, name)
	}
	msg := "denied by policy"
	if len(d.Rules) > 0 {
		msg += " " + strings.Join(d.Rules, ", ")
	}
	switch {
	case d.Message != "":
		msg += ": " + d.Message
	case len(d.Rules) == 0 || d.Reason != "denied by rule "+strings.Join(d.Rules, ", "):
		msg += ": " + d.Reason // the default decided, or the reason says more than the names
	}
	return &RPCError{Code: mcp.CodeUnauthorized, Message: msg, Data: DenialData{Rules: d.Rules, Reason: d.Reason}}
}
