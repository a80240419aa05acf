package federation

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/mcpgate/mcpgate/internal/authn"
	"github.com/mcpgate/mcpgate/internal/config"
	"github.com/mcpgate/mcpgate/internal/jsonlimit"
)

// DefaultGraphURL is Microsoft Graph.
const DefaultGraphURL = "https://graph.microsoft.com"

// graphScope is the delegated permission of the overage lookup: /me/getMemberObjects needs
// only User.Read, which every app registration has by default and users may consent to.
// It names Graph's resource (not graphURL), so the emulator takes it too.
const graphScope = "https://graph.microsoft.com/User.Read"

// overage reports whether Entra replaced the groups claim with the overage indicator.
func overage(claims map[string]any) bool {
	names, ok := claims["_claim_names"].(map[string]any)
	return ok && names["groups"] != nil
}

// graphLookup reports whether the connector resolves group overage through Graph.
func (c *Connector) graphLookup() bool {
	return c.cfg.Type == config.ConnectorEntra && c.cfg.Entra != nil && c.cfg.Entra.GraphGroupLookup
}

// graphGroups resolves group overage: the user's refresh token is redeemed for a Graph
// token (User.Read) at the connector's token endpoint, then POST /v1.0/me/getMemberObjects
// returns the ids of the groups (and directory roles) the user is a transitive member of.
// The URL is the configured graphURL, never the one in the token's _claim_sources (which
// the provider controls and mcpgate does not need to trust), and the request goes through
// the connector's SSRF-guarded client.
func (c *Connector) graphGroups(ctx context.Context, tokenURL, refreshToken string) ([]string, error) {
	if refreshToken == "" {
		return nil, fmt.Errorf("the token response has no refresh token to redeem for a Graph token (the offline_access scope was not granted)")
	}
	gt, err := c.tokenRequest(ctx, tokenURL, map[string][]string{"grant_type": {"refresh_token"}, "refresh_token": {refreshToken},
		"scope": {graphScope}})
	if err != nil {
		return nil, fmt.Errorf("getting a Microsoft Graph token (%s): %w", graphScope, err)
	}
	base := strings.TrimRight(c.cfg.Entra.GraphURL, "/")
	if base == "" {
		base = DefaultGraphURL
	}
	u := base + "/v1.0/me/getMemberObjects"
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader([]byte(`{"securityEnabledOnly":true}`)))
	req.Header.Set("Authorization", "Bearer "+gt.AccessToken)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("POST %s: %w", u, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20)) // Graph returns at most 11,000 ids
	if err := jsonlimit.Check(body, jsonlimit.Limits{}); err != nil {
		return nil, fmt.Errorf("POST %s: %w", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		if json.Unmarshal(body, &e) == nil && e.Error.Code != "" {
			return nil, fmt.Errorf("POST %s: HTTP %d %s: %s", u, resp.StatusCode, e.Error.Code, firstLine(e.Error.Message))
		}
		return nil, fmt.Errorf("POST %s: HTTP %d", u, resp.StatusCode)
	}
	var out struct {
		Value []string `json:"value"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		return nil, fmt.Errorf("POST %s: the answer is not a getMemberObjects result: %w", u, err)
	}
	c.log.InfoContext(ctx, "Entra group overage resolved through Microsoft Graph", "groups", len(out.Value), "graph_token", authn.HashToken(gt.AccessToken)[:16])
	return out.Value, nil
}
