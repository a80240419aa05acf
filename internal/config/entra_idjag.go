package config

import "strconv"

// EntraIDJAGGrant allows one app to obtain ID-JAGs from the Entra emulator for one resource
// authorization server (docs/enterprise-managed-authorization.md).
type EntraIDJAGGrant struct {
	// Client is the app (client id or name); it must be confidential (a secret or certificate).
	Client string `yaml:"client" json:"client"`
	// Audience is the resource authorization server's issuer URL.
	Audience string `yaml:"audience" json:"audience"`
	// Resources are the MCP server URLs the app may name. Empty: only requests without a resource.
	Resources []string `yaml:"resources,omitempty" json:"resources,omitempty"`
	// Scopes bound the scopes of the ID-JAG (empty: the requested ones, unchecked).
	Scopes []string `yaml:"scopes,omitempty" json:"scopes,omitempty"`
}

func init() {
	extensionValidators = append(extensionValidators, func(c *Config, p *Problems) {
		if c.Entra == nil {
			return
		}
		for i, t := range c.Entra.Tenants {
			for j, g := range t.IDJAGGrants {
				path := "entra.tenants[" + strconv.Itoa(i) + "].idJagGrants[" + strconv.Itoa(j) + "]"
				if g.Client == "" {
					p.Add(path+".client", "is required: the app (client id or name)")
				}
				if g.Audience == "" {
					p.Add(path+".audience", "is required: the resource authorization server's issuer URL")
				}
			}
		}
	})
}
