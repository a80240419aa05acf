package federation

import (
	"context"
	"regexp"
	"slices"
	"strings"

	"github.com/mcpgate/mcpgate/internal/authserver"
	"github.com/mcpgate/mcpgate/internal/config"
)

// policyUserField finds the user attributes a policy expression reads that a federated
// identity supplies (internal/authz/ruleexpr: user.email, user.name, user.groups).
var policyUserField = regexp.MustCompile(`\buser\.(email|name|groups)\b`)

// PolicyClaims lists the identity attributes (email, name, groups) that the policy rules of
// cfg read (every route's rules and the rule sets), sorted.
func PolicyClaims(cfg *config.Config) []string {
	var exprs []string
	add := func(rs []config.Rule) {
		for _, r := range rs {
			exprs = append(exprs, r.Allow, r.Deny, r.Require)
		}
	}
	for _, rs := range cfg.RuleSets {
		add(rs)
	}
	for _, r := range cfg.Routes {
		if r.Policy != nil {
			add(r.Policy.Rules)
		}
	}
	var out []string
	for _, e := range exprs {
		for _, m := range policyUserField.FindAllStringSubmatch(e, -1) {
			if !slices.Contains(out, m[1]) {
				out = append(out, m[1])
			}
		}
	}
	slices.Sort(out)
	return out
}

// warnMissingClaims logs a warning when the user mapped at sign-in lacks attributes that
// policy reads (those policies then deny), or has neither email nor groups.
func (c *Connector) warnMissingClaims(ctx context.Context, id authserver.Identity) {
	var missing []string
	for _, f := range c.opts.PolicyClaims {
		if f == "email" && id.Email == "" || f == "name" && id.Name == "" || f == "groups" && len(id.Groups) == 0 {
			missing = append(missing, f)
		}
	}
	switch {
	case len(missing) > 0:
		c.log.WarnContext(ctx, "the signed-in user lacks attributes that policy rules read; rules that need them deny", "sub", id.UserID,
			"missing", strings.Join(missing, ","), "fix", "have the provider send the claims (scopes, claim mappers) or name them in the connector's claims")
	case id.Email == "" && len(id.Groups) == 0:
		c.log.WarnContext(ctx, "the signed-in user has neither email nor groups", "sub", id.UserID,
			"fix", "check the connector's scopes and claims if policies or upstreams need them")
	}
}
