package federation

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/mcpgate/mcpgate/internal/authserver"
	"github.com/mcpgate/mcpgate/internal/config"
	"github.com/mcpgate/mcpgate/internal/store"
)

// backchannelLogoutEvent is the events member of a logout token (OIDC Back-Channel Logout 1.0 §2.4).
const backchannelLogoutEvent = "http://schemas.openid.net/event/backchannel-logout"

// BackchannelLogout implements authserver.BackchannelLogoutConnector. Logout tokens must
// name the user with sub (sid-only tokens are refused: mcpgate does not index sessions by
// the provider's sid), and the connector's user key must be sub (not entra, no
// claims.subject). The stored provider tokens are deleted; every replica then refuses the
// user's next refresh (Revalidate finds no sign-in) and revokes its sign-in.
func (c *Connector) BackchannelLogout(ctx context.Context, raw string) (string, error) {
	ep, err := c.endpoints(ctx)
	if err != nil {
		return "", err
	}
	if iss := unverifiedIssuer(raw); iss == "" || strings.TrimRight(iss, "/") != strings.TrimRight(ep.Issuer, "/") {
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
	sub := claimString(p.Claims, "sub")
	if sub == "" {
		return "", errors.New("logout token refused: sid-only logout tokens are not supported; the provider must send sub")
	}
	if c.cfg.Type == config.ConnectorEntra || (c.cfg.Claims.Subject != "" && c.cfg.Claims.Subject != "sub") {
		return "", errors.New("logout token refused: this connector's users are not keyed by sub")
	}
	subject := c.cfg.ID + ":" + sub
	if err := c.Forget(ctx, subject); err != nil && !errors.Is(err, store.ErrNotFound) {
		return "", fmt.Errorf("deleting the user's provider tokens: %w", err)
	}
	c.log.InfoContext(ctx, "back-channel logout: the provider ended the user's sign-in", "sub", subject, "jti", claimString(p.Claims, "jti"))
	return subject, nil
}

// unverifiedIssuer reads iss from a JWT without verifying it (to pick the connector).
func unverifiedIssuer(raw string) string {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 || len(parts[1]) > 16<<10 {
		return ""
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return ""
	}
	var c struct {
		Iss string `json:"iss"`
	}
	json.Unmarshal(b, &c)
	return c.Iss
}

var _ authserver.BackchannelLogoutConnector = (*Connector)(nil)
