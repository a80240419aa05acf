package federation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/mcpgate/mcpgate/internal/authserver"
	"github.com/mcpgate/mcpgate/internal/config"
	"github.com/mcpgate/mcpgate/internal/store"
	"github.com/mcpgate/mcpgate/internal/upstream"
)

// ErrSignInAgain: mcpgate holds no usable upstream token for the user (never stored,
// refresh refused, or sealed with a key no longer configured); the user must sign in
// through mcpgate again.
var ErrSignInAgain = errors.New("the user's upstream sign-in is missing or expired: sign in to mcpgate again")

// record is what is sealed per user and connector.
type record struct {
	Identity     authserver.Identity `json:"identity"`
	AccessToken  string              `json:"accessToken"`
	RefreshToken string              `json:"refreshToken,omitempty"`
	Expiry       time.Time           `json:"expiry,omitzero"`
	Scope        string              `json:"scope,omitempty"`
}

// StoreProvider is the provider name under which a connector's tokens are stored in the
// upstream.ConnectionStore ("idp:<connector id>").
func StoreProvider(connectorID string) string { return "idp:" + connectorID }

func (c *Connector) aad(subject string) []byte {
	return []byte("mcpgate-federation\x00" + c.cfg.ID + "\x00" + subject)
}

// save seals the tokens and identity for the user (replacing what was stored).
func (c *Connector) save(ctx context.Context, ident authserver.Identity, tr tokenResponse, keepRefresh string) error {
	rec := record{Identity: ident, AccessToken: tr.AccessToken, RefreshToken: tr.RefreshToken, Scope: tr.Scope}
	if rec.RefreshToken == "" {
		rec.RefreshToken = keepRefresh
	}
	if tr.ExpiresIn > 0 {
		rec.Expiry = c.now().Add(time.Duration(tr.ExpiresIn) * time.Second)
	}
	raw, _ := json.Marshal(rec)
	sealed, err := c.opts.Keys.Seal(raw, c.aad(ident.UserID))
	if err != nil {
		return err
	}
	for range 5 {
		old, err := c.opts.Store.GetConnection(ctx, ident.UserID, StoreProvider(c.cfg.ID))
		var ver int64
		created := c.now()
		switch {
		case err == nil:
			ver, created = old.Version, old.CreatedAt
		case errors.Is(err, store.ErrNotFound):
		default:
			return err
		}
		now := c.now()
		err = c.opts.Store.CompareAndSwapConnection(ctx, ver, store.Connection{Subject: ident.UserID, Provider: StoreProvider(c.cfg.ID),
			Version: ver + 1, Status: upstream.StatusActive, Sealed: sealed, Scope: tr.Scope, ExpiresAt: rec.Expiry, CreatedAt: created, UpdatedAt: now})
		if !errors.Is(err, store.ErrConflict) {
			return err
		}
	}
	return store.ErrConflict
}

// load opens the user's record.
func (c *Connector) load(ctx context.Context, subject string) (record, store.Connection, error) {
	sc, err := c.opts.Store.GetConnection(ctx, subject, StoreProvider(c.cfg.ID))
	if err != nil {
		return record{}, sc, err
	}
	raw, err := c.opts.Keys.Open(sc.Sealed, c.aad(subject))
	if err != nil {
		return record{}, sc, fmt.Errorf("opening the sealed upstream tokens of %s: %w", subject, err)
	}
	var rec record
	if err := json.Unmarshal(raw, &rec); err != nil {
		return record{}, sc, err
	}
	return rec, sc, nil
}

// Owns reports whether subject is a user of this connector.
func (c *Connector) Owns(subject string) bool { return strings.HasPrefix(subject, c.cfg.ID+":") }

// Lookup implements authserver.IdentityLookup: the identity stored at the last sign-in.
func (c *Connector) Lookup(ctx context.Context, subject string) (authserver.Identity, error) {
	if !c.Owns(subject) {
		return authserver.Identity{}, authserver.ErrUnknownUser
	}
	rec, _, err := c.load(ctx, subject)
	if errors.Is(err, store.ErrNotFound) {
		return authserver.Identity{}, authserver.ErrUnknownUser
	}
	if err != nil {
		return authserver.Identity{}, err
	}
	return rec.Identity, nil
}

// UpstreamToken returns the user's upstream access token (for Entra: a token for
// mcpgate's own app, the On-Behalf-Of assertion), refreshed with the stored refresh token
// when it expires within RefreshSkew. ErrSignInAgain when there is none or the provider
// refused the refresh.
func (c *Connector) UpstreamToken(ctx context.Context, subject string) (string, error) {
	rec, _, err := c.load(ctx, subject)
	if errors.Is(err, store.ErrNotFound) {
		return "", ErrSignInAgain
	}
	if err != nil {
		return "", err
	}
	if c.fresh(rec) {
		return rec.AccessToken, nil
	}
	c.refresh.Lock()
	defer c.refresh.Unlock()
	if rec, _, err = c.load(ctx, subject); err != nil { // another call may have refreshed
		return "", err
	}
	if c.fresh(rec) {
		return rec.AccessToken, nil
	}
	if rec.RefreshToken == "" {
		return "", ErrSignInAgain
	}
	ep, err := c.endpoints(ctx)
	if err != nil {
		return "", err
	}
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rec.RefreshToken}}
	if c.cfg.Type == config.ConnectorEntra {
		// Entra's v2 endpoint wants the scopes again; elsewhere omitting scope keeps the
		// granted ones (RFC 6749 section 6), which avoids asking for a scope the provider
		// dropped (offline_access without consent in oidc-provider).
		form.Set("scope", strings.Join(c.scope, " "))
	}
	tr, err := c.tokenRequest(ctx, ep.TokenURL, form)
	if err != nil {
		var ue *authserver.UpstreamError
		if errors.As(err, &ue) && (ue.Code == "invalid_grant" || ue.Code == "interaction_required") {
			// Forget the user: Lookup then fails, so mcpgate's session and refresh tokens
			// stop working and the next sign-in goes to the provider again.
			c.log.WarnContext(ctx, "upstream refresh refused; the user must sign in again", "sub", subject, "code", ue.LogCode)
			if ferr := c.Forget(ctx, subject); ferr != nil {
				c.log.ErrorContext(ctx, "forgetting the refused upstream tokens failed", "sub", subject, "err", ferr)
			}
			return "", fmt.Errorf("%w (%s)", ErrSignInAgain, ue.LogCode)
		}
		return "", fmt.Errorf("refreshing the upstream token: %w", err)
	}
	if err := c.save(ctx, rec.Identity, tr, rec.RefreshToken); err != nil {
		return "", err
	}
	c.log.InfoContext(ctx, "upstream token refreshed", "sub", subject, "rotated", tr.RefreshToken != "" && tr.RefreshToken != rec.RefreshToken)
	return tr.AccessToken, nil
}

func (c *Connector) fresh(rec record) bool {
	return rec.AccessToken != "" && (rec.Expiry.IsZero() || c.now().Add(c.opts.RefreshSkew).Before(rec.Expiry))
}

// Forget deletes the stored tokens of the user (sign-out, user removal).
func (c *Connector) Forget(ctx context.Context, subject string) error {
	return c.opts.Store.DeleteConnection(ctx, subject, StoreProvider(c.cfg.ID))
}
