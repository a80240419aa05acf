package client

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
)

// Transport is an http.RoundTripper that signs requests with the Client's token and handles
// authorization challenges: on 401 it refreshes (once) and then signs in again; on 403
// insufficient_scope it re-authorizes with the challenged scopes (step-up). At most
// Options.MaxAuthorizations sign-ins are attempted per request.
type Transport struct {
	Client *Client
	// Base sends the requests (default http.DefaultTransport).
	Base http.RoundTripper
	// NoLogin disables interactive sign-in: challenges are answered by refresh only.
	NoLogin bool
}

func (t *Transport) base() http.RoundTripper {
	if t.Base != nil {
		return t.Base
	}
	return http.DefaultTransport
}

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	var body []byte
	if req.Body != nil && req.Body != http.NoBody {
		b, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		body = b
	}
	tok, err := t.Client.Token(ctx)
	if err != nil {
		return nil, err
	}
	refreshed := false
	attempts := 0
	for {
		r := req.Clone(ctx)
		if body != nil {
			r.Body = io.NopCloser(bytes.NewReader(body))
			r.ContentLength = int64(len(body))
			r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
		}
		sent := ""
		if tok != nil {
			sent = tok.AccessToken
			r.Header.Set("Authorization", "Bearer "+sent)
		}
		resp, err := t.base().RoundTrip(r)
		if err != nil {
			return nil, err
		}
		ch := ParseChallenge(resp.Header)
		stepUp := resp.StatusCode == http.StatusForbidden && ch.Error == "insufficient_scope"
		if resp.StatusCode != http.StatusUnauthorized && !stepUp {
			return resp, nil
		}
		log := t.Client.log().With("status", resp.StatusCode, "method", req.Method, "url", req.URL.Redacted(), "token", tokenID(sent))
		if resp.StatusCode == http.StatusUnauthorized && sent != "" && !refreshed {
			refreshed = true
			if nt, err := t.Client.Refresh(ctx, sent); err == nil {
				log.Info("token rejected; refreshed it")
				drain(resp)
				tok = nt
				continue
			} else {
				log.Debug("refresh not possible", "err", err)
			}
		}
		if t.NoLogin || attempts >= t.Client.opts.MaxAuthorizations {
			if attempts >= t.Client.opts.MaxAuthorizations {
				log.Warn("giving up after the maximum number of authorization attempts", "attempts", attempts, "scope", ch.Scope)
			}
			return resp, nil
		}
		attempts++
		drain(resp)
		if stepUp {
			log.Info("server asks for more scope; signing in again", "scope", ch.Scope, "attempt", attempts)
		} else {
			log.Info("server asks for sign-in", "attempt", attempts)
		}
		nt, err := t.Client.Login(ctx, ch, sent, false)
		if err != nil {
			return nil, fmt.Errorf("signing in to %s: %w", t.Client.opts.ServerURL, err)
		}
		tok = nt
	}
}

func drain(resp *http.Response) {
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
}

// HTTPClient returns an http.Client whose requests carry this client's token.
func (c *Client) HTTPClient() *http.Client {
	var base http.RoundTripper
	if c.opts.HTTPClient != nil {
		base = c.opts.HTTPClient.Transport
	}
	return &http.Client{Transport: &Transport{Client: c, Base: base}}
}
