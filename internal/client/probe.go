package client

import (
	"context"
	"net/http"
	"strings"
)

// Probe sends an unauthenticated MCP initialize to serverURL and returns the Bearer challenge
// of its 401/403 (only Status is set when the server does not challenge). hc nil means http.DefaultClient.
func Probe(ctx context.Context, hc *http.Client, serverURL string) (Challenge, error) {
	if hc == nil {
		hc = http.DefaultClient
	}
	body := `{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"` + LatestProtocolVersion +
		`","capabilities":{},"clientInfo":{"name":"mcpgate","version":"probe"}}}`
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, serverURL, strings.NewReader(body))
	if err != nil {
		return Challenge{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	resp, err := hc.Do(req)
	if err != nil {
		return Challenge{}, err
	}
	drain(resp)
	if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
		ch := ParseChallenge(resp.Header)
		ch.Status = resp.StatusCode
		return ch, nil
	}
	return Challenge{Status: resp.StatusCode}, nil
}
