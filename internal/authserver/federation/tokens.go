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
	// ValidatedAt is when the provider last confirmed the sign-in (the sign-in itself, a
	// refresh it granted, userinfo it answered). Zero in records stored before it existed:
	// the connection's UpdatedAt stands in.
	ValidatedAt time.Time `json:"validatedAt,omitzero"`
	// IDToken is the provider's latest id_token: the id_token_hint of RP-initiated logout.
	IDToken string `json:"idToken,omitempty"`
	// SID is the provider's session id (the id_token's sid), which sid-only back-channel
	// logout tokens name.
	SID string `json:"sid,omitempty"`
}

// StoreProvider is the provider name under which a connector's tokens are stored in the
// upstream.ConnectionStore ("idp:<connector id>").
func StoreProvider(connectorID string) string { return "idp:" + connectorID }

func (c *Connector) aad(subject string) []byte {
	return []byte("mcpgate-federation\x00" + c.cfg.ID + "\x00" + subject)
}

// save seals the tokens and identity for the user (replacing what was stored). What the
// token response leaves out (refresh token, id_token, session id) is kept from prev. The
// caller has verified tr.IDToken.
func (c *Connector) save(ctx context.Context, ident authserver.Identity, tr tokenResponse, prev record) error {
	rec := record{Identity: ident, AccessToken: tr.AccessToken, RefreshToken: tr.RefreshToken, Scope: tr.Scope,
		IDToken: tr.IDToken, SID: jwtClaim(tr.IDToken, "sid")}
	if rec.RefreshToken == "" {
		rec.RefreshToken = prev.RefreshToken
	}
	if rec.IDToken == "" {
		rec.IDToken = prev.IDToken
	}
	if rec.SID == "" {
		rec.SID = prev.SID
	}
	if rec.SID != "" && rec.SID != prev.SID {
		if prev.SID == "" { // a new sign-in: drop the index entry of the session it replaces
			if old, _, err := c.load(ctx, ident.UserID); err == nil && old.SID != "" && old.SID != rec.SID {
				c.opts.Store.DeleteConnection(ctx, sessionIndexSubject(c.cfg.ID, old.SID), SessionIndexProvider(c.cfg.ID))
			}
		}
		if err := c.indexSession(ctx, rec.SID, ident.UserID); err != nil {
			return fmt.Errorf("recording the provider's session id: %w", err)
		}
	}
	if tr.ExpiresIn > 0 {
		rec.Expiry = c.now().Add(time.Duration(tr.ExpiresIn) * time.Second)
	}
	return c.saveRecord(ctx, rec)
}

// saveRecord seals rec, confirmed by the provider now, for its user (replacing what was
// stored).
func (c *Connector) saveRecord(ctx context.Context, rec record) error {
	ident := rec.Identity
	rec.ValidatedAt = c.now()
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
			Version: ver + 1, Status: upstream.StatusActive, Sealed: sealed, Scope: rec.Scope, ExpiresAt: rec.Expiry, CreatedAt: created, UpdatedAt: now})
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
	mu := c.userLock(subject)
	mu.Lock()
	defer mu.Unlock()
	if rec, _, err = c.load(ctx, subject); err != nil { // another call may have refreshed
		return "", err
	}
	if c.fresh(rec) {
		return rec.AccessToken, nil
	}
	if rec.RefreshToken == "" {
		return "", ErrSignInAgain
	}
	rec, err = c.upstreamRefresh(ctx, subject, rec)
	if err != nil {
		if code, ok := sessionEnded(err); ok {
			// Forget the user: Lookup then fails, so mcpgate's session and refresh tokens
			// stop working and the next sign-in goes to the provider again.
			c.log.WarnContext(ctx, "upstream refresh refused; the user must sign in again", "sub", subject, "code", code)
			if ferr := c.Forget(ctx, subject); ferr != nil {
				c.log.ErrorContext(ctx, "forgetting the refused upstream tokens failed", "sub", subject, "err", ferr)
			}
			return "", fmt.Errorf("%w (%s)", ErrSignInAgain, code)
		}
		return "", fmt.Errorf("refreshing the upstream token: %w", err)
	}
	return rec.AccessToken, nil
}

// upstreamRefresh redeems rec's refresh token at the provider (the caller holds c.userLock(subject)),
// re-reads the user from the new id_token, merged with userinfo, when the provider sends one
// (claims, groups), and stores the result as confirmed now.
func (c *Connector) upstreamRefresh(ctx context.Context, subject string, rec record) (record, error) {
	ep, err := c.endpoints(ctx)
	if err != nil {
		return rec, err
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
		return rec, err
	}
	ident := rec.Identity
	if tr.IDToken != "" {
		p, err := c.verifyIDToken(ctx, tr.IDToken)
		if err != nil {
			return rec, fmt.Errorf("the refreshed id_token was refused: %w", err)
		}
		refresh := tr.RefreshToken
		if refresh == "" {
			refresh = rec.RefreshToken
		}
		claims, err := c.withUserinfo(ctx, ep, tr.AccessToken, p.Claims)
		if err != nil {
			return rec, err
		}
		if ident, err = c.identity(ctx, ep.TokenURL, claims, refresh); err != nil {
			return rec, err
		}
		if ident.UserID != subject {
			return rec, &authserver.UpstreamError{Code: "invalid_grant", LogCode: "subject_changed",
				Description: "the refreshed id_token names another user (" + ident.UserID + ")"}
		}
	}
	if err := c.save(ctx, ident, tr, rec); err != nil {
		return rec, err
	}
	c.log.InfoContext(ctx, "upstream token refreshed", "sub", subject, "rotated", tr.RefreshToken != "" && tr.RefreshToken != rec.RefreshToken,
		"id_token", tr.IDToken != "", "groups", len(ident.Groups))
	rec, _, err = c.load(ctx, subject)
	return rec, err
}

// sessionEnded reports whether err is the provider saying the user's grant or session is
// gone (rather than a failure to reach it), with the code to log.
func sessionEnded(err error) (string, bool) {
	var ue *authserver.UpstreamError
	if errors.As(err, &ue) {
		switch ue.Code {
		case "invalid_grant", "interaction_required", "login_required", "consent_required", "access_denied", "invalid_token":
			return ue.LogCode, true
		}
	}
	return "", false
}

func (c *Connector) fresh(rec record) bool {
	return rec.AccessToken != "" && (rec.Expiry.IsZero() || c.now().Add(c.opts.RefreshSkew).Before(rec.Expiry))
}

// Forget deletes the stored tokens of the user (sign-out, user removal), and the index
// entry of their provider session.
func (c *Connector) Forget(ctx context.Context, subject string) error {
	if rec, _, err := c.load(ctx, subject); err == nil && rec.SID != "" {
		if err := c.opts.Store.DeleteConnection(ctx, sessionIndexSubject(c.cfg.ID, rec.SID), SessionIndexProvider(c.cfg.ID)); err != nil && !errors.Is(err, store.ErrNotFound) {
			c.log.WarnContext(ctx, "deleting the provider session's index entry failed", "sub", subject, "err", err)
		}
	}
	return c.opts.Store.DeleteConnection(ctx, subject, StoreProvider(c.cfg.ID))
}
