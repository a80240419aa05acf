package config

// The sections below belong to later subsystems; each is filled in, defaulted and
// validated in its own file as the subsystem lands.

// AuthServer configures mcpgate's own authorization server (see authserver.go).
type AuthServer struct {
	// Issuer is the authorization server's issuer URL. Default: publicURL.
	Issuer string `yaml:"issuer,omitempty" json:"issuer,omitempty"`
}

// Entra configures the Entra ID compatible profile (see entra.go).
type Entra struct{}

// Rule is one named policy rule (see policy.go).
type Rule struct {
	Name string `yaml:"name" json:"name"`
}

// RoutePolicy is a route's policy (see policy.go).
type RoutePolicy struct{}

// ToolFilter trims and renames tools (see policy.go).
type ToolFilter struct{}

// RateLimit limits request rates (see policy.go).
type RateLimit struct{}

// AuditArguments opts a route into recording tool arguments (see audit.go).
type AuditArguments struct{}

// Audit configures audit sinks (see audit.go).
type Audit struct{}

// UpstreamAuth says how the upstream credential is obtained (see upstream.go).
type UpstreamAuth struct {
	// Passthrough forwards the caller's own token upstream. The MCP specification forbids
	// this; it is here only for upstreams that cannot be changed, and config validate
	// warns about it.
	Passthrough bool `yaml:"passthrough,omitempty" json:"passthrough,omitempty"`
}
