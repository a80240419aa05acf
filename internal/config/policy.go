package config

import (
	"fmt"
	"path"
	"slices"
	"sort"
	"strings"

	"github.com/mcpgate/mcpgate/internal/authz/ruleexpr"
)

// Rule is one named policy rule: exactly one of allow, deny or require holds its CEL
// condition (see docs/policy.md for the variables user, client, mcp and request).
type Rule struct {
	// Name identifies the rule in decisions, refusals, logs and audit events.
	Name string `yaml:"name" json:"name"`
	// Description says what the rule is for (documentation only).
	Description string `yaml:"description,omitempty" json:"description,omitempty"`
	// Allow grants the request when the condition is true (unless a deny rule matches).
	Allow string `yaml:"allow,omitempty" json:"allow,omitempty"`
	// Deny refuses the request when the condition is true. Deny overrides allow.
	Deny string `yaml:"deny,omitempty" json:"deny,omitempty"`
	// Require demands the scopes listed in scopes when the condition is true; a caller
	// without them gets 403 insufficient_scope naming them, so the client can step up.
	Require string `yaml:"require,omitempty" json:"require,omitempty"`
	// Scopes demanded by a require rule.
	Scopes []string `yaml:"scopes,omitempty" json:"scopes,omitempty"`
	// Message is shown to the caller when this rule refuses a request on a route whose
	// refusal mode is reveal. Default: the rule's name and description.
	Message string `yaml:"message,omitempty" json:"message,omitempty"`
}

// Effect returns allow, deny or require (or "" when none is set).
func (r *Rule) Effect() string {
	switch {
	case r.Deny != "":
		return "deny"
	case r.Require != "":
		return "require"
	case r.Allow != "":
		return "allow"
	}
	return ""
}

// Condition returns the rule's CEL condition.
func (r *Rule) Condition() string {
	switch r.Effect() {
	case "deny":
		return r.Deny
	case "require":
		return r.Require
	}
	return r.Allow
}

// RoutePolicy is a route's tool-level policy.
type RoutePolicy struct {
	// Include names rule sets (top-level ruleSets) evaluated before this route's own rules.
	Include []string `yaml:"include,omitempty" json:"include,omitempty"`
	// Rules are this route's own rules.
	Rules []Rule `yaml:"rules,omitempty" json:"rules,omitempty"`
	// Default decides requests no allow rule matched: allow or deny. Default: deny when the
	// policy has any rule, allow when it has none.
	Default string `yaml:"default,omitempty" json:"default,omitempty" jsonschema:"enum=allow,enum=deny"`
	// Refusal says how a refused tools/call, prompts/get or resources/read is answered:
	// reveal (default: "denied by policy <rule>: <message>") or mask (the error an MCP
	// server gives for an unknown tool, prompt or resource, so the name does not leak).
	Refusal string `yaml:"refusal,omitempty" json:"refusal,omitempty" jsonschema:"enum=reveal,enum=mask"`
	// ExplainHidden lets a caller ask which items of a list the policy hides from them and
	// why: a tools/list, prompts/list, resources/list or resources/templates/list request
	// whose params._meta has "io.mcpgate/explain": true gets the hidden items' names, the
	// rules that hid them and the reason in the result's _meta "io.mcpgate/hidden" (what
	// `mcpgate doctor URL --login` shows). Default false: nothing about hidden items is
	// disclosed. Not with refusal mask.
	ExplainHidden bool `yaml:"explainHidden,omitempty" json:"explainHidden,omitempty"`
}

// ToolFilter trims what a route exposes of its upstream's tools and renames or
// re-describes them. Patterns and keys are upstream tool names; policy rules also see
// upstream names (mcp.tool), whatever clients call them.
type ToolFilter struct {
	// Include exposes only tools matching one of these glob patterns (* ? [a-z]). Empty:
	// every tool.
	Include []string `yaml:"include,omitempty" json:"include,omitempty"`
	// Exclude hides tools matching one of these glob patterns (applied after include).
	Exclude []string `yaml:"exclude,omitempty" json:"exclude,omitempty"`
	// Overrides renames tools and replaces descriptions, keyed by upstream tool name.
	Overrides map[string]ToolOverride `yaml:"overrides,omitempty" json:"overrides,omitempty"`
}

