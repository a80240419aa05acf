package upstream

import (
	"context"
	"net/http"
	"time"

	"github.com/mcpgate/mcpgate/internal/authn"
)

// Request is what a provider needs to obtain an upstream credential for one call.
type Request struct {
	// Principal is the verified caller (nil on anonymous routes).
	Principal *authn.Principal
	// Token is the caller's raw bearer token: the OBO assertion, the RFC 8693 subject token
	// or the passthrough value. It is never logged or stored; caches key on its hash.
	Token string
	// Route is the route name (logs, audit, cache keys).
	Route string
	// ReturnURL is a same-site path the connect page sends the user back to after linking
	// (optional; added to NeedsUserAction.URL as ?return=).
	ReturnURL string
}

// tokenHash returns the principal's token hash, or hashes the raw token.
func (r Request) tokenHash() string {
	if r.Principal != nil && r.Principal.TokenHash != "" {
		return r.Principal.TokenHash
	}
	if r.Token == "" {
		return ""
	}
	return authn.HashToken(r.Token)
}

func (r Request) subject() string {
	if r.Principal == nil {
		return ""
	}
	return r.Principal.Subject
}

// Credential is what to send upstream.
type Credential struct {
	// Header holds the headers to set on the upstream request (typically Authorization).
	// Set them with Apply, which replaces any value the caller sent.
	Header http.Header
	// Mode is the configured mode name (obo, tokenExchange, ...) for audit.
	Mode string
	// ExpiresAt is when the credential stops being valid (zero: unknown or never).
	ExpiresAt time.Time
	// Cached reports whether the credential came from the exchanged-token cache.
	Cached bool
}

// Apply sets the credential's headers on h, replacing existing values.
func (c Credential) Apply(h http.Header) {
	for k, v := range c.Header {
		h[k] = append([]string(nil), v...)
	}
}

func bearer(token string) http.Header {
	return http.Header{"Authorization": {"Bearer " + token}}
}

// Provider obtains the upstream credential for one request. Errors are *NeedsUserAction,
// *ConsentRequired, *ClaimsChallenge or *Failure (use errors.As).
type Provider interface {
	Credential(ctx context.Context, req Request) (Credential, error)
}

// ProviderFunc adapts a function to Provider.
type ProviderFunc func(ctx context.Context, req Request) (Credential, error)

// Credential calls f.
func (f ProviderFunc) Credential(ctx context.Context, req Request) (Credential, error) {
	return f(ctx, req)
}

// Mode names, as used in configuration and audit.
const (
	ModeOBO               = "obo"
	ModeTokenExchange     = "tokenExchange"
	ModeClientCredentials = "clientCredentials"
	ModeGatewayJWT        = "gatewayJWT"
	ModeStatic            = "static"
	ModePassthrough       = "passthrough"
	ModeConnection        = "connection"
)
