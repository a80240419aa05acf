package routepolicy

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"

	"github.com/mcpgate/mcpgate/internal/authz"
	"github.com/mcpgate/mcpgate/internal/authz/ruleexpr"
	"github.com/mcpgate/mcpgate/internal/gateway"
	"github.com/mcpgate/mcpgate/internal/mcp"
	"github.com/mcpgate/mcpgate/internal/ratelimit"
)

// Options are one route's request policy.
type Options struct {
	// Route is the route's name, quoted in refusals.
	Route string
	// Authz is the route's compiled policy and tools section (nil: neither is configured).
	Authz *authz.Route
	// Limits are the route's rate limiters (nil: no rate limits).
	Limits *ratelimit.Route
	// PerUser and PerRoute are the rates Limits were built from, named in refusals (nil:
	// the message names no rate).
	PerUser, PerRoute *ratelimit.Rate
	// DynamicClient reports whether a client registered dynamically, for the rule variable
	// client.dynamic (nil: always false). It may cost a store lookup per request; pass it
	// only when a rule reads it.
	DynamicClient func(ctx context.Context, clientID string) bool
	// Logger receives the throttled "rate limiter unavailable" warning (nil = discard).
	Logger *slog.Logger
}

// Interceptor applies a route's rate limits, then its tools section and policy. It is
// safe for concurrent use.
type Interceptor struct {
	route             string
	authz             *authz.Route // nil: no policy and no tools section
	limits            *ratelimit.Route
	limitWarnAt       atomic.Int64 // unix ns of the last "rate limiter unavailable" warning
	perUser, perRoute *ratelimit.Rate
	dynamic           func(ctx context.Context, clientID string) bool
	log               *slog.Logger
}

// New returns the interceptor of one route.
func New(o Options) *Interceptor {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Interceptor{route: o.Route, authz: o.Authz, limits: o.Limits, perUser: o.PerUser, perRoute: o.PerRoute,
		dynamic: o.DynamicClient, log: log}
}

// Intercept implements gateway.Interceptor.
func (ic *Interceptor) Intercept(ctx context.Context, c *gateway.Call) gateway.Verdict {
	if v, limited := ic.rateLimit(ctx, c); limited {
		return v
	}
	return ic.decide(ctx, c)
}

// decide applies the tools section and the policy (everything but rate limits).
func (ic *Interceptor) decide(ctx context.Context, c *gateway.Call) gateway.Verdict {
	if ic.authz == nil {
		return gateway.Verdict{}
	}
	base := authz.Vars{User: authz.UserFrom(c.Principal), Request: ruleexpr.Request{Route: c.Route, Time: c.Time}}
	if c.RemoteIP.IsValid() {
		base.Request.IP = c.RemoteIP.String()
	}
	if p := c.Principal; p != nil {
		base.Client = ruleexpr.Client{ID: p.ClientID, Dynamic: p.ClientID != "" && ic.dynamic != nil && ic.dynamic(ctx, p.ClientID)}
	}
	vars := func() *authz.Vars { v := base; return &v }

	if c.HTTPMethod == http.MethodGet {
		// The standalone stream carries no JSON-RPC message: rules without an mcp condition
		// (a user closed out of the route) still apply, with mcp.method empty.
		if res := ic.authz.Check(vars(), nil); !res.Forward() {
			v := verdictOf(res)
			v.Deny = denialOf(res)
			return v
		}
		// List results replayed on it are filtered too.
		if f := ic.authz.StreamFilter(vars()); f != nil {
			return gateway.Verdict{Rewrite: filterRewriter(f)}
		}
		return gateway.Verdict{}
	}
	if c.HTTPMethod != http.MethodPost {
		return gateway.Verdict{} // DELETE ends a session: nothing to decide
	}
	if c.ParseErr != nil {
		// What the policy cannot read does not reach the upstream (fail closed).
		return gateway.Verdict{Decision: "deny", Reasons: []string{"unreadable_request"}, Deny: &gateway.Denial{
			HTTPStatus: http.StatusBadRequest, Code: mcp.CodeInvalidRequest,
			Message: fmt.Sprintf("route %q: the request body is not a valid JSON-RPC message or batch (%v), so its policy cannot check it", ic.route, c.ParseErr)}}
	}
	if !c.Batch {
		return ic.one(c, vars)
	}
	return ic.batch(c, vars)
}

// one decides a single message.
func (ic *Interceptor) one(c *gateway.Call, vars func() *authz.Vars) gateway.Verdict {
	m := &c.Messages[0]
	if m.IsResponse() {
		return gateway.Verdict{} // the client answering a server request
	}
	res := ic.authz.Check(withMessage(vars(), m), m.Raw)
	v := verdictOf(res)
	if !res.Forward() {
		v.Deny = denialOf(res)
		return v
	}
	if res.Message != nil {
		v.Body = res.Message
	}
	if authz.IsListMethod(m.Method) && ic.authz.Explains() && authz.WantsExplanation(m.Params) {
		// policy.explainHidden: the caller asked which items are hidden and why.
		v.Rewrite = filterRewriter(ic.authz.ExplainListFilter(vars(), m.Method))
	} else if authz.IsListMethod(m.Method) {
		if f := ic.authz.ListFilter(vars(), m.Method); f != nil {
			v.Rewrite = filterRewriter(f)
		}
	}
	if m.Method == "subscriptions/listen" { // 2026-07-28's stream: filtered like the GET stream (authz/listen.go)
		if f := ic.authz.ListenFilter(vars()); f != nil {
			v.Rewrite = filterRewriter(f)
		}
	}
	return v
}

