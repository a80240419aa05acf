package authz

// Rule is one policy rule: when Condition (CEL over user, client, mcp and request)
// holds, Effect applies.
type Rule struct {
	// Name identifies the rule in decisions, refusals, logs and audit events.
	Name string
	// Effect is EffectAllow, EffectDeny or EffectRequire; anything else is an error.
	Effect Effect
	// Condition is the rule's CEL expression.
	Condition string
	// Scopes are demanded by a require rule.
	Scopes []string
	// Message is shown to the caller when this rule refuses a request (revealing routes).
	Message string
}

// PolicyOptions are a route's policy.
type PolicyOptions struct {
	// Include names rule sets evaluated before the route's own rules.
	Include []string
	// Rules are the route's own rules.
	Rules []Rule
	// Default decides requests no allow rule matched: "allow", "deny", or "" (deny when
	// the policy has any rule, allow when it has none).
	Default string
	// Refusal is how refusals are answered (default RefusalReveal).
	Refusal Refusal
	// ExplainHidden lets callers ask which list items the policy hides from them and why
	// (Route.ExplainListFilter).
	ExplainHidden bool
}

// ToolsOptions are a route's tools section.
type ToolsOptions struct {
	// Include exposes only tools matching one of these glob patterns (empty: every tool).
	Include []string
	// Exclude hides tools matching one of these glob patterns (after Include).
	Exclude []string
	// Overrides renames tools and replaces descriptions, keyed by upstream tool name.
	Overrides map[string]ToolOverride
}

// ToolOverride changes how one tool is presented to clients.
type ToolOverride struct {
	// Name is the name clients see and call ("" keeps the upstream name).
	Name string
	// Description replaces the upstream's description ("" keeps it).
	Description string
}

// RouteOptions are everything authz needs of one route.
type RouteOptions struct {
	// Name is the route's name.
	Name string
	// At names where the policy is configured, for error messages (e.g. "routes[0].policy").
	At string
	// Policy is the route's policy (nil allows everything).
	Policy *PolicyOptions
	// RuleSets are the named rule sets a policy may include.
	RuleSets map[string][]Rule
	// Tools is the route's tools section (nil exposes every tool unchanged).
	Tools *ToolsOptions
}
