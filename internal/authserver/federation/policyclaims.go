package federation

import (
	"context"
	"regexp"
	"slices"
	"strings"

	"github.com/mcpgate/mcpgate/internal/audit"
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

// warnMissingClaims warns (log and audit event) when the user mapped at sign-in, from the
// merged id_token and userinfo claims, lacks an attribute the connector maps:
//   - attributes that policy rules read (PolicyClaims): those rules then deny;
//   - email, name and username, which the claim mapping always fills (claims.email, .name,
//     .username or their defaults);
//   - groups, when the connector maps them (claims.groups, claims.roles, groupMapping or
//     dropUnmappedGroups set) and the provider sent neither groups nor roles.
//
// A user with neither email nor groups is warned about too. The log names the claims, never
// their values beyond the subject.
func (c *Connector) warnMissingClaims(ctx context.Context, id authserver.Identity, claims map[string]any) {
	empty := map[string]bool{"email": id.Email == "", "name": id.Name == "", "username": id.Username == "", "groups": len(id.Groups) == 0}
	var policy, mapped []string
	for _, f := range c.opts.PolicyClaims {
		if empty[f] {
			policy = append(policy, f)
		}
	}
	for _, f := range []string{"email", "name", "username"} {
		if empty[f] && !slices.Contains(policy, f) {
			mapped = append(mapped, f)
		}
	}
	m := c.cfg.Claims
	mapsGroups := m.Groups != "" || m.Roles != "" || len(c.cfg.GroupMapping) > 0 || c.cfg.DropUnmappedGroups
	if mapsGroups && empty["groups"] && !slices.Contains(policy, "groups") &&
		len(claimStrings(claims, orDefault(m.Groups, "groups"))) == 0 && len(claimStrings(claims, orDefault(m.Roles, "roles"))) == 0 {
		mapped = append(mapped, "groups")
	}
	if len(policy) > 0 {
		c.log.WarnContext(ctx, "the signed-in user lacks attributes that policy rules read; rules that need them deny", "sub", id.UserID,
			"missing", strings.Join(policy, ","), "fix", "have the provider send the claims (scopes, claim mappers) or name them in the connector's claims")
	}
	if len(mapped) > 0 {
		c.log.WarnContext(ctx, "the provider sent no claim for attributes the connector maps (after merging id_token and userinfo)", "sub", id.UserID,
			"missing", strings.Join(mapped, ","), "claims", c.sourceClaims(mapped),
			"fix", "request the scopes that release them (profile, email, groups), add claim mappers at the provider, or name the right claims in the connector's claims")
	}
	if len(policy)+len(mapped) > 0 {
		all := append(slices.Clone(policy), mapped...)
		slices.Sort(all)
		c.audit(audit.Event{Time: c.now().UTC(), Route: "login", User: id.UserID, Email: id.Email, Method: "login/federated", Resource: c.cfg.ID,
			Decision: "allow", Reason: "missing mapped claims: " + strings.Join(all, ",")})
		return
	}
	if id.Email == "" && len(id.Groups) == 0 {
		c.log.WarnContext(ctx, "the signed-in user has neither email nor groups", "sub", id.UserID,
			"fix", "check the connector's scopes and claims if policies or upstreams need them")
	}
}

// sourceClaims names the claims the mapping reads for the attributes (configured, else the
// defaults), for the warning.
func (c *Connector) sourceClaims(attrs []string) string {
	m := c.cfg.Claims
	var out []string
	for _, a := range attrs {
		switch a {
		case "email":
			out = append(out, orDefault(m.Email, "email"))
		case "name":
			out = append(out, orDefault(m.Name, "name"))
		case "username":
			out = append(out, orDefault(m.Username, "preferred_username"))
		case "groups":
			out = append(out, orDefault(m.Groups, "groups"), orDefault(m.Roles, "roles"))
		}
	}
	return strings.Join(out, ",")
}

// audit records e when the connector has an audit sink.
func (c *Connector) audit(e audit.Event) {
	if c.opts.Audit != nil {
		c.opts.Audit(e)
	}
}
