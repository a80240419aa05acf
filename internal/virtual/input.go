package virtual

import (
	"context"
	"encoding/json"
	"errors"
	"slices"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpgate/mcpgate/internal/gateway"
	mcpwire "github.com/mcpgate/mcpgate/internal/mcp"
)

// 2026-07-28 (stateless) clients of a virtual server are asked to act — link an account
// — with the gateway's input request (MRTR), as on an ordinary route: the result carries a
// URL elicitation and the gateway's sealed requestState; the retry comes back through the
// gateway, which checks and strips the state and tells the handler what the user answered
// (gateway.Caller.InputAction).

// inputRequired carries the gateway's input request out of credentialAnswer.
type inputRequired struct {
	key, message, url, state string
}

func (e *inputRequired) Error() string { return "input required: " + e.message }

// inputResult answers method with the input request in err, when err is one. The result
// is decoded from its wire form, which is how the SDK's types learn their resultType
// (input_required) outside the SDK's own handlers.
func inputResult(method string, err error) (mcp.Result, bool) {
	var ir *inputRequired
	if !errors.As(err, &ir) {
		return nil, false
	}
	b, jerr := json.Marshal(mcpwire.URLInputRequired(ir.key, ir.message, ir.url, ir.state))
	if jerr != nil {
		return nil, false
	}
	var res mcp.Result
	switch method {
	case "tools/call":
		res = &mcp.CallToolResult{}
	case "prompts/get":
		res = &mcp.GetPromptResult{}
	case "resources/read":
		res = &mcp.ReadResourceResult{}
	default:
		return nil, false
	}
	if json.Unmarshal(b, res) != nil {
		return nil, false
	}
	return res, true
}

// sessionAwaiting is session, held by the gateway while the user is linking the account
// they just accepted to link (gateway.Caller.AwaitInput).
func (s *Server) sessionAwaiting(ctx context.Context, u *Upstream, c *gateway.Caller) (*mcp.ClientSession, func(), error) {
	cs, done, err := s.session(ctx, u, c)
	err = c.AwaitInput(ctx, err, func() error {
		var e error
		cs, done, e = s.session(ctx, u, c)
		return e
	})
	return cs, done, err
}

// hopMetaKeys are the _meta keys of 2026-07-28 that describe the client's request to the
// virtual server (its version, identity and capabilities); the upstream session has its
// own, negotiated when it was connected, and an upstream on 2025-11-25 refuses a call that
// names 2026-07-28.
var hopMetaKeys = []string{mcp.MetaKeyProtocolVersion, mcp.MetaKeyClientInfo, mcp.MetaKeyClientCapabilities}

// upstreamMeta is the client's _meta to send upstream: without hopMetaKeys (a copy when
// one is present).
func upstreamMeta(m mcp.Meta) mcp.Meta {
	strip := false
	for _, k := range hopMetaKeys {
		_, has := m[k]
		strip = strip || has
	}
	if !strip {
		return m
	}
	out := make(mcp.Meta, len(m))
	for k, v := range m {
		if !slices.Contains(hopMetaKeys, k) {
			out[k] = v
		}
	}
	return out
}
