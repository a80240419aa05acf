package authz

import "fmt"

// RuleTrace is one rule's part in a decision, for the admin console's simulator.
type RuleTrace struct {
	// Name and Effect of the rule.
	Name   string
	Effect Effect
	// Outcome is "matched", "no match", "ruled out" (its mcp guard excludes the call),
	// "failed" (evaluation error; counts as matching for deny/require, not for allow) or
	// "not reached" (allow rules on methods decided without them, or after the first
	// matching allow rule).
	Outcome string
	// Detail explains the outcome in a sentence.
	Detail string
}

// Explain evaluates every rule of the route's policy for v with the same evaluation as
// Decide, in Decide's order (deny, require, allow), and reports whether the tools section
// exposes the called tool. The decision itself comes from Check/Decide; Explain only
// tells why each rule did or did not take part.
func (rt *Route) Explain(v *Vars) (rules []RuleTrace, exposed bool) {
	exposed = true
	if rt.tools != nil && v.MCP.Method == "tools/call" && v.MCP.Tool != "" {
		up, ok := rt.tools.Upstream(v.MCP.Tool)
		exposed = ok && rt.tools.Exposed(up)
	}
	p := rt.policy
	isGated := gated(v.MCP.Method)
	trace := func(r *rule, o outcome, err error, reached bool) RuleTrace {
		t := RuleTrace{Name: r.name, Effect: r.effect}
		switch {
		case !reached:
			t.Outcome, t.Detail = "not reached", "a previous rule or the method decided first"
		case r.guarded(v):
			t.Outcome, t.Detail = "ruled out", "the rule is about other methods or tools than "+target(v)
		case o == match:
			t.Outcome, t.Detail = "matched", "its condition is true for this call"
			if r.effect == EffectRequire {
				if missing := missingScopes(v, r.scopes); len(missing) > 0 {
					t.Detail = fmt.Sprintf("its condition is true and the token lacks scope %v", missing)
				} else {
					t.Detail = "its condition is true and the token has its scopes"
				}
			}
		case o == failed:
			t.Outcome, t.Detail = "failed", "could not be evaluated ("+evalErr(err)+")"
		case o == unknown:
			t.Outcome, t.Detail = "no match", "depends on arguments not given"
		default:
			t.Outcome, t.Detail = "no match", "its condition is false for this call"
		}
		return t
	}
	decided := !isGated
	for _, r := range p.deny {
		o, err := r.evalFor(v, isGated)
		rules = append(rules, trace(r, o, err, true))
		decided = decided || o == match || o == failed
	}
	for _, r := range p.require {
		o, err := r.evalFor(v, isGated)
		rules = append(rules, trace(r, o, err, true))
		decided = decided || ((o == match || o == failed) && len(missingScopes(v, r.scopes)) > 0)
	}
	for _, r := range p.allow {
		if decided {
			rules = append(rules, trace(r, noMatch, nil, false))
			continue
		}
		o, err := r.eval(v)
		rules = append(rules, trace(r, o, err, true))
		decided = o == match
	}
	return rules, exposed
}
