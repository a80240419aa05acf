package authserver

import (
	"context"
	"net/url"

	"github.com/mcpgate/mcpgate/internal/store"
)

// ResourceView says, for the consent page, what an application approved for a resource
// (an MCP route URL) will do as the user. The gateway fills it from the route's
// configuration and policy (SetResourceDescriber); without a describer the page shows
// the resource URL and the scopes only.
type ResourceView struct {
	// URL is the resource (route URL); Name the route's name.
	URL, Name string
	// Tools are the tools the user may call there under the route's policy; AllTools
	// means no tool filter applies.
	Tools    []string
	AllTools bool
	// Upstream says how the route reaches its server as the user ("" = with the
	// gateway's own credentials): e.g. "exchanges your sign-in for a Contoso token
	// (on-behalf-of)".
	Upstream string
	// Policy is a one-line summary of the route's policy ("" when none).
	Policy string
}

// ResourceDescriber describes resource for the signed-in user (subject, groups as the
// session knows them).
type ResourceDescriber func(ctx context.Context, resource, subject string, groups []string) (ResourceView, bool)

// SetResourceDescriber makes the consent and device pages say what an approved
// application will be able to do on each route.
func (s *Server) SetResourceDescriber(f ResourceDescriber) { s.pages.describe = f }

// clientOperator says who runs a client, as far as this server knows.
func (s *Server) clientOperator(c store.Client) string {
	switch c.Source {
	case "cimd":
		if u, err := url.Parse(c.ID); err == nil && u.Host != "" {
			return "published by " + u.Host + " (its client metadata document is hosted there)"
		}
		return "described by a client metadata document"
	case "dcr":
		return "registered itself with this server (dynamic registration): its name is not verified"
	default:
		return "configured by this server's administrator"
	}
}

// resourceViews describes each resource for the user; routes the describer does not know
// keep their URL.
func (s *Server) resourceViews(ctx context.Context, resources []string, subject string) []ResourceView {
	var groups []string
	if id, err := s.lookupIdentity(ctx, subject); err == nil {
		groups = id.Groups
	}
	out := make([]ResourceView, 0, len(resources))
	for _, r := range resources {
		v := ResourceView{URL: r, AllTools: true}
		if s.pages.describe != nil {
			if d, ok := s.pages.describe(ctx, r, subject, groups); ok {
				v = d
				v.URL = r
			}
		}
		out = append(out, v)
	}
	return out
}