// batch decides a JSON-RPC batch as a whole: if any message is refused, none is
// forwarded. Each message with an id gets an answer: its own refusal, or an error saying it
// was not forwarded because of another message. A step-up anywhere makes the whole batch
// a 403 insufficient_scope challenge.
func (ic *Interceptor) batch(c *gateway.Call, vars func() *authz.Vars) gateway.Verdict {
	results := make([]authz.Result, len(c.Messages))
	var (
		out      gateway.Verdict
		refused  = -1
		stepUp   []string
		replaced bool
		ids      = map[string]string{}
	)
	for i := range c.Messages {
		m := &c.Messages[i]
		if m.IsResponse() {
			continue
		}
		res := ic.authz.Check(withMessage(vars(), m), m.Raw)
		results[i] = res
		if out.Tool == "" {
			out.Tool = res.Tool
		}
		if res.Decision.Reason != "" {
			out.Reasons = append(out.Reasons, res.Decision.Reason)
		}
		out.Rules = appendNew(out.Rules, res.Decision.Rules...)
		if !res.Forward() {
			if refused < 0 {
				refused = i
			}
			stepUp = appendNew(stepUp, res.StepUpScopes...)
		}
		if res.Message != nil {
			replaced = true
		}
		if authz.IsListMethod(m.Method) && len(m.ID) > 0 {
			ids[string(m.ID)] = m.Method
		}
	}
	if refused >= 0 {
		first := results[refused]
		if len(stepUp) > 0 {
			out.Decision = "insufficient_scope"
			out.Deny = &gateway.Denial{InsufficientScope: stepUp, Message: "a message of this batch needs more scopes (" + strings.Join(stepUp, " ") + "); sign in again granting them"}
			return out
		}
		out.Decision = first.Decision.Label()
		d := denialOf(first)
		d.Responses = []json.RawMessage{}
		for i := range c.Messages {
			m := &c.Messages[i]
			if len(m.ID) == 0 || m.IsResponse() {
				continue
			}
			if e := results[i].Error; e != nil {
				d.Responses = append(d.Responses, e.Response(m.ID))
				continue
			}
			d.Responses = append(d.Responses, mcp.ErrorResponse(m.ID, mcp.CodeUnauthorized,
				fmt.Sprintf("not forwarded: message %d of this batch was refused, and a batch is forwarded only as a whole; send this request on its own", refused+1), nil))
		}
		if len(d.Responses) == 0 {
			d.Responses = nil // only notifications: a plain 403
		}
		out.Deny = d
		return out
	}
	out.Decision = "allow"
	if replaced {
		b := []byte{'['}
		for i := range c.Messages {
			if i > 0 {
				b = append(b, ',')
			}
			if msg := results[i].Message; msg != nil {
				b = append(b, msg...)
			} else {
				b = append(b, c.Messages[i].Raw...)
			}
		}
		out.Body = append(b, ']')
	}
	if len(ids) > 0 {
		if f := ic.authz.BatchListFilter(vars(), ids); f != nil {
			out.Rewrite = filterRewriter(f)
		}
	}
	return out
}

func withMessage(v *authz.Vars, m *mcp.Request) *authz.Vars {
	v.MCP = ruleexpr.MCP{Method: m.Method, Tool: m.Tool, Prompt: m.Prompt, URI: m.URI, RawArguments: m.Arguments}
	return v
}

func verdictOf(res authz.Result) gateway.Verdict {
	v := gateway.Verdict{Decision: res.Decision.Label(), Rules: res.Decision.Rules, Tool: res.Tool}
	if res.Decision.Reason != "" {
		v.Reasons = []string{res.Decision.Reason}
	}
	return v
}

func denialOf(res authz.Result) *gateway.Denial {
	e := res.Error
	if len(res.StepUpScopes) > 0 {
		return &gateway.Denial{InsufficientScope: res.StepUpScopes, Message: e.Message}
	}
	return &gateway.Denial{Code: e.Code, Message: e.Message, Data: e.Data}
}

func filterRewriter(f *authz.ListFilter) gateway.Rewriter {
	return func(_ context.Context, msg []byte) ([]byte, error) { return f.Filter(msg) }
}

func appendNew(dst []string, src ...string) []string {
	for _, s := range src {
		found := false
		for _, d := range dst {
			if d == s {
				found = true
				break
			}
		}
		if !found {
			dst = append(dst, s)
		}
	}
	return dst
}

// Interface guards
var _ gateway.Interceptor = (*Interceptor)(nil)
