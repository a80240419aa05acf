package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/mcpgate/mcpgate/internal/audit"
	"github.com/mcpgate/mcpgate/internal/authn"
	"github.com/mcpgate/mcpgate/internal/authserver"
	"github.com/mcpgate/mcpgate/internal/authz"
	"github.com/mcpgate/mcpgate/internal/authz/ruleexpr"
	"github.com/mcpgate/mcpgate/internal/config"
	"github.com/mcpgate/mcpgate/internal/gateway"
	"github.com/mcpgate/mcpgate/internal/mcp"
	"github.com/mcpgate/mcpgate/internal/ratelimit"
	"github.com/mcpgate/mcpgate/internal/upstream"
)

// HookDeps are the process-wide parts route hooks need.
type HookDeps struct {
	// Auditor records one event per request (nil = no audit).
	Auditor *audit.Auditor
	// Limiters builds a route's rate limiters from its rateLimit section (nil = in-memory
	// token buckets per route and replica, ratelimit.NewRoute). A shared (Redis) limiter
	// plugs in here.
	Limiters func(route string, rl *config.RateLimit) *ratelimit.Route
	// DynamicClient reports whether a client registered dynamically (RFC 7591) or through
	// a client ID metadata document, for the rule variable client.dynamic (nil = always
	// false).
	DynamicClient func(ctx context.Context, clientID string) bool
	// UpstreamModes names a route's upstream credential mode for audit ("none" when nil or
	// empty).
	UpstreamModes func(route string) string
	Logger        *slog.Logger
}

// RouteHooks builds route i's interceptor (policy, tool include/exclude/rename, rate limit)
// and observer (audit). Both nil when the route has nothing configured.
func RouteHooks(cfg *config.Config, i int, deps HookDeps) (gateway.Interceptor, gateway.Observer, error) {
	log := deps.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &cfg.Routes[i]
	var in gateway.Interceptor
	if r.Policy != nil || r.Tools != nil || r.RateLimit != nil {
		ic := &interceptor{route: r.Name, log: log.With("route", r.Name)}
		if mentions(cfg, r.Policy, "dynamic") {
			ic.dynamic = deps.DynamicClient // a store lookup per request: only when a rule may read it
		}
		if r.Policy != nil || r.Tools != nil {
			az, err := authz.NewRoute(cfg, i, log)
			if err != nil {
				return nil, nil, err
			}
			ic.authz = az
		}
		if rl := r.RateLimit; rl != nil {
			if deps.Limiters != nil {
				ic.limits = deps.Limiters(r.Name, rl)
			} else {
				ic.limits = ratelimit.NewRoute(rl)
			}
			ic.perUser, ic.perRoute = ratelimit.RateFrom(rl.PerUser), ratelimit.RateFrom(rl.PerRoute)
		}
		in = ic
	}
	var ob gateway.Observer
	if deps.Auditor != nil {
		mode := "none"
		if deps.UpstreamModes != nil {
			if m := deps.UpstreamModes(r.Name); m != "" {
				mode = m
			}
		}
		ob = &observer{a: deps.Auditor, red: audit.NewRedactor(r.AuditArguments), tools: authz.NewTools(r.Tools), mode: mode}
	}
	return in, ob, nil
}

// mentions reports whether any rule of pol (or of the rule sets it includes) contains word.
func mentions(cfg *config.Config, pol *config.RoutePolicy, word string) bool {
	if pol == nil {
		return false
	}
	rules := slices.Clone(pol.Rules)
	for _, inc := range pol.Include {
		rules = append(rules, cfg.RuleSets[inc]...)
	}
	for _, r := range rules {
		if strings.Contains(r.Condition(), word) {
			return true
		}
	}
	return false
}

// interceptor applies a route's rate limits, then its tools section and policy.
type interceptor struct {
	route             string
	authz             *authz.Route // nil: no policy and no tools section
	limits            *ratelimit.Route
	limitWarnAt       atomic.Int64 // unix ns of the last "rate limiter unavailable" warning
	perUser, perRoute *ratelimit.Rate
	dynamic           func(ctx context.Context, clientID string) bool
	log               *slog.Logger
}

