package federation

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/mcpgate/mcpgate/internal/authserver"
	"github.com/mcpgate/mcpgate/internal/config"
	"github.com/mcpgate/mcpgate/internal/store"
)

func (c *Connector) revalidateAfter() time.Duration {
	if d := c.cfg.RevalidateAfter.D(); d > 0 {
		return d
	}
	return config.DefaultRevalidateAfter
}

func (c *Connector) revalidateGrace() time.Duration {
	if d := c.cfg.RevalidateGrace.D(); d > 0 {
		return d
	}
	return config.DefaultRevalidateGrace
}

// Revalidate implements authserver.SessionRevalidator: the sign-ins of mcpgate are bound to
// the user's sign-in at the provider. When the provider last confirmed it more than
// revalidateAfter ago, Revalidate asks again — it redeems the user's provider refresh token
// (or, without one, reads userinfo with the provider access token) and re-reads claims and
// groups from the answer. It returns an error wrapping authserver.ErrSessionEnded when the
// provider says the grant, session or user is gone (the stored provider tokens are then
// deleted), or when the provider could not be reached for longer than revalidateAfter +
// revalidateGrace; within the grace an unreachable provider is logged and the refresh goes
// on.
func (c *Connector) Revalidate(ctx context.Context, subject string) error {
	if !c.Owns(subject) {
		return authserver.ErrUnknownUser
	}
	rec, sc, err := c.load(ctx, subject)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: mcpgate holds no sign-in of this user at %s any more (signed out or ended there)", authserver.ErrSessionEnded, c.name)
	}
	if err != nil {
		return err
	}
	if c.now().Sub(validatedAt(rec, sc)) < c.revalidateAfter() {
		return nil
	}
	mu := c.userLock(subject)
	mu.Lock()
	defer mu.Unlock()
	if rec, sc, err = c.load(ctx, subject); errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: mcpgate holds no sign-in of this user at %s any more (signed out or ended there)", authserver.ErrSessionEnded, c.name)
	} else if err != nil {
		return err
	}
	last := validatedAt(rec, sc)
	if c.now().Sub(last) < c.revalidateAfter() { // another request confirmed it meanwhile
		return nil
	}
	if rec.RefreshToken != "" {
		_, err = c.upstreamRefresh(ctx, subject, rec)
	} else {
		err = c.userinfo(ctx, subject, rec)
	}
	if err == nil {
		c.log.InfoContext(ctx, "sign-in confirmed by the provider", "sub", subject, "after", c.now().Sub(last).Round(time.Second))
		return nil
	}
	if code, ok := sessionEnded(err); ok {
		c.log.WarnContext(ctx, "the provider ended the user's sign-in; their mcpgate sign-ins end too", "sub", subject, "code", code)
		if ferr := c.Forget(ctx, subject); ferr != nil && !errors.Is(ferr, store.ErrNotFound) {
			c.log.ErrorContext(ctx, "deleting the stored provider tokens failed", "sub", subject, "err", ferr)
		}
		return fmt.Errorf("%w: %s no longer accepts this user's sign-in (%s)", authserver.ErrSessionEnded, c.name, code)
	}
	age, grace := c.now().Sub(last), c.revalidateAfter()+c.revalidateGrace()
	if age < grace {
		c.log.WarnContext(ctx, "the provider could not confirm the user's sign-in; access goes on within the grace", "sub", subject,
			"unconfirmed_for", age.Round(time.Second), "refused_after", grace, "err", err)
		return nil
	}
	c.log.ErrorContext(ctx, "the provider could not confirm the user's sign-in for longer than the grace; refreshes are refused", "sub", subject,
		"unconfirmed_for", age.Round(time.Second), "grace", grace, "err", err)
	return fmt.Errorf("%w: %s could not confirm this sign-in for %s (longer than the %s allowed); sign in again once it is reachable",
		authserver.ErrSessionEnded, c.name, age.Round(time.Minute), grace)
}

func validatedAt(rec record, sc store.Connection) time.Time {
	if !rec.ValidatedAt.IsZero() {
		return rec.ValidatedAt
	}
	return sc.UpdatedAt
}

// userinfo confirms a sign-in without a refresh token: the provider's userinfo endpoint
// answers the stored access token (re-reading the user's claims), or refuses it (the
// session or the token ended). Without a userinfo endpoint the sign-in cannot be confirmed
// and counts as not reachable.
func (c *Connector) userinfo(ctx context.Context, subject string, rec record) error {
	ep, err := c.endpoints(ctx)
	if err != nil {
		return err
	}
	if ep.UserinfoURL == "" {
		return errors.New("the provider issued no refresh token and has no userinfo endpoint: the sign-in cannot be confirmed")
	}
	claims, err := c.fetchUserinfo(ctx, ep.UserinfoURL, rec.AccessToken)
	if err != nil {
		return err
	}
	ident, err := c.mapClaims(claims)
	if err != nil {
		return err
	}
	if ident.UserID != subject {
		return &authserver.UpstreamError{Code: "invalid_token", LogCode: "subject_changed", Description: "userinfo names another user"}
	}
	rec.Identity = ident
	return c.saveRecord(ctx, rec)
}

var _ authserver.SessionRevalidator = (*Connector)(nil)
