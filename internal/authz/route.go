package authz

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/mcpgate/mcpgate/internal/mcp"
)

// Route is everything authz knows about one route: its policy, its tools section and how
// it answers refusals. It is safe for concurrent use.
type Route struct {
	name    string
	policy  *Policy
	tools   *Tools
	refusal Refusal
	// explain: callers may ask which list items are hidden from them (ExplainListFilter).
	explain bool
	log     *slog.Logger
}

// NewRoute compiles the policy, tools and refusal mode of one route.
func NewRoute(o RouteOptions, log *slog.Logger) (*Route, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p, err := NewPolicy(o.Policy, o.RuleSets, o.At, log.With("route", o.Name))
	if err != nil {
		return nil, err
	}
	rt := &Route{name: o.Name, policy: p, tools: NewTools(o.Tools), refusal: RefusalReveal, log: log}
	if o.Policy != nil && o.Policy.Refusal == RefusalMask {
		rt.refusal = RefusalMask
	}
	rt.explain = o.Policy != nil && o.Policy.ExplainHidden && rt.refusal != RefusalMask
	return rt, nil
}

// NewRouteFrom assembles a Route from parts (tests, programmatic use).
func NewRouteFrom(name string, p *Policy, t *Tools, mode Refusal) *Route {
	if p == nil {
		p = &Policy{defaultAllow: true, log: slog.New(slog.DiscardHandler)}
	}
	if mode == "" {
		mode = RefusalReveal
	}
	return &Route{name: name, policy: p, tools: t, refusal: mode, log: slog.New(slog.DiscardHandler)}
}

// Policy returns the route's compiled policy.
func (rt *Route) Policy() *Policy { return rt.policy }

// Result is what Check decided for one client message.
type Result struct {
	Decision Decision
	// Error, when non-nil, is the JSON-RPC error to answer with instead of forwarding
	// (HTTP 200 with the request's id).
	Error *RPCError
	// StepUpScopes, when non-empty, means: answer HTTP 403 with a WWW-Authenticate
	// insufficient_scope challenge for these scopes (Error is also set, for clients that
	// only read the body).
	StepUpScopes []string
	// Message, when non-nil, replaces the client's message on its way upstream (a renamed
	// tool is called under its upstream name).
	Message []byte
	// Tool is the upstream tool name of a tools/call (what rules and audit see).
	Tool string
}

// Forward reports whether the message may go upstream.
func (r Result) Forward() bool { return r.Error == nil }

// Check decides one client message. v.MCP carries the method and the names the client
// used; for tools/call, v.MCP.Tool is translated to the upstream name (renamed tools),
// and a tool the route does not expose is refused as unknown. msg is the raw JSON-RPC
// message, needed only to rewrite a renamed tool's name (nil is fine otherwise).
func (rt *Route) Check(v *Vars, msg []byte) Result {
	var res Result
	asked := v.MCP.Tool
	if v.MCP.Method == "tools/call" {
		up, ok := rt.tools.Upstream(asked)
		if !ok {
			res.Decision = Decision{Effect: EffectHidden, Reason: "tool " + asked + " is not exposed on this route"}
			res.Error = unknownError("tools/call", asked)
			return res
		}
		v.MCP.Tool = up
		res.Tool = up
		if up != asked {
			out, err := rewriteToolName(msg, up)
			if err != nil {
				res.Decision = Decision{Effect: EffectDeny, Reason: "the tools/call request could not be rewritten: " + err.Error()}
				res.Error = &RPCError{Code: mcp.CodeInvalidParams, Message: "invalid tools/call params: " + err.Error()}
				return res
			}
			res.Message = out
		}
	}
	d := rt.policy.Decide(v)
	res.Decision = d
	if d.Allow {
		return res
	}
	name := asked
	switch v.MCP.Method {
	case "prompts/get":
		name = v.MCP.Prompt
	case "resources/read", "resources/subscribe":
		name = v.MCP.URI
	}
	if d.StepUp() {
		res.StepUpScopes = d.RequiredScopes
		res.Error = &RPCError{Code: mcp.CodeUnauthorized, Message: "insufficient scope: this request needs " + joinScopes(d.RequiredScopes) + "; sign in again granting it",
			Data: DenialData{Rules: d.Rules, Reason: d.Reason}}
		return res
	}
	res.Error = refusalError(d, rt.refusal, v.MCP.Method, name)
	return res
}

func joinScopes(s []string) string {
	var b bytes.Buffer
	for i, x := range s {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(x)
	}
	return b.String()
}

// rewriteToolName returns a tools/call message with params.name replaced.
func rewriteToolName(msg []byte, name string) ([]byte, error) {
	i := skipWS(msg, 0)
	var params member
	n := 0
	if _, err := eachMember(msg, i, func(m member) bool {
		if m.keyFold("params") {
			params = m
			n++
		}
		return true
	}); err != nil {
		return nil, err
	}
	if n != 1 || msg[params.start] != '{' {
		return nil, fmt.Errorf("params is missing or not an object")
	}
	var nm member
	n = 0
	if _, err := eachMember(msg, params.start, func(m member) bool {
		if m.keyFold("name") {
			nm = m
			n++
		}
		return true
	}); err != nil {
		return nil, err
	}
	if n != 1 {
		return nil, fmt.Errorf("params.name is missing or repeated")
	}
	q, _ := json.Marshal(name)
	out := make([]byte, 0, len(msg)+len(q))
	out = append(out, msg[:nm.start]...)
	out = append(out, q...)
	return append(out, msg[nm.end:]...), nil
}
