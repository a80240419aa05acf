package federation

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/mcpgate/mcpgate/internal/authserver"
	"github.com/mcpgate/mcpgate/internal/config"
	"github.com/mcpgate/mcpgate/internal/store"
	"github.com/mcpgate/mcpgate/internal/upstream"
)

// backchannelLogoutEvent is the events member of a logout token (OIDC Back-Channel Logout 1.0 §2.4).
const backchannelLogoutEvent = "http://schemas.openid.net/event/backchannel-logout"

// BackchannelLogout implements authserver.BackchannelLogoutConnector. A logout token names
// the provider session with sid, the user with sub, or both (OIDC Back-Channel Logout 1.0
// §2.4). With sid, the session mcpgate recorded at sign-in ends (whatever the connector's
// user key); a token whose sid is not the user's current session ends nothing (a later
// sign-in replaced it). With sub only, the connector's user key must be sub (not entra, no
// claims.subject). The stored provider tokens are deleted; every replica then refuses the
// user's next refresh (Revalidate finds no sign-in) and revokes its sign-in.
func (c *Connector) BackchannelLogout(ctx context.Context, raw string) (string, error) {
	ep, err := c.endpoints(ctx)
	if err != nil {
		return "", err
	}
	if iss := jwtClaim(raw, "iss"); iss == "" || strings.TrimRight(iss, "/") != strings.TrimRight(ep.Issuer, "/") {
		return "", authserver.ErrUnknownUser
	}
	v, err := c.idTokenVerifier(ctx)
	if err != nil {
		return "", err
	}
	// The plain verifier: anyone can post here, so an unknown kid does not spend the
	// forced-reload budget of keys.go.
	p, err := v.Verify(ctx, raw)
	if err != nil {
		return "", fmt.Errorf("logout token refused: %w", err)
	}
	events, _ := p.Claims["events"].(map[string]any)
	if _, ok := events[backchannelLogoutEvent]; !ok {
		return "", errors.New("logout token refused: no " + backchannelLogoutEvent + " event")
	}
	if _, ok := p.Claims["nonce"]; ok {
		return "", errors.New("logout token refused: it carries a nonce (an id_token, not a logout token)")
	}
	sub, sid := claimString(p.Claims, "sub"), claimString(p.Claims, "sid")
	var subject string
	switch {
	case sid != "":
		subject, err = c.sessionUser(ctx, sid)
		if errors.Is(err, store.ErrNotFound) {
			// Not a session mcpgate holds (signed out, replaced, or never seen): nothing to end.
			c.log.InfoContext(ctx, "back-channel logout for a provider session mcpgate does not hold", "jti", claimString(p.Claims, "jti"))
			return "", nil
		}
		if err != nil {
			return "", err
		}
		if sub != "" && !c.keyedBySub() {
			sub = "" // the user key is not sub: the session names the user
		}
		if sub != "" && subject != c.cfg.ID+":"+sub {
			return "", errors.New("logout token refused: its sub is not the user of the session its sid names")
		}
	case sub == "":
		return "", errors.New("logout token refused: it names neither sub nor sid")
	case !c.keyedBySub():
		return "", errors.New("logout token refused: this connector's users are not keyed by sub, and the token has no sid")
	default:
		subject = c.cfg.ID + ":" + sub
	}
	if err := c.Forget(ctx, subject); err != nil && !errors.Is(err, store.ErrNotFound) {
		return "", fmt.Errorf("deleting the user's provider tokens: %w", err)
	}
	c.log.InfoContext(ctx, "back-channel logout: the provider ended the user's sign-in", "sub", subject, "by_sid", sid != "", "jti", claimString(p.Claims, "jti"))
	return subject, nil
}

// keyedBySub reports whether the connector's users are <id>:<the provider's sub>.
func (c *Connector) keyedBySub() bool {
	return c.cfg.Type != config.ConnectorEntra && (c.cfg.Claims.Subject == "" || c.cfg.Claims.Subject == "sub")
}

// SessionIndexProvider is the provider name of the store entries that map a provider
// session id (sid) to the mcpgate user signed in with it ("idp-session:<connector id>";
// their subject is sessionIndexSubject, not a user).
func SessionIndexProvider(connectorID string) string { return "idp-session:" + connectorID }

// sessionIndexSubject keys the index entry of a provider session: the sid is the provider's
// string, so it is hashed to a bounded key.
func sessionIndexSubject(connectorID, sid string) string {
	h := sha256.Sum256([]byte(sid))
	return "idp-session:" + connectorID + ":" + hex.EncodeToString(h[:16])
}

