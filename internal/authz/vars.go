package authz

import (
	"github.com/mcpgate/mcpgate/internal/authn"
	"github.com/mcpgate/mcpgate/internal/authz/ruleexpr"
)

// UserFrom converts a verified principal into the user variable (nil: anonymous). The
// slices and the claims map are shared, not copied.
func UserFrom(p *authn.Principal) ruleexpr.User {
	if p == nil {
		return ruleexpr.User{}
	}
	return ruleexpr.User{Subject: p.Subject, Email: p.Email, Name: p.Name, Groups: p.Groups, Roles: p.Roles,
		Scopes: p.Scopes, Issuer: p.Issuer, TenantID: p.TenantID, Claims: p.Claims}
}
