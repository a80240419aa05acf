package app

import (
	"context"
	"strings"

	"github.com/mcpgate/mcpgate/internal/authserver"
)

// describeResource tells the consent and device pages what an application approved for a
// route will do as the user: the route, its tools, its policy and whether the gateway
// acts as the user upstream (on-behalf-of, token exchange, a personal connection).
func (a *App) describeResource(_ context.Context, resource, _ string, _ []string) (authserver.ResourceView, bool) {
	for _, r := range a.cfg.Routes {
		if a.base+r.Path != resource {
			continue
		}
		v := authserver.ResourceView{Name: r.Name, AllTools: true}
		if t := r.Tools; t != nil {
			if len(t.Include) > 0 {
				v.AllTools = false
				v.Tools = append(v.Tools, t.Include...)
			}
			if len(t.Exclude) > 0 {
				v.Policy = "never the tools " + strings.Join(t.Exclude, ", ")
			}
		}
		if p := r.Policy; p != nil && (len(p.Rules) > 0 || len(p.Include) > 0) {
			var names []string
			for _, rl := range p.Rules {
				names = append(names, rl.Name)
			}
			s := "each call is checked against the server's policy"
			if len(names) > 0 {
				s += " (rules " + strings.Join(names, ", ") + ")"
			}
			if p.Default == "deny" {
				s += "; what no rule allows is refused"
			}
			v.Policy = strings.TrimPrefix(strings.Join([]string{v.Policy, s}, "; "), "; ")
		}
		if ua := r.UpstreamAuth; ua != nil {
			switch {
			case ua.OBO != nil:
				v.Upstream = "The gateway exchanges your sign-in for a Microsoft Entra token (on-behalf-of) and calls " + r.Name + " as you."
			case ua.TokenExchange != nil:
				v.Upstream = "The gateway exchanges your sign-in for a token of " + r.Name + "'s identity provider (token exchange) and calls it as you."
			case ua.Connection != nil:
				v.Upstream = "The gateway uses your personal connection to " + r.Name + "'s service (My connections) and calls it as you."
			case ua.Passthrough:
				v.Upstream = "The gateway forwards your access token to " + r.Name + ", which sees you as the caller."
			case ua.GatewayJWT != nil:
				v.Upstream = "The gateway tells " + r.Name + " who you are in a token it signs."
			}
		}
		return v, true
	}
	return authserver.ResourceView{}, false
}