// ToolOverride changes how one tool is presented to clients.
type ToolOverride struct {
	// Name is the name clients see and call; calls are sent upstream under the real name.
	Name string `yaml:"name,omitempty" json:"name,omitempty"`
	// Description replaces the upstream's description.
	Description string `yaml:"description,omitempty" json:"description,omitempty"`
}

// RateLimit limits requests with token buckets (answered with 429 and Retry-After).
type RateLimit struct {
	// PerUser limits each user (token subject; anonymous callers share one bucket per IP).
	PerUser *Rate `yaml:"perUser,omitempty" json:"perUser,omitempty"`
	// PerRoute limits the route as a whole.
	PerRoute *Rate `yaml:"perRoute,omitempty" json:"perRoute,omitempty"`
}

// Rate is a token bucket: requests per period, with bursts up to burst.
type Rate struct {
	// Requests allowed per period.
	Requests int `yaml:"requests" json:"requests"`
	// Per is the period. Default 1m.
	Per Duration `yaml:"per,omitempty" json:"per,omitempty"`
	// Burst is the bucket size. Default: requests.
	Burst int `yaml:"burst,omitempty" json:"burst,omitempty"`
}

func init() { extensionValidators = append(extensionValidators, validatePolicy) }

// validatePolicy type-checks every rule and checks policies, tool filters and rate limits.
func validatePolicy(c *Config, p *Problems) {
	names := make([]string, 0, len(c.RuleSets))
	for n := range c.RuleSets {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if n == "" {
			p.Add("ruleSets", "a rule set needs a name")
		}
		validateRules("ruleSets."+n, c.RuleSets[n], map[string]string{}, p)
	}
	for i := range c.Routes {
		r := &c.Routes[i]
		base := fmt.Sprintf("routes[%d]", i)
		if pol := r.Policy; pol != nil {
			seen := map[string]string{}
			for j, inc := range pol.Include {
				set, ok := c.RuleSets[inc]
				if !ok {
					msg := fmt.Sprintf("%q is not defined under ruleSets", inc)
					if s := closest(inc, names); s != "" {
						msg += fmt.Sprintf(" (did you mean %q?)", s)
					} else if len(names) > 0 {
						msg += " (defined: " + strings.Join(names, ", ") + ")"
					}
					p.Add(fmt.Sprintf("%s.policy.include[%d]", base, j), "%s", msg)
					continue
				}
				for _, rule := range set {
					if prev, dup := seen[rule.Name]; dup && rule.Name != "" {
						p.Add(fmt.Sprintf("%s.policy.include[%d]", base, j), "rule %q of rule set %q is also defined in %s; rule names must be unique within a route", rule.Name, inc, prev)
					}
					seen[rule.Name] = "ruleSets." + inc
				}
			}
			// Rules were type-checked with their set; here only names and this route's own rules.
			validateRules(base+".policy.rules", pol.Rules, seen, p)
			if !slices.Contains([]string{"", "allow", "deny"}, pol.Default) {
				p.Add(base+".policy.default", "%q is not allow or deny", pol.Default)
			}
			if !slices.Contains([]string{"", "reveal", "mask"}, pol.Refusal) {
				p.Add(base+".policy.refusal", "%q is not reveal or mask", pol.Refusal)
			}
			if pol.ExplainHidden && pol.Refusal == "mask" {
				p.Add(base+".policy.explainHidden", "cannot be used with refusal: mask (mask hides the names that explainHidden would disclose)")
			}
			if pol.Default == "" || pol.Default == "deny" {
				hasRules, hasAllow := false, false
				check := func(rs []Rule) {
					for _, r := range rs {
						hasRules = true
						hasAllow = hasAllow || r.Allow != ""
					}
				}
				check(pol.Rules)
				for _, inc := range pol.Include {
					check(c.RuleSets[inc])
				}
				if hasRules && !hasAllow {
					p.Warn(base+".policy", "the policy has rules but no allow rule, so with the default (deny) every tools/call, prompts/get and resources/read is refused; add an allow rule or set default: allow")
				}
			}
		}
		if tf := r.Tools; tf != nil {
			for j, g := range tf.Include {
				if _, err := path.Match(g, ""); err != nil || g == "" {
					p.Add(fmt.Sprintf("%s.tools.include[%d]", base, j), "%q is not a glob pattern (use * ? and [a-z])", g)
				}
			}
			for j, g := range tf.Exclude {
				if _, err := path.Match(g, ""); err != nil || g == "" {
					p.Add(fmt.Sprintf("%s.tools.exclude[%d]", base, j), "%q is not a glob pattern (use * ? and [a-z])", g)
				}
			}
			exposed := map[string]string{}
			keys := make([]string, 0, len(tf.Overrides))
			for k := range tf.Overrides {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				o := tf.Overrides[k]
				if o.Name == "" {
					continue
				}
				if prev, dup := exposed[o.Name]; dup {
					p.Add(fmt.Sprintf("%s.tools.overrides.%s.name", base, k), "%q is also the new name of %q; exposed names must be unique", o.Name, prev)
				}
				if _, other := tf.Overrides[o.Name]; other && o.Name != k {
					p.Add(fmt.Sprintf("%s.tools.overrides.%s.name", base, k), "%q is the upstream name of another overridden tool; pick a name no upstream tool uses", o.Name)
				}
				exposed[o.Name] = k
			}
		}
		if rl := r.RateLimit; rl != nil {
			validateRate(base+".rateLimit.perUser", rl.PerUser, p)
			validateRate(base+".rateLimit.perRoute", rl.PerRoute, p)
		}
	}
}