func (ic *interceptor) Intercept(ctx context.Context, c *gateway.Call) gateway.Verdict {
	if v, limited := ic.rateLimit(ctx, c); limited {
		return v
	}
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
func (ic *interceptor) one(c *gateway.Call, vars func() *authz.Vars) gateway.Verdict {
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
	if authz.IsListMethod(m.Method) {
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
func (ic *interceptor) batch(c *gateway.Call, vars func() *authz.Vars) gateway.Verdict {
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
			d.Responses = append(d.Responses, mcp.ErrorResponse(m.ID, authz.CodeDenied,
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

// rateLimit takes a token from the caller's bucket, then from the route's. A request
// refused by the caller's own limit does not use up the route's budget. A failing shared
// limiter lets the request through (and logs).
func (ic *interceptor) rateLimit(ctx context.Context, c *gateway.Call) (gateway.Verdict, bool) {
	if ic.limits == nil {
		return gateway.Verdict{}, false
	}
	who := "ip:" + c.RemoteIP.String()
	if p := c.Principal; p != nil && p.Subject != "" {
		who = p.Subject
	}
	check := func(l ratelimit.Limiter, key, name string, rate *ratelimit.Rate, scope string) (gateway.Verdict, bool) {
		if l == nil {
			return gateway.Verdict{}, false
		}
		res, err := l.Allow(ctx, key)
		if err != nil {
			if ctx.Err() == nil { // not the caller going away
				now := time.Now().UnixNano()
				if last := ic.limitWarnAt.Load(); now-last >= int64(10*time.Second) && ic.limitWarnAt.CompareAndSwap(last, now) {
					ic.log.WarnContext(ctx, "rate limiter unavailable; letting requests through (logged at most every 10 s per route)", "limit", name, "err", err)
				}
			}
			return gateway.Verdict{}, false
		}
		if res.Allowed {
			return gateway.Verdict{}, false
		}
		secs := res.RetryAfterSeconds()
		limit := ""
		if rate != nil {
			limit = fmt.Sprintf(" of %d requests per %s", rate.Requests, rate.Per)
		}
		msg := fmt.Sprintf("route %q: rate limit exceeded: the %s limit%s (rateLimit.%s) is used up; retry in %d s", ic.route, scope, limit, name, secs)
		return gateway.Verdict{Decision: "rate_limited", Reasons: []string{"rate_limit:" + name}, Deny: &gateway.Denial{
			Code: mcp.CodeServerError, Message: msg, RetryAfter: time.Duration(secs) * time.Second,
			Data: map[string]any{"route": ic.route, "reason": "rate_limited", "limit": name, "retryAfter": secs}}}, true
	}
	if v, limited := check(ic.limits.PerUser, "user:"+who, "perUser", ic.perUser, "per-user"); limited {
		return v, true
	}
	return check(ic.limits.PerRoute, "route", "perRoute", ic.perRoute, "route-wide")
}

// observer records audit events.
type observer struct {
	a     *audit.Auditor
	red   *audit.Redactor
	tools *authz.Tools
	mode  string
}

func (o *observer) Observe(_ context.Context, e *gateway.Event) {
	in := audit.Input{
		Time: e.Start, Route: e.Route, Method: e.MCPMethod, Tool: e.Tool, URI: e.URI, Prompt: e.Prompt,
		Arguments: e.Arguments, Decision: e.Decision, Rules: e.Rules, Reason: strings.Join(e.Reasons, "; "),
		Status: e.Status, UpstreamStatus: e.UpstreamStatus, Latency: e.Latency, UpstreamAuth: o.mode,
		RequestID: e.RequestID, SessionID: e.SessionID, Error: e.Error, Record: o.red,
		ProtocolVersion: e.ProtocolVersion,
	}
	if e.UserAgent != "" {
		in.Header = http.Header{"User-Agent": {e.UserAgent}}
	}
	if p := e.Principal; p != nil {
		in.Subject, in.Email, in.ClientID = p.Subject, p.Email, p.ClientID
		if idp, ok := p.Claims[authserver.ClaimIDJAGIdP].(string); ok {
			in.TokenOrigin = "id-jag:" + idp
		}
	}
	if in.Method == "" {
		in.Method = e.HTTPMethod
	}
	if len(e.Messages) <= 1 {
		o.a.Record(audit.NewEvent(in))
		return
	}
	// A batch: one event per message, so that no call hides behind another.
	for i := range e.Messages {
		m := &e.Messages[i]
		mi := in
		mi.Method, mi.Tool, mi.URI, mi.Prompt, mi.RequestID, mi.Arguments = m.Method, m.Tool, m.URI, m.Prompt, m.ID, m.Arguments
		if mi.Method == "" {
			mi.Method = "response"
		}
		if up, ok := o.tools.Upstream(m.Tool); ok && m.Tool != "" {
			mi.Tool = up
		}
		o.a.Record(audit.NewEvent(mi))
	}
}

// CredentialErrors wraps a route's upstream credential source so that the typed errors of
// internal/upstream are rendered for the MCP client (see docs/upstream.md, "What the user
// sees"): URL elicitation or a tool error for a missing connection, 403 for missing admin
// consent, 401 with a claims challenge, 502/503 for failures. authorizationURI is put in
// claims challenges (the IdP's authorize endpoint; derived from an obo route's token URL
// when empty). Nil stays nil.
func CredentialErrors(route string, c gateway.UpstreamCredentials, authorizationURI string) gateway.UpstreamCredentials {
	if c == nil {
		return nil
	}
	return gateway.UpstreamCredentialsFunc(func(ctx context.Context, p *authn.Principal, r *http.Request) (http.Header, error) {
		h, err := c.UpstreamHeaders(ctx, p, r)
		if err != nil {
			return nil, &credentialError{route: route, err: err, authorizationURI: authorizationURI}
		}
		return h, nil
	})
}

// AuthorizationURI is the authorize endpoint named in claims challenges of route i: for
// obo, the token URL's sibling …/oauth2/v2.0/authorize ("" otherwise).
func AuthorizationURI(cfg *config.Config, i int) string {
	ua := cfg.Routes[i].UpstreamAuth
	if ua == nil || ua.OBO == nil {
		return ""
	}
	tu := ua.OBO.OBOTokenURL()
	if strings.HasSuffix(tu, "/token") {
		return strings.TrimSuffix(tu, "/token") + "/authorize"
	}
	return ""
}

// urlElicitationVersion is the first MCP version with URL elicitation (-32042).
const urlElicitationVersion = "2025-11-25"

type credentialError struct {
	route            string
	err              error
	authorizationURI string
}

func (e *credentialError) Error() string { return e.err.Error() }
func (e *credentialError) Unwrap() error { return e.err }

// GatewayResponse implements gateway.CredentialError.
func (e *credentialError) GatewayResponse(c *gateway.Call) gateway.Response {
	o := upstream.Explain(e.route, e.err)
	res := gateway.Response{Status: o.HTTPStatus, Reason: o.Reason, Message: o.Message}
	hasID := len(c.Messages) == 1 && len(c.Messages[0].ID) > 0
	data := map[string]any{"route": e.route, "reason": o.Reason}
	switch o.Kind {
	case upstream.OutcomeUserAction:
		method := ""
		if len(c.Messages) == 1 {
			method = c.Messages[0].Method
		}
		switch {
		case !hasID:
			// A GET stream or a notification cannot carry an elicitation: refuse with the URL.
			res.Status = http.StatusForbidden
			data["url"] = o.URL
			res.Error = &mcp.ErrorObject{Code: mcp.CodeUnauthorized, Message: o.Message, Data: data}
		case c.ProtocolVersion() >= urlElicitationVersion: // YYYY-MM-DD versions order as strings
			je := o.JSONRPCError()
			res.Error = &mcp.ErrorObject{Code: je["code"].(int), Message: o.Message, Data: je["data"]}
		case method == "tools/call":
			res.Result = o.ToolError()
		default:
			data["url"] = o.URL
			res.Error = &mcp.ErrorObject{Code: mcp.CodeUnauthorized, Message: o.Message, Data: data}
		}
	case upstream.OutcomeInsufficientClaims:
		var cc *upstream.ClaimsChallenge
		if errors.As(e.err, &cc) {
			res.Header = http.Header{"Www-Authenticate": {cc.WWWAuthenticate(e.authorizationURI)}}
		}
		res.Error = &mcp.ErrorObject{Code: mcp.CodeUnauthorized, Message: o.Message, Data: data}
	default: // consent_required (403) and failures (401, 502, 503)
		code := mcp.CodeServerError
		if o.HTTPStatus == http.StatusUnauthorized || o.HTTPStatus == http.StatusForbidden {
			code = mcp.CodeUnauthorized
		}
		if o.Kind == upstream.OutcomeFailure {
			data["retryable"] = o.Retryable
		}
		res.Error = &mcp.ErrorObject{Code: code, Message: o.Message, Data: data}
	}
	return res
}
