package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"time"
)

type deviceAuthResponse struct {
	DeviceCode              string `json:"device_code"`
	UserCode                string `json:"user_code"`
	VerificationURI         string `json:"verification_uri"`
	VerificationURIComplete string `json:"verification_uri_complete"`
	ExpiresIn               int    `json:"expires_in"`
	Interval                int    `json:"interval"`
	Error                   string `json:"error"`
	ErrorDescription        string `json:"error_description"`
}

// deviceFlow runs the device authorization grant (RFC 8628).
func (c *Client) deviceFlow(ctx context.Context, e *Entry, p *plan) (*Token, error) {
	if p.server.DeviceAuthorizationEndpoint == "" {
		return nil, fmt.Errorf("the authorization server %s has no device_authorization_endpoint; sign in without --device", p.server.Issuer)
	}
	form := url.Values{}
	if p.scope != "" {
		form.Set("scope", p.scope)
	}
	if p.resource != "" {
		form.Set("resource", p.resource)
	}
	b, status, err := c.postForm(ctx, p.server.DeviceAuthorizationEndpoint, e.Registration, form)
	if err != nil {
		return nil, err
	}
	var d deviceAuthResponse
	_ = json.Unmarshal(b, &d)
	if status/100 != 2 || d.DeviceCode == "" {
		return nil, &OAuthError{Endpoint: p.server.DeviceAuthorizationEndpoint, Status: status, Code: d.Error, Description: d.ErrorDescription}
	}
	if d.VerificationURIComplete != "" {
		fmt.Fprintf(c.opts.Prompt, "To sign in to %s, open %s\n(or open %s and enter the code %s)\n", c.opts.ServerURL, d.VerificationURIComplete, d.VerificationURI, d.UserCode)
	} else {
		fmt.Fprintf(c.opts.Prompt, "To sign in to %s, open %s and enter the code %s\n", c.opts.ServerURL, d.VerificationURI, d.UserCode)
	}
	interval := time.Duration(max(d.Interval, 1)) * time.Second
	if d.Interval == 0 {
		interval = 5 * time.Second
	}
	expires := time.Now().Add(time.Duration(max(d.ExpiresIn, 60)) * time.Second)
	poll := url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:device_code"}, "device_code": {d.DeviceCode}}
	if p.resource != "" {
		poll.Set("resource", p.resource)
	}
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(interval):
		}
		t, err := c.tokenRequest(ctx, p.server.TokenEndpoint, e.Registration, poll)
		var oe *OAuthError
		switch {
		case err == nil:
			return t, nil
		case errors.As(err, &oe) && oe.Code == "authorization_pending":
		case errors.As(err, &oe) && oe.Code == "slow_down":
			interval += 5 * time.Second
		default:
			return nil, err
		}
		if time.Now().After(expires) {
			return nil, errors.New("the device code expired before the sign-in finished; run the command again")
		}
	}
}
