package federation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"time"

	"github.com/mcpgate/mcpgate/internal/authserver"
	"github.com/mcpgate/mcpgate/internal/config"
	"github.com/mcpgate/mcpgate/internal/jsonlimit"
)

const (
	// maxUserinfoBytes bounds a userinfo answer: a user's claims, groups included, fit in
	// far less; a provider sending more is refused rather than buffered.
	maxUserinfoBytes = 64 << 10
	// userinfoTimeout bounds the userinfo call of a sign-in (the sign-in waits for it).
	userinfoTimeout = 5 * time.Second
)

// errUserinfoUnusable marks a userinfo answer that could not be used (oversized, not a JSON
// object, signed or encrypted): the sign-in goes on with the id_token's claims.
var errUserinfoUnusable = errors.New("userinfo answer unusable")

// usesUserinfo reports whether sign-ins read the provider's userinfo endpoint: every
// OpenID provider but Entra, whose userinfo is a Microsoft Graph endpoint that does not
// accept the token mcpgate holds (issued for mcpgate's own app) and whose id_token already
// carries the profile claims.
func (c *Connector) usesUserinfo(ep *endpoints) bool {
	return c.cfg.Type != config.ConnectorEntra && ep.UserinfoURL != ""
}

// fetchUserinfo reads the provider's userinfo endpoint (OpenID Connect Core 1.0 section
// 5.3) with the user's access token. The answer is bounded (maxUserinfoBytes, userinfoTimeout,
// jsonlimit); a refused token comes back as an *authserver.UpstreamError invalid_token.
// Signed or encrypted answers (application/jwt) are not read (errUserinfoUnusable).
func (c *Connector) fetchUserinfo(ctx context.Context, userinfoURL, accessToken string) (map[string]any, error) {
	ctx, cancel := context.WithTimeout(ctx, userinfoTimeout)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, userinfoURL, nil)
	req.Header.Set("Authorization", "Bearer "+accessToken)
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("userinfo %s: %w", userinfoURL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxUserinfoBytes+1))
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return nil, &authserver.UpstreamError{Code: "invalid_token", LogCode: "userinfo_" + fmt.Sprint(resp.StatusCode), Description: "userinfo refused the access token"}
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("userinfo %s: HTTP %d", userinfoURL, resp.StatusCode)
	case err != nil:
		return nil, fmt.Errorf("userinfo %s: %w", userinfoURL, err)
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt == "application/jwt" {
		return nil, fmt.Errorf("userinfo %s: %w: the provider signs or encrypts userinfo (application/jwt); configure it to answer JSON", userinfoURL, errUserinfoUnusable)
	}
	claims, err := parseUserinfo(body)
	if err != nil {
		return nil, fmt.Errorf("userinfo %s: %w", userinfoURL, err)
	}
	return claims, nil
}

// parseUserinfo decodes a userinfo answer: one JSON object of at most maxUserinfoBytes,
// within jsonlimit's default depth and size, with a non-empty string sub (section 5.3.2:
// "The sub Claim MUST always be returned").
func parseUserinfo(body []byte) (map[string]any, error) {
	if len(body) > maxUserinfoBytes {
		return nil, fmt.Errorf("%w: larger than %d bytes", errUserinfoUnusable, maxUserinfoBytes)
	}
	if err := jsonlimit.Check(body, jsonlimit.Limits{}); err != nil {
		return nil, fmt.Errorf("%w: %w", errUserinfoUnusable, err)
	}
	var claims map[string]any
	if err := json.Unmarshal(body, &claims); err != nil || claims == nil {
		return nil, fmt.Errorf("%w: not a JSON object", errUserinfoUnusable)
	}
	if s, _ := claims["sub"].(string); s == "" {
		return nil, fmt.Errorf("%w: no sub claim", errUserinfoUnusable)
	}
	return claims, nil
}

// errUserinfoSubject: userinfo describes another user than the id_token (OpenID Connect
// Core 1.0 section 5.3.4: "the UserInfo Response values MUST NOT be used").
var errUserinfoSubject = errors.New("the provider's userinfo names another user (sub) than its id_token")

// mergeUserinfo merges userinfo claims into the verified id_token claims: the id_token's
// claims win (they are signed and bound to this sign-in by the nonce), userinfo fills the
// claims the id_token lacks or leaves null. The subjects must be equal (errUserinfoSubject).
// idClaims is not changed.
func mergeUserinfo(idClaims, userinfo map[string]any) (map[string]any, error) {
	idSub, _ := idClaims["sub"].(string)
	uiSub, _ := userinfo["sub"].(string)
	if idSub == "" || uiSub != idSub {
		return nil, errUserinfoSubject
	}
	out := make(map[string]any, len(idClaims)+len(userinfo))
	for k, v := range userinfo {
		out[k] = v
	}
	for k, v := range idClaims {
		if v != nil {
			out[k] = v
		}
	}
	return out, nil
}

// withUserinfo returns the claims of a sign-in: the id_token's, merged with the provider's
// userinfo when it has one (usesUserinfo). A userinfo naming another user refuses the
// sign-in; a userinfo that cannot be read is logged and the id_token's claims are used
// alone (a mapped claim then missing is warned about by warnMissingClaims).
func (c *Connector) withUserinfo(ctx context.Context, ep *endpoints, accessToken string, idClaims map[string]any) (map[string]any, error) {
	if !c.usesUserinfo(ep) || accessToken == "" {
		return idClaims, nil
	}
	ui, err := c.fetchUserinfo(ctx, ep.UserinfoURL, accessToken)
	if err != nil {
		c.log.WarnContext(ctx, "the provider's userinfo could not be read; the user's claims come from the id_token alone", "err", err)
		return idClaims, nil
	}
	merged, err := mergeUserinfo(idClaims, ui)
	if err != nil {
		c.log.ErrorContext(ctx, "sign-in refused: userinfo and id_token name different users", "id_token_sub", claimString(idClaims, "sub"))
		return nil, &authserver.UpstreamError{Code: "invalid_response", LogCode: "userinfo_sub_mismatch",
			Description: errUserinfoSubject.Error(),
			Fix:         "The provider answered userinfo for another user than the one who signed in. Sign in again; if it persists, the provider is misconfigured or a response was tampered with."}
	}
	return merged, nil
}
