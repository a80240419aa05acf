package federation

import (
	"fmt"
	"slices"
	"strings"

	"github.com/mcpgate/mcpgate/internal/authserver"
	"github.com/mcpgate/mcpgate/internal/config"
)

// mapClaims turns verified id_token claims into the mcpgate user; lookedUp are groups found
// outside the token (the Graph overage lookup), mapped like the groups claim. The subject is
// "<connector id>:<user key>"; for Entra the key is "<tid>:<oid>" (oid is stable across
// the tenant's apps, sub is pairwise per app), elsewhere the sub claim.
func (c *Connector) mapClaims(claims map[string]any, lookedUp ...string) (authserver.Identity, error) {
	m := c.cfg.Claims
	entra := c.cfg.Type == config.ConnectorEntra
	var key string
	switch {
	case m.Subject != "":
		key = claimString(claims, m.Subject)
		if key == "" {
			return authserver.Identity{}, fmt.Errorf("the id_token has no %q claim, which claims.subject names as the user key", m.Subject)
		}
	case entra:
		tid, oid := claimString(claims, "tid"), claimString(claims, "oid")
		if tid == "" || oid == "" {
			return authserver.Identity{}, fmt.Errorf("the Entra id_token lacks tid or oid (add the profile scope)")
		}
		key = strings.ToLower(tid) + ":" + strings.ToLower(oid)
	default:
		key = claimString(claims, "sub")
		if key == "" {
			return authserver.Identity{}, fmt.Errorf("the id_token has no sub claim")
		}
	}
	id := authserver.Identity{UserID: c.cfg.ID + ":" + key}
	id.Username = first(claims, m.Username, "preferred_username", "upn", "email")
	id.Email = first(claims, m.Email, "email")
	if id.Email == "" && entra {
		// Entra: preferred_username/upn is the sign-in address (not verified mail).
		id.Email = first(claims, "", "preferred_username", "upn")
	}
	id.Name = first(claims, m.Name, "name")
	groupsClaim, rolesClaim := orDefault(m.Groups, "groups"), orDefault(m.Roles, "roles")
	if c.cfg.Type == config.ConnectorKeycloak && m.Roles == "" {
		rolesClaim = "realm_access.roles"
	}
	upstream := append(claimStrings(claims, groupsClaim), claimStrings(claims, rolesClaim)...)
	upstream = append(upstream, lookedUp...)
	if entra && overage(claims) && !c.graphLookup() {
		// Group overage: more groups than fit in a token. Entra points at a Graph
		// getMemberObjects call instead, which mcpgate makes only with graphGroupLookup.
		c.log.Warn("Entra group overage: the id_token lists no groups (the user is in more groups than fit in a token) and graphGroupLookup is off, so the user has no groups; set entra.graphGroupLookup: true, or use app roles or 'Groups assigned to the application' (docs/entra.md)",
			"sub", id.UserID)
	}
	id.Groups = c.mapGroups(upstream)
	return id, nil
}

// mapGroups applies groupMapping (and dropUnmappedGroups).
func (c *Connector) mapGroups(in []string) []string {
	var out []string
	add := func(g string) {
		if g != "" && !slices.Contains(out, g) {
			out = append(out, g)
		}
	}
	for _, g := range in {
		to, ok := c.cfg.GroupMapping[g]
		if !ok {
			for k, v := range c.cfg.GroupMapping {
				if strings.EqualFold(k, g) {
					to, ok = v, true
					break
				}
			}
		}
		if ok {
			for _, t := range to {
				add(t)
			}
		} else if !c.cfg.DropUnmappedGroups {
			add(g)
		}
	}
	return out
}

func orDefault(v, d string) string {
	if v != "" {
		return v
	}
	return d
}

// first returns the first non-empty claim among the configured one (if set) or the defaults.
func first(claims map[string]any, configured string, defaults ...string) string {
	if configured != "" {
		return claimString(claims, configured)
	}
	for _, d := range defaults {
		if v := claimString(claims, d); v != "" {
			return v
		}
	}
	return ""
}

// lookup follows a dotted path (realm_access.roles); a claim whose name contains dots
// wins over the path.
func lookup(claims map[string]any, path string) any {
	if v, ok := claims[path]; ok {
		return v
	}
	var cur any = claims
	for _, part := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[part]
	}
	return cur
}

func claimString(claims map[string]any, path string) string {
	switch v := lookup(claims, path).(type) {
	case string:
		return v
	case float64:
		return fmt.Sprint(int64(v))
	}
	return ""
}

func claimStrings(claims map[string]any, path string) []string {
	switch v := lookup(claims, path).(type) {
	case string:
		return strings.Fields(v)
	case []any:
		var out []string
		for _, x := range v {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
		return out
	case []string:
		return v
	}
	return nil
}
