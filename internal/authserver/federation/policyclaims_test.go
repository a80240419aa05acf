package federation_test

import (
	"strings"
	"testing"

	"github.com/mcpgate/mcpgate/internal/config"
)

// TestPolicyClaimsWarning: a user who signs in without an attribute that a policy rule reads
// is warned about (log), naming the missing attribute.
func TestPolicyClaimsWarning(t *testing.T) {
	e, idp := goEnv(t, func(c *config.Config) {
		c.Routes[0].Policy = &config.RoutePolicy{Rules: []config.Rule{{Name: "staff", Allow: `user.email.endsWith("@example.org") && "admins" in user.groups`}}}
	})
	signInTokens(t, e)
	if strings.Contains(e.logs.String(), "lacks attributes") {
		t.Fatalf("warned about a complete user:\n%s", e.logs.String())
	}
	idp.set(func(p *goIdP) { p.users["dana"].Email, p.users["dana"].Groups = "", nil })
	signInTokens(t, e)
	if !strings.Contains(e.logs.String(), `lacks attributes that policy rules read`) || !strings.Contains(e.logs.String(), "missing=email,groups") {
		t.Fatalf("no warning:\n%s", e.logs.String())
	}
}
