package client

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/mcpgate/mcpgate/internal/jsonlimit"
)

// OAuthError is an OAuth error response from a token or device endpoint (RFC 6749 §5.2).
type OAuthError struct {
	Endpoint    string
	Status      int
	Code        string
	Description string
}

func (e *OAuthError) Error() string {
	msg := fmt.Sprintf("%s answered HTTP %d", e.Endpoint, e.Status)
	if e.Code != "" {
		msg += ": " + e.Code
	}
	if e.Description != "" {
		msg += ": " + e.Description
	}
	return msg
}

type tokenResponse struct {
	AccessToken      string          `json:"access_token"`
	TokenType        string          `json:"token_type"`
	RefreshToken     string          `json:"refresh_token"`
	ExpiresIn        json.Number     `json:"expires_in"`
	Scope            string          `json:"scope"`
	IDToken          string          `json:"id_token"`
	Error            string          `json:"error"`
	ErrorDescription string          `json:"error_description"`
	Interval         json.RawMessage `json:"-"`
}

// tokenRequest POSTs form to a token endpoint with the registration's client authentication.
func (c *Client) tokenRequest(ctx context.Context, endpoint string, reg Registration, form url.Values) (*Token, error) {
	b, status, err := c.postForm(ctx, endpoint, reg, form)
	if err != nil {
		return nil, err
	}
	var tr tokenResponse
	if err := json.Unmarshal(b, &tr); err != nil && status/100 == 2 {
		return nil, fmt.Errorf("token endpoint %s returned invalid JSON: %w", endpoint, err)
	}
	if status/100 != 2 || tr.Error != "" {
		return nil, &OAuthError{Endpoint: endpoint, Status: status, Code: tr.Error, Description: tr.ErrorDescription}
	}
	if tr.AccessToken == "" {
		return nil, fmt.Errorf("token endpoint %s returned no access_token", endpoint)
	}
	// N_A is RFC 8693 §2.2.1 for an issued token that is not an access token (an ID-JAG).
	if tr.TokenType != "" && !strings.EqualFold(tr.TokenType, "bearer") && tr.TokenType != "N_A" {
		return nil, fmt.Errorf("token endpoint %s returned token_type %q; only Bearer is supported", endpoint, tr.TokenType)
	}
	t := &Token{AccessToken: tr.AccessToken, TokenType: "Bearer", RefreshToken: tr.RefreshToken, Scope: tr.Scope, IDToken: tr.IDToken}
	if n, err := tr.ExpiresIn.Int64(); err == nil && n > 0 {
		t.Expiry = time.Now().Add(time.Duration(n) * time.Second)
	}
	return t, nil
}

// postForm POSTs a form with client authentication and returns the body and status.
func (c *Client) postForm(ctx context.Context, endpoint string, reg Registration, form url.Values) ([]byte, int, error) {
	form = cloneValues(form)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, nil)
	if err != nil {
		return nil, 0, err
	}
	switch reg.AuthMethod {
	case "client_secret_basic":
		// RFC 6749 §2.3.1: form-urlencode id and secret before Basic encoding.
		req.SetBasicAuth(url.QueryEscape(reg.ClientID), url.QueryEscape(reg.ClientSecret))
	case "client_secret_post":
		form.Set("client_id", reg.ClientID)
		form.Set("client_secret", reg.ClientSecret)
	default:
		form.Set("client_id", reg.ClientID)
	}
	body := form.Encode()
	req.Body = io.NopCloser(strings.NewReader(body))
	req.ContentLength = int64(len(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := c.http().Do(req)
	if err != nil {
		return nil, 0, fmt.Errorf("calling %s: %w", endpoint, err)
	}
	defer resp.Body.Close()
	b, err := jsonlimit.Read(resp.Body, maxResponseBytes, jsonlimit.Limits{})
	if err != nil {
		return nil, resp.StatusCode, fmt.Errorf("reading the response of %s: %w", endpoint, err)
	}
	return b, resp.StatusCode, nil
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}
