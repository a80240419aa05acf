package client

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"golang.org/x/oauth2"

	"github.com/mcpgate/mcpgate/internal/loopback"
)

// plan is everything discovery decided for one authorization.
type plan struct {
	server   *ServerMetadata
	prm      *ResourceMetadata
	resource string
	scope    string
}

// discover runs PRM and AS discovery and decides the resource and scope.
func (c *Client) discover(ctx context.Context, ch Challenge, prev *Entry) (*plan, error) {
	var prm *ResourceMetadata
	var err error
	if !c.issuerOnly {
		if prm, err = c.DiscoverResource(ctx, ch); err != nil {
			return nil, err
		}
	}
	p := &plan{prm: prm}
	switch {
	case c.issuerOnly: // an enterprise IdP (enterprise.go): its own metadata, no PRM
		if p.server, err = c.DiscoverServer(ctx, c.opts.ServerURL); err != nil {
			return nil, err
		}
	case prm == nil:
		c.log().Info("no protected resource metadata; falling back to 2025-03-26 discovery", "server", c.opts.ServerURL)
		if p.server, err = c.legacyServer(ctx); err != nil {
			return nil, err
		}
	case len(prm.AuthorizationServers) == 0:
		return nil, fmt.Errorf("the protected resource metadata of %s lists no authorization_servers; ask the server operator to add one", c.opts.ServerURL)
	default:
		if p.server, err = c.DiscoverServer(ctx, prm.AuthorizationServers[0]); err != nil {
			return nil, err
		}
	}
	if p.server.Source != "" && !slices.Contains(p.server.CodeChallengeMethodsSupported, "S256") {
		if !c.opts.AllowMissingPKCEMetadata {
			return nil, fmt.Errorf("refusing to sign in: the authorization server metadata at %s does not list S256 in "+
				"code_challenge_methods_supported, so PKCE cannot be relied on (MCP 2025-11-25); if you know the server "+
				"supports PKCE S256 (Microsoft Entra ID does), pass --allow-missing-pkce-metadata", p.server.Source)
		}
		c.log().Warn("authorization server does not advertise PKCE S256; using it anyway (--allow-missing-pkce-metadata)", "issuer", p.server.Issuer)
	}

	switch {
	case c.opts.NoResource:
	case c.opts.Resource != "":
		p.resource = c.opts.Resource
	case prm != nil:
		p.resource = prm.Resource
	default:
		p.resource, _ = CanonicalResource(c.opts.ServerURL)
	}

	var scopes []string
	switch {
	case len(c.opts.Scopes) > 0:
		scopes = slices.Clone(c.opts.Scopes)
	case ch.Scope != "":
		scopes = strings.Fields(ch.Scope)
		// Step-up: keep what was asked for before so the new token does not lose it.
		if prev != nil && ch.Error == "insufficient_scope" {
			scopes = union(strings.Fields(prev.Scopes), scopes)
		}
	case prm != nil && len(prm.ScopesSupported) > 0:
		scopes = slices.Clone(prm.ScopesSupported)
	}
	if slices.Contains(p.server.ScopesSupported, "offline_access") && !slices.Contains(scopes, "offline_access") {
		scopes = append(scopes, "offline_access")
	}
	p.scope = strings.Join(scopes, " ")
	return p, nil
}

