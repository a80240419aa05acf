package doctor

import (
	"slices"
	"strings"

	"github.com/mcpgate/mcpgate/internal/config"
)

// StepPolicyScopes compares the scopes a route's policy require rules demand with the scopes
// its protected resource metadata advertises (policy-scopes/ROUTE).
const StepPolicyScopes = "policy-scopes"

// checkPolicyScopes: a require rule answers 403 insufficient_scope naming its scopes; a
// client can only get them when it asks for them, and clients ask for what the protected
// resource metadata advertises (scopes_supported) or, at best, step up after the 403. With
// mcpgate's own authorization server and a fixed authServer.scopes list, a scope no route
// names is silently dropped from the step-up request too.
func checkPolicyScopes(r *Report, cfg *config.Config, rt config.Route) {
	if rt.Policy == nil {
		return
	}
	rules := []config.Rule{}
	for _, name := range rt.Policy.Include {
		rules = append(rules, cfg.RuleSets[name]...)
	}
	rules = append(rules, rt.Policy.Rules...)
	var required []string
	by := map[string]string{}
	for _, ru := range rules {
		if ru.Effect() != "require" {
			continue
		}
		for _, s := range ru.Scopes {
			if !slices.Contains(required, s) {
				required = append(required, s)
				by[s] = ru.Name
			}
		}
	}
	if len(required) == 0 {
		return
	}
	id := StepPolicyScopes + "/" + rt.Name
	advertised := rt.Auth.ScopesSupported
	if len(advertised) == 0 {
		advertised = rt.Auth.Scopes
	}
	has := func(list []string, s string) bool {
		return slices.ContainsFunc(list, func(a string) bool {
			return a == s || (strings.Contains(a, "://") && strings.HasSuffix(a, "/"+s))
		})
	}
	var missing []string
	for _, s := range required {
		if !has(advertised, s) {
			missing = append(missing, s)
		}
	}
	if len(missing) == 0 {
		r.ok(id, "route "+rt.Name+": the scopes policy requires ("+strings.Join(required, ", ")+") are advertised in its metadata")
		return
	}
	var named []string
	for _, s := range missing {
		named = append(named, s+" (rule "+by[s]+")")
	}
	ownAS := len(rt.Auth.Issuers) == 0 && cfg.AuthServer != nil
	if ownAS && len(cfg.AuthServer.Scopes) > 0 {
		var known []string
		known = append(known, cfg.AuthServer.Scopes...)
		for _, o := range cfg.Routes {
			known = append(known, o.Auth.Scopes...)
			known = append(known, o.Auth.ScopesSupported...)
		}
		var refused []string
		for _, s := range missing {
			if !slices.Contains(known, s) {
				refused = append(refused, s)
			}
		}
		if len(refused) > 0 {
			r.fail(id, "route "+rt.Name+": policy requires "+strings.Join(named, ", ")+", which mcpgate's authorization server does not know (authServer.scopes and the routes' scopes): it drops the scope from every request without an error, so the 403 insufficient_scope can never be resolved, even by a client that steps up",
				"add "+strings.Join(refused, " ")+" to the route's auth.scopesSupported (the authorization server then accepts it and clients are told to ask for it)")
			return
		}
	}
	r.warn(id, "route "+rt.Name+": policy requires "+strings.Join(named, ", ")+", but its metadata advertises only "+orNone(strings.Join(advertised, " "))+": clients sign in without it and get 403 insufficient_scope at the tool; only clients that step up recover",
		"add "+strings.Join(missing, " ")+" to auth.scopesSupported (auth.scopes stays the minimum every token needs)")
}
