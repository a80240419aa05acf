package authserver

import (
	"context"
	"errors"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/mcpgate/mcpgate/internal/clip"
	"github.com/mcpgate/mcpgate/internal/store"
)

// SessionRevalidator is a connector whose users' access lasts only as long as their sign-in
// at an upstream identity provider (internal/authserver/federation). The refresh grant asks
// it before issuing tokens. Revalidate returns nil (still valid — possibly after asking the
// provider, the stored identity then updated), ErrUnknownUser (not its user), an error
// wrapping ErrSessionEnded (the refresh is refused and the sign-in revoked with its access
// tokens, on every replica), or another error (technical: the refresh fails, nothing is
// revoked).
type SessionRevalidator interface {
	Revalidate(ctx context.Context, userID string) error
}

// ErrSessionEnded: the upstream identity provider says the user or their session is gone,
// or it could not confirm the sign-in for longer than the connector allows.
var ErrSessionEnded = errors.New("the sign-in at the identity provider ended")

// revalidate asks the connector of t's user whether the sign-in still holds at the
// identity provider; a nil *oidc.Error means yes.
func (s *Server) revalidate(ctx context.Context, t store.RefreshToken) error {
	for _, c := range s.opts.Connectors {
		rv, ok := c.(SessionRevalidator)
		if !ok {
			continue
		}
		err := rv.Revalidate(ctx, t.UserID)
		switch {
		case errors.Is(err, ErrUnknownUser):
			continue
		case err == nil:
			return nil
		case errors.Is(err, ErrSessionEnded):
			n, at := s.revokeFamily(ctx, t.FamilyID)
			s.log.WarnContext(ctx, "refresh refused: the user's sign-in at the identity provider ended; the sign-in is revoked", "connector", c.ID(),
				"sub", t.UserID, "client_id", clip.String(t.ClientID), "family", t.FamilyID, "revoked", n, "revoked_access_tokens", at, "err", err)
			desc := oauthText(err.Error() + "; sign in again")
			noteError(ctx, desc)
			return oidc.ErrInvalidGrant().WithDescription("%s", desc)
		default:
			return s.internalError(ctx, "checking the user's sign-in at the identity provider failed", err)
		}
	}
	return nil
}
