package virtual

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpgate/mcpgate/internal/gateway"
	mcpwire "github.com/mcpgate/mcpgate/internal/mcp"
)

// callOf is the gateway's view of the caller's request for method, for rendering a
// credential failure: the client's headers decide the answer's form (its protocol version).
func (s *Server) callOf(caller *gateway.Caller, method string) *gateway.Call {
	call := &gateway.Call{Route: s.o.Route, HTTPMethod: "POST", Messages: []mcpwire.Request{{Method: method, ID: json.RawMessage(`1`)}}}
	if caller != nil && caller.Request != nil {
		call.Header = caller.Request.Header
	}
	return call
}

// toolErrorResult carries a credential failure that is answered as a tool result (an
// error result the user reads) rather than a JSON-RPC error.
type toolErrorResult struct{ res *mcp.CallToolResult }

func (e *toolErrorResult) Error() string { return "tool error result" }

// credentialAnswer renders an upstream's credential failure (a connection to link,
// consent to give, a claims challenge) as the gateway renders it on an ordinary route,
// with the upstream's credential route name: the client gets the same URL elicitation
// or message. The detail goes to the log.
func (s *Server) credentialAnswer(ctx context.Context, u *Upstream, caller *gateway.Caller, method string, ce gateway.CredentialError) error {
	s.log.WarnContext(ctx, "virtual server: no upstream credential for the user", "upstream", u.Name, "method", method, "err", ce)
	call := s.callOf(caller, method)
	r := ce.GatewayResponse(call)
	if r.Input != nil && caller.InputAction() != "decline" && caller.InputAction() != "cancel" {
		if key, state, ok := caller.InputRequired(r.Input); ok { // a 2026-07-28 client that takes input requests
			return &inputRequired{key: key, message: r.Input.Message, url: r.Input.URL, state: state}
		}
	}
	switch {
	case r.Error != nil:
		e := &jsonrpc.Error{Code: int64(r.Error.Code), Message: r.Error.Message}
		if r.Error.Data != nil {
			if b, err := json.Marshal(r.Error.Data); err == nil {
				e.Data = b
			}
		}
		return e
	case r.Result != nil && method == "tools/call":
		b, err := json.Marshal(r.Result)
		if err == nil {
			var res mcp.CallToolResult
			if err = json.Unmarshal(b, &res); err == nil {
				return &toolErrorResult{&res}
			}
		}
		return errors.New("rendering a credential failure: " + err.Error())
	}
	return &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: "upstream " + u.Name + ": " + r.Message}
}