// SetDefaults fills in the rate's defaults (per 1m, burst = requests).
func (r *Rate) SetDefaults() {
	if r.Per == 0 {
		r.Per = Duration(60e9)
	}
	if r.Burst == 0 {
		r.Burst = r.Requests
	}
}

func validateRate(at string, r *Rate, p *Problems) {
	if r == nil {
		return
	}
	r.SetDefaults()
	if r.Requests <= 0 {
		p.Add(at+".requests", "must be a positive number of requests per period (for example requests: 60, per: 1m)")
	}
	if r.Per < 0 {
		p.Add(at+".per", "must be a positive duration such as 1s or 1m")
	}
	if r.Burst < 0 {
		p.Add(at+".burst", "must not be negative")
	}
}

func validateRules(at string, rules []Rule, seen map[string]string, p *Problems) {
	for i := range rules {
		r := &rules[i]
		rp := fmt.Sprintf("%s[%d]", at, i)
		if r.Name != "" {
			rp = fmt.Sprintf("%s[%d] (%s)", at, i, r.Name)
		}
		switch {
		case r.Name == "":
			p.Add(rp+".name", "is required: name every rule so that decisions and audit events can say which rule decided")
		case strings.ContainsAny(r.Name, " \t\n\"'"):
			p.Add(rp+".name", "%q must not contain spaces or quotes", r.Name)
		default:
			if prev, dup := seen[r.Name]; dup {
				p.Add(rp+".name", "%q is also used in %s; rule names must be unique within a route", r.Name, prev)
			}
			seen[r.Name] = at
		}
		n := 0
		for _, s := range []string{r.Allow, r.Deny, r.Require} {
			if s != "" {
				n++
			}
		}
		if n != 1 {
			p.Add(rp, "set exactly one of allow, deny or require to a CEL condition (for example deny: 'mcp.tool == \"transfer\" && mcp.arguments.amount > 1000')")
			continue
		}
		if r.Require != "" && len(r.Scopes) == 0 {
			p.Add(rp+".scopes", "a require rule must list the scopes it demands")
		}
		if r.Require == "" && len(r.Scopes) > 0 {
			p.Add(rp+".scopes", "only a require rule takes scopes")
		}
		for j, s := range r.Scopes {
			if s == "" || strings.ContainsAny(s, " \"\\") {
				p.Add(fmt.Sprintf("%s.scopes[%d]", rp, j), "%q is not a valid scope token", s)
			}
		}
		if _, err := ruleexpr.Compile(r.Condition()); err != nil {
			p.Add(rp, "%v", err)
		}
	}
}
