package authz

import (
	"strings"
)

// Effect is what decided a request.
type Effect string

// Effects.
const (
	// EffectAllow: an allow rule matched (and no deny or require rule refused).
	EffectAllow Effect = "allow"
	// EffectDeny: a deny rule matched.
	EffectDeny Effect = "deny"
	// EffectRequire: a require rule matched and the caller lacks its scopes (step-up).
	EffectRequire Effect = "require"
	// EffectDefault: no rule decided; the policy default applied.
	EffectDefault Effect = "default"
	// EffectHidden: the tool is not exposed on the route (tools include/exclude).
	EffectHidden Effect = "hidden"
)

// Decision is the outcome of evaluating a policy for one request.
type Decision struct {
	// Allow is true when the request may proceed.
	Allow bool
	// Effect says what decided.
	Effect Effect
	// Rules are the names of the rules that decided (empty for a default decision). The
	// slice may be shared: do not modify it.
	Rules []string
	// Reason explains the decision in a sentence, for logs, audit and revealed refusals.
	// It never contains argument values or tokens.
	Reason string
	// RequiredScopes are the scopes to ask for in a 403 insufficient_scope challenge when
	// Effect is require: every scope of the matching require rules.
	RequiredScopes []string
	// Message is the deciding rule's message (or description), shown when refusals reveal.
	Message string
}

// StepUp reports whether the caller should be challenged for more scopes.
func (d Decision) StepUp() bool { return d.Effect == EffectRequire && !d.Allow }

// Label is "allow", "deny" or "insufficient_scope", for audit and logs.
func (d Decision) Label() string {
	switch {
	case d.Allow:
		return "allow"
	case d.StepUp():
		return "insufficient_scope"
	}
	return "deny"
}

func (d Decision) String() string {
	var b strings.Builder
	b.WriteString(d.Label())
	if len(d.Rules) > 0 {
		b.WriteString(" by ")
		b.WriteString(strings.Join(d.Rules, ","))
	} else {
		b.WriteString(" (")
		b.WriteString(string(d.Effect))
		b.WriteString(")")
	}
	return b.String()
}
