package authserver

import (
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/mcpgate/mcpgate/internal/store"
)

// authRequest adapts store.AuthRequest to op.AuthRequest.
type authRequest struct {
	a   store.AuthRequest
	aud []string // set by applyAudience when a token is minted
	// accessTokenDone is set once the access token's claims were built (op calls
	// GetPrivateClaimsFromRequest after reading the audience); from then on GetAudience
	// answers for the ID token, whose audience is the client alone, so that an ID token
	// can never pass as an access token for the resource.
	accessTokenDone bool
}

func (r *authRequest) GetID() string                      { return r.a.ID }
func (r *authRequest) GetACR() string                     { return "" }
func (r *authRequest) GetAMR() []string                   { return r.a.AMR }
func (r *authRequest) GetAuthTime() time.Time             { return r.a.AuthTime }
func (r *authRequest) GetClientID() string                { return r.a.ClientID }
func (r *authRequest) GetNonce() string                   { return r.a.Nonce }
func (r *authRequest) GetRedirectURI() string             { return r.a.RedirectURI }
func (r *authRequest) GetResponseType() oidc.ResponseType { return oidc.ResponseType(r.a.ResponseType) }
func (r *authRequest) GetResponseMode() oidc.ResponseMode { return oidc.ResponseMode(r.a.ResponseMode) }
func (r *authRequest) GetScopes() []string                { return r.a.Scopes }
func (r *authRequest) GetState() string                   { return r.a.State }
func (r *authRequest) GetSubject() string                 { return r.a.UserID }
func (r *authRequest) Done() bool                         { return r.a.Done }
func (r *authRequest) GetAudience() []string {
	if r.accessTokenDone {
		return []string{r.a.ClientID}
	}
	if r.aud != nil {
		return r.aud
	}
	return r.a.Resources
}
func (r *authRequest) GetCodeChallenge() *oidc.CodeChallenge {
	if r.a.CodeChallenge == "" {
		return nil
	}
	return &oidc.CodeChallenge{Challenge: r.a.CodeChallenge, Method: oidc.CodeChallengeMethod(r.a.CodeChallengeMethod)}
}

// refreshRequest adapts store.RefreshToken to op.RefreshTokenRequest.
type refreshRequest struct {
	t               store.RefreshToken
	aud             []string
	accessTokenDone bool // see authRequest
}

func (r *refreshRequest) GetAMR() []string            { return r.t.AMR }
func (r *refreshRequest) GetAuthTime() time.Time      { return r.t.AuthTime }
func (r *refreshRequest) GetClientID() string         { return r.t.ClientID }
func (r *refreshRequest) GetScopes() []string         { return r.t.Scopes }
func (r *refreshRequest) GetSubject() string          { return r.t.UserID }
func (r *refreshRequest) SetCurrentScopes(s []string) { r.t.Scopes = s }
func (r *refreshRequest) GetAudience() []string {
	if r.accessTokenDone {
		return []string{r.t.ClientID}
	}
	if r.aud != nil {
		return r.aud
	}
	return r.t.Audience
}

// clientCredentialsRequest is the token request of the client_credentials grant: the
// subject is the client itself.
type clientCredentialsRequest struct {
	clientID string
	scopes   []string
	aud      []string
}

func (r *clientCredentialsRequest) GetSubject() string    { return r.clientID }
func (r *clientCredentialsRequest) GetAudience() []string { return r.aud }
func (r *clientCredentialsRequest) GetScopes() []string   { return r.scopes }

// opClient adapts store.Client to op.Client. Clients are in op's "dev mode" so that op
// matches redirect URIs exactly for http too (registration already restricted them to
// https or loopback http).
type opClient struct {
	c            store.Client
	serverScopes []string // Options.Scopes; empty = any scope
}

func (c *opClient) GetID() string                    { return c.c.ID }
func (c *opClient) RedirectURIs() []string           { return c.c.RedirectURIs }
func (c *opClient) PostLogoutRedirectURIs() []string { return c.c.PostLogoutRedirectURIs }
func (c *opClient) ApplicationType() op.ApplicationType {
	if c.c.Public() {
		// Public clients are native apps: op then matches a registered loopback IP redirect
		// URI with any port, as OAuth 2.1 §8.4.2 and RFC 8252 §7.3 require (native clients
		// bind an ephemeral port at sign-in time). Scheme, host, path and query still match
		// exactly, and non-loopback redirect URIs match exactly.
		return op.ApplicationTypeNative
	}
	return op.ApplicationTypeWeb
}
func (c *opClient) AuthMethod() oidc.AuthMethod {
	if c.c.Public() {
		return oidc.AuthMethodNone
	}
	if c.c.AuthMethod == AuthMethodPrivateKeyJWT {
		// handleToken verified the assertion and passes the request on as client_id with
		// an empty client_secret_post secret; authenticate accepts it for this client only.
		return oidc.AuthMethodPost
	}
	return oidc.AuthMethodBasic
}
func (c *opClient) ResponseTypes() []oidc.ResponseType {
	return []oidc.ResponseType{oidc.ResponseTypeCode}
}
func (c *opClient) GrantTypes() []oidc.GrantType {
	out := make([]oidc.GrantType, 0, len(c.c.GrantTypes))
	for _, g := range c.c.GrantTypes {
		out = append(out, oidc.GrantType(g))
	}
	return out
}
func (c *opClient) LoginURL(id string) string           { return PathLogin + "?authRequestID=" + id }
func (c *opClient) AccessTokenType() op.AccessTokenType { return op.AccessTokenTypeJWT }
func (c *opClient) IDTokenLifetime() time.Duration      { return time.Hour }
func (c *opClient) DevMode() bool                       { return true }
func (c *opClient) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (c *opClient) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (c *opClient) IsScopeAllowed(scope string) bool {
	if len(c.c.Scopes) > 0 {
		return contains(c.c.Scopes, scope)
	}
	return len(c.serverScopes) == 0 || contains(c.serverScopes, scope)
}
func (c *opClient) IDTokenUserinfoClaimsAssertion() bool { return false }
func (c *opClient) ClockSkew() time.Duration             { return 0 }
