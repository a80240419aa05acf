package federation

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/mcpgate/mcpgate/internal/audit"
	"github.com/mcpgate/mcpgate/internal/authserver"
	"github.com/mcpgate/mcpgate/internal/config"
	"github.com/mcpgate/mcpgate/internal/secrets"
	"github.com/mcpgate/mcpgate/internal/upstream"
)

// Deps are what NewSet needs besides the connectors' sections.
type Deps struct {
	// Store keeps the sealed upstream tokens (the same ConnectionStore as upstream.Build's).
	Store upstream.ConnectionStore
	// Keys seal them (the same keyring as upstreamCredentials.secrets).
	Keys *secrets.Keyring
	// HTTPClient overrides the SSRF-guarded default (tests).
	HTTPClient *http.Client
	// Issuer is mcpgate's issuer (error explanations name {issuer}/login/callback; tokens
	// it minted are never presented to an IdP). The caller resolves its default
	// (internal/app: authServer.issuer, else publicURL).
	Issuer string
	// PolicyClaims are the user attributes policy rules read (PolicyClaims), warned
	// about when a sign-in lacks them.
	PolicyClaims []string
	// Audit records sign-ins that lack mapped claims. Optional.
	Audit  func(audit.Event)
	Logger *slog.Logger
	Now    func() time.Time
}

// Set is the configured connectors.
type Set struct {
	Connectors []*Connector
	// issuer is mcpgate's own issuer: tokens it minted are never presented to an IdP.
	issuer string
}

// NewSet builds a connector for each section, all sharing d.
func NewSet(connectors []config.AuthServerConnector, d Deps) (*Set, error) {
	s := &Set{}
	for _, cc := range connectors {
		c, err := New(Options{Config: cc, Store: d.Store, Keys: d.Keys, HTTPClient: d.HTTPClient, Issuer: d.Issuer, Logger: d.Logger, Now: d.Now, PolicyClaims: d.PolicyClaims, Audit: d.Audit})
		if err != nil {
			s.Close()
			return nil, err
		}
		s.Connectors = append(s.Connectors, c)
	}
	s.issuer = d.Issuer
	return s, nil
}

// AuthConnectors returns the connectors for authserver.Options.Connectors.
func (s *Set) AuthConnectors() []authserver.Connector {
	out := make([]authserver.Connector, 0, len(s.Connectors))
	for _, c := range s.Connectors {
		out = append(out, c)
	}
	return out
}

// For returns the connector whose users include subject.
func (s *Set) For(subject string) *Connector {
	for _, c := range s.Connectors {
		if c.Owns(subject) {
			return c
		}
	}
	return nil
}

// SubjectToken is the upstream.AssertionSource for upstream.BuildOptions.SubjectToken:
// the obo assertion and the tokenExchange subject token in bridge mode. For a principal
// signed in through a connector (who holds an mcpgate token) it is the user's upstream
// access token, refreshed when needed; for any other principal "" (the caller's own token
// is used: direct mode).
func (s *Set) SubjectToken(ctx context.Context, req upstream.Request) (string, error) {
	if s == nil || req.Principal == nil {
		return "", nil
	}
	c := s.For(req.Principal.Subject)
	if c == nil {
		if len(s.Connectors) > 0 && s.issuer != "" && strings.TrimRight(req.Principal.Issuer, "/") == strings.TrimRight(s.issuer, "/") {
			// Signed in with a local account: the caller's token is mcpgate's own and means
			// nothing to the IdP, so it is never sent there as an assertion.
			var names []string
			for _, c := range s.Connectors {
				names = append(names, `"Sign in with `+c.Name()+`"`)
			}
			return "", &upstream.Failure{Mode: "federation", Reason: upstream.ReasonNoUpstreamIdentity, Permanent: true,
				Description: "this tool acts as you at your organisation's identity provider, and you signed in with a local account, which has no token there; " +
					"sign out of this client (or delete its saved sign-in) and sign in again choosing " + strings.Join(names, " or ")}
		}
		// Direct mode: the caller's token comes from the IdP itself and is the assertion.
		return "", nil
	}
	t, err := c.UpstreamToken(ctx, req.Principal.Subject)
	if errors.Is(err, ErrSignInAgain) {
		return "", &upstream.Failure{Mode: "federation " + c.ID(), Reason: upstream.ReasonNoCallerToken, Permanent: true, Description: err.Error(), Err: err}
	}
	return t, err
}

// Close stops background key refreshes.
func (s *Set) Close() error {
	for _, c := range s.Connectors {
		c.Close()
	}
	return nil
}
