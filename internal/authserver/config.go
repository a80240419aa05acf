package authserver

import (
	"github.com/mcpgate/mcpgate/internal/config"
)

// OptionsFromConfig maps the authServer section onto Options. The caller adds Store,
// Logger and Resources (the URLs of the routes it serves).
func OptionsFromConfig(c *config.Config) Options {
	a := c.AuthServer
	if a == nil {
		a = &config.AuthServer{}
	}
	o := Options{
		Issuer:                          a.Issuer,
		Scopes:                          a.Scopes,
		SigningAlgorithm:                a.SigningAlgorithm,
		KeyRotation:                     a.KeyRotation.D(),
		KeyOverlap:                      a.KeyOverlap.D(),
		AccessTokenLifetime:             a.AccessTokenLifetime.D(),
		RefreshTokenLifetime:            a.RefreshTokenLifetime.D(),
		AuthRequestLifetime:             a.AuthRequestLifetime.D(),
		DeviceCodeLifetime:              a.DeviceCodeLifetime.D(),
		SessionLifetime:                 a.SessionLifetime.D(),
		ConsentLifetime:                 a.ConsentLifetime.D(),
		DynamicClientLifetime:           a.Registration.ClientLifetime.D(),
		Registration:                    a.Registration.Policy,
		RegistrationAllowedHosts:        a.Registration.AllowedHosts,
		RegistrationsPerIPPerHour:       a.Registration.MaxPerIPPerHour,
		RegistrationsPerLoopbackPerHour: a.Registration.MaxPerLoopbackPerHour,
		TrustedClients:                  a.TrustedClients,
		AllowInsecureHTTP:               a.AllowInsecureHTTP,
		CIMD: CIMDOptions{
			Disabled:              a.ClientMetadataDocuments.Disabled,
			AllowPrivateAddresses: a.ClientMetadataDocuments.AllowPrivateAddresses,
			MaxBytes:              int64(a.ClientMetadataDocuments.MaxSize),
			Timeout:               a.ClientMetadataDocuments.Timeout.D(),
			CacheTTL:              a.ClientMetadataDocuments.CacheTTL.D(),
		},
		LoginRateLimit: LoginRateLimit{
			MaxFailuresPerUser: a.LoginRateLimit.MaxFailuresPerUser,
			MaxFailuresPerIP:   a.LoginRateLimit.MaxFailuresPerIP,
			Window:             a.LoginRateLimit.Window.D(),
		},
	}
	if o.Issuer == "" {
		o.Issuer = c.PublicURL
	}
	idjagOptionsFromConfig(a, &o)
	for _, cl := range a.Clients {
		o.Clients = append(o.Clients, StaticClient{ID: cl.ID, Name: cl.Name, Secret: cl.Secret, RedirectURIs: cl.RedirectURIs,
			GrantTypes: cl.GrantTypes, Scopes: cl.Scopes, Trusted: cl.Trusted})
	}
	for _, u := range a.Users {
		o.Users = append(o.Users, ConfigUser{Username: u.Username, Email: u.Email, Name: u.Name, PasswordHash: u.PasswordHash, Groups: u.Groups})
	}
	return o
}
