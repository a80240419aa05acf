package routepolicy

import (
	"context"

	"github.com/mcpgate/mcpgate/internal/authz"
	"github.com/mcpgate/mcpgate/internal/authz/ruleexpr"
	"github.com/mcpgate/mcpgate/internal/gateway"
)

// Simulation is what the route would decide for a call, and why.
type Simulation struct {
	// Verdict is the interceptor's own verdict (the same code path as Intercept, without
	// rate limits, which a simulation must not consume): Decision and Reasons are what
	// the audit event of a real call records.
	Verdict gateway.Verdict
	// Rules traces every policy rule for the call's first message.
	Rules []authz.RuleTrace
	// Exposed is false when the tools section hides the called tool.
	Exposed bool
}

// Simulate decides c as Intercept would, without rate limits and without side effects,
// and traces every rule of the route's policy (admin console's policy simulator).
func (ic *Interceptor) Simulate(ctx context.Context, c *gateway.Call) Simulation {
	sim := Simulation{Verdict: ic.decide(ctx, c), Exposed: true}
	if ic.authz == nil || len(c.Messages) == 0 {
		return sim
	}
	m := &c.Messages[0]
	v := authz.Vars{User: authz.UserFrom(c.Principal), Request: ruleexpr.Request{Route: c.Route, Time: c.Time}}
	if p := c.Principal; p != nil {
		v.Client = ruleexpr.Client{ID: p.ClientID, Dynamic: p.ClientID != "" && ic.dynamic != nil && ic.dynamic(ctx, p.ClientID)}
	}
	sim.Rules, sim.Exposed = ic.authz.Explain(withMessage(&v, m))
	return sim
}
