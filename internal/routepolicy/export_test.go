package routepolicy

import "github.com/mcpgate/mcpgate/internal/authz"

// Authz is the route's compiled policy (benchmarks compare against it).
func (ic *Interceptor) Authz() *authz.Route { return ic.authz }

// WithMessage sets the mcp variables of v from m.
var WithMessage = withMessage