func union(a, b []string) []string {
	out := slices.Clone(a)
	for _, s := range b {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// authorize runs a full sign-in and returns the new entry.
func (c *Client) authorize(ctx context.Context, ch Challenge, prev *Entry) (*Entry, error) {
	p, err := c.discover(ctx, ch, prev)
	if err != nil {
		return nil, err
	}
	e := &Entry{
		ServerURL:       c.opts.ServerURL,
		ResourceSetting: c.resourceSetting(),
		Resource:        p.resource,
		Server:          *p.server,
		Scopes:          p.scope,
	}
	var reuse *Registration
	if prev != nil && prev.Server.Issuer == p.server.Issuer && prev.Registration.Kind == "dynamic" {
		reuse = &prev.Registration
	}
	if c.opts.Device {
		if e.Registration, err = c.register(ctx, p.server, "", reuse); err != nil {
			return nil, err
		}
		t, err := c.deviceFlow(ctx, e, p)
		if err != nil {
			return nil, err
		}
		e.Token = *t
		return e, nil
	}

	// Loopback redirect (RFC 8252 §7.3). Reuse the registered port when we can, so a DCR
	// registration stays valid across runs.
	port := c.opts.RedirectPort
	if port == 0 && reuse != nil {
		if u, err := url.Parse(reuse.RedirectURI); err == nil {
			fmt.Sscan(u.Port(), &port)
		}
	}
	cb, err := listenCallback(port)
	if err != nil && port != 0 && c.opts.RedirectPort == 0 {
		cb, err = listenCallback(0)
	}
	if err != nil {
		return nil, err
	}
	defer cb.Close()
	if reuse != nil && reuse.RedirectURI != cb.RedirectURI() {
		reuse = nil
	}
	if e.Registration, err = c.register(ctx, p.server, cb.RedirectURI(), reuse); err != nil {
		return nil, err
	}

	verifier := oauth2.GenerateVerifier()
	state := randomString(24)
	cb.Expect(state, p.server.Issuer, p.server.AuthorizationResponseIssParameterSupported)
	q := url.Values{
		"response_type":         {"code"},
		"client_id":             {e.Registration.ClientID},
		"redirect_uri":          {cb.RedirectURI()},
		"state":                 {state},
		"code_challenge":        {oauth2.S256ChallengeFromVerifier(verifier)},
		"code_challenge_method": {"S256"},
	}
	if p.scope != "" {
		q.Set("scope", p.scope)
	}
	if p.resource != "" {
		q.Set("resource", p.resource)
	}
	authURL, err := appendQuery(p.server.AuthorizationEndpoint, q)
	if err != nil {
		return nil, err
	}
	c.log().Info("authorization request", "issuer", p.server.Issuer, "client_id", e.Registration.ClientID,
		"redirect_uri", cb.RedirectURI(), "scope", p.scope, "resource", p.resource)
	open := c.opts.OpenURL
	if open == nil {
		open = c.showURL
	}
	if err := open(ctx, authURL); err != nil {
		return nil, err
	}
	code, err := cb.Wait(ctx)
	if err != nil {
		return nil, err
	}
	form := url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {code},
		"redirect_uri":  {cb.RedirectURI()},
		"code_verifier": {verifier},
	}
	if p.resource != "" {
		form.Set("resource", p.resource)
	}
	t, err := c.tokenRequest(ctx, p.server.TokenEndpoint, e.Registration, form)
	if err != nil {
		return nil, err
	}
	e.Token = *t
	c.log().Info("signed in", "server", c.opts.ServerURL, "token", tokenID(t.AccessToken), "scope", t.Scope, "expires", t.Expiry)
	return e, nil
}

// refresh runs the refresh-token grant with the entry's resource (which x/oauth2's
// TokenSource would drop).
func (c *Client) refresh(ctx context.Context, e *Entry) (*Token, error) {
	form := url.Values{
		"grant_type":    {"refresh_token"},
		"refresh_token": {e.Token.RefreshToken},
	}
	if e.Resource != "" {
		form.Set("resource", e.Resource)
	}
	t, err := c.tokenRequest(ctx, e.Server.TokenEndpoint, e.Registration, form)
	if err != nil {
		return nil, err
	}
	if t.RefreshToken == "" {
		t.RefreshToken = e.Token.RefreshToken
	}
	if t.Scope == "" {
		t.Scope = e.Token.Scope
	}
	return t, nil
}

func appendQuery(endpoint string, q url.Values) (string, error) {
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") {
		return "", fmt.Errorf("authorization endpoint %q is not an http(s) URL", endpoint)
	}
	if u.RawQuery != "" {
		u.RawQuery += "&" + q.Encode()
	} else {
		u.RawQuery = q.Encode()
	}
	return u.String(), nil
}

func randomString(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// isLoopback reports whether host is a loopback name or address.
func isLoopback(host string) bool { return loopback.Host(host) }

var errNoRegistration = errors.New("no way to register with the authorization server")