func (c *Connector) sessionAAD(sid string) []byte {
	return []byte("mcpgate-federation-session\x00" + c.cfg.ID + "\x00" + sid)
}

// indexSession records that the provider session sid signed subject in.
func (c *Connector) indexSession(ctx context.Context, sid, subject string) error {
	sealed, err := c.opts.Keys.Seal([]byte(subject), c.sessionAAD(sid))
	if err != nil {
		return err
	}
	key, prov := sessionIndexSubject(c.cfg.ID, sid), SessionIndexProvider(c.cfg.ID)
	for range 5 {
		var ver int64
		if old, err := c.opts.Store.GetConnection(ctx, key, prov); err == nil {
			ver = old.Version
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		now := c.now()
		err := c.opts.Store.CompareAndSwapConnection(ctx, ver, store.Connection{Subject: key, Provider: prov, Version: ver + 1,
			Status: upstream.StatusActive, Sealed: sealed, CreatedAt: now, UpdatedAt: now})
		if !errors.Is(err, store.ErrConflict) {
			return err
		}
	}
	return store.ErrConflict
}

// sessionUser returns the user the provider session sid signed in, if that is still the
// user's current session; store.ErrNotFound otherwise.
func (c *Connector) sessionUser(ctx context.Context, sid string) (string, error) {
	sc, err := c.opts.Store.GetConnection(ctx, sessionIndexSubject(c.cfg.ID, sid), SessionIndexProvider(c.cfg.ID))
	if err != nil {
		return "", err
	}
	b, err := c.opts.Keys.Open(sc.Sealed, c.sessionAAD(sid))
	if err != nil {
		return "", fmt.Errorf("opening the provider session's index entry: %w", err)
	}
	subject := string(b)
	rec, _, err := c.load(ctx, subject)
	if err != nil {
		return "", err
	}
	if rec.SID != sid {
		c.opts.Store.DeleteConnection(ctx, sessionIndexSubject(c.cfg.ID, sid), SessionIndexProvider(c.cfg.ID))
		return "", store.ErrNotFound
	}
	return subject, nil
}

// jwtClaim reads a string claim from a JWT's payload without verifying it (to pick the
// connector of a logout token; the session id of an id_token the caller verified).
func jwtClaim(raw, name string) string {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 || len(parts[1]) > 16<<10 {
		return ""
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return ""
	}
	var c map[string]any
	if json.Unmarshal(b, &c) != nil {
		return ""
	}
	s, _ := c[name].(string)
	return s
}

var _ authserver.BackchannelLogoutConnector = (*Connector)(nil)

// EndSession implements authserver.EndSessionConnector (OIDC RP-Initiated Logout 1.0): the
// provider tokens kept for the user are deleted, and, unless signOutAtProvider is false or
// the provider publishes no end_session_endpoint, the browser is sent there with the user's
// id_token as hint, mcpgate's client id, postLogout as post_logout_redirect_uri and state.
func (c *Connector) EndSession(ctx context.Context, subject, postLogout, state string) (string, error) {
	if !c.Owns(subject) {
		return "", authserver.ErrUnknownUser
	}
	rec, _, lerr := c.load(ctx, subject)
	if err := c.Forget(ctx, subject); err != nil && !errors.Is(err, store.ErrNotFound) {
		return "", fmt.Errorf("deleting the user's provider tokens: %w", err)
	}
	if c.cfg.SignOutAtProvider != nil && !*c.cfg.SignOutAtProvider {
		return "", nil
	}
	ep, err := c.endpoints(ctx)
	if err != nil {
		return "", err
	}
	if ep.EndSessionURL == "" {
		c.log.InfoContext(ctx, "signed out of mcpgate; the provider publishes no end_session_endpoint, so its session stays", "sub", subject)
		return "", nil
	}
	q := url.Values{"client_id": {c.cfg.ClientID}, "post_logout_redirect_uri": {postLogout}, "state": {state}}
	if lerr == nil && rec.IDToken != "" {
		q.Set("id_token_hint", rec.IDToken)
	}
	sep := "?"
	if strings.Contains(ep.EndSessionURL, "?") {
		sep = "&"
	}
	c.log.InfoContext(ctx, "signed out of mcpgate; ending the session at the provider", "sub", subject, "id_token_hint", rec.IDToken != "")
	return ep.EndSessionURL + sep + q.Encode(), nil
}

var _ authserver.EndSessionConnector = (*Connector)(nil)
